"""The matching engine: rule passes over two canonical tables, on DuckDB.

Passes run in order over what is still open. A record ends in exactly one group or as one
break. Every choice is deterministic: records are keyed by their ids (not their position in a
file), candidates are ranked by amount difference, then reference agreement, then days apart,
then key, so the same inputs and rules give the same output, in any row order.

One-to-one passes pick pairs by repeated mutual-best choice: a pair is taken when each is
the other's best remaining candidate. A pair whose best score is shared by another candidate
is a real ambiguity: it waits while clear pairs are taken, and if it is still tied it is
taken as ``proposed``, never ``confirmed``.

Candidates are found with equality joins only. Amount tolerances use buckets (absolute
width, or logarithmic for a percent), each side's bucket joined to the neighbouring ones, and
the exact tolerance is checked after; a "same account and amount between" range join is
never used, as it compares every pair within an account.
"""

from __future__ import annotations

import math
from collections import defaultdict
from decimal import Decimal
from typing import NamedTuple

import duckdb
import pyarrow as pa

from core.matching.rules import Pass, RuleSet
from core.matching.subsets import Candidate, find_subsets

__all__ = ["MatchResult", "match_tables"]

MICRO = 1_000_000
_SUBSET_TOTAL_BUDGET = 3_000_000
# Business-day index: days since Monday 1900-01-01 with weekends folded onto the next Monday.
_BIDX = "((date_diff('day', DATE '1900-01-01', {d}) // 7) * 5 + least(date_diff('day', DATE '1900-01-01', {d}) % 7, 5))"
_NORM = "regexp_replace(regexp_replace(upper({r}), '[^A-Z0-9]', '', 'g'), '(^|[^0-9])0+([0-9])', '\\1\\2', 'g')"
_DIGITS = ("CASE WHEN len(regexp_extract_all({r}, '[0-9]{{4,}}')) = 0 THEN '' ELSE ltrim(list_reduce("
           "regexp_extract_all({r}, '[0-9]{{4,}}'), lambda a, b: CASE WHEN length(b) > length(a) THEN b ELSE a END), '0') END")


class MatchResult(NamedTuple):
    """Groups, their member records, and the breaks, as Arrow tables; plus the summary."""

    groups: pa.Table
    items: pa.Table
    breaks: pa.Table
    summary: dict


def _prepare(con: duckdb.DuckDBPyConnection, name: str, source: str) -> None:
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {name} AS
        SELECT CAST(row_number() OVER (ORDER BY id) - 1 AS INTEGER) AS k,
               id, account, currency, date,
               CAST(amount AS DECIMAL(18, 6)) AS amount,
               CAST(round(CAST(amount AS DECIMAL(18, 6)) * {MICRO}) AS BIGINT) AS micro,
               coalesce(reference, '') AS reference, coalesce(description, '') AS description,
               coalesce(counterparty, '') AS counterparty, coalesce("type", '') AS "type",
               trade_date, entry_date,
               {_BIDX.format(d='date')} AS bidx,
               {_NORM.format(r="coalesce(reference, '')")} AS ref_norm,
               {_DIGITS.format(r="coalesce(reference, '')")} AS ref_digits,
               CAST(NULL AS INTEGER) AS grp
        FROM {source}
    """)


def _days(p: Pass) -> str:
    return "abs(e.bidx - i.bidx)" if p.business_days else "abs(date_diff('day', i.date, e.date))"


def _conditions(p: Pass) -> list[str]:
    conditions = [f"i.{key} = e.{key}" for key in p.equality_keys]
    if p.reference == "exact":
        conditions += ["i.reference = e.reference", "i.reference <> ''"]
    elif p.reference == "normalised":
        conditions += ["i.ref_norm = e.ref_norm", "i.ref_norm <> ''"]
    elif p.reference == "digits":
        conditions += ["i.ref_digits = e.ref_digits", "i.ref_digits <> ''"]
    return conditions


def _tolerance_filters(p: Pass, one: str = "i.micro", other: str = "e.micro") -> list[str]:
    filters = []
    diff = f"({other} - {one})"
    if p.amount_tolerance > 0:
        filters.append(f"abs{diff} <= {int(p.amount_tolerance * MICRO)}")
    if p.amount_tolerance_pct > 0:
        filters.append(f"abs{diff} * 100 <= {p.amount_tolerance_pct} * abs({one})")
    if not p.has_tolerance:
        filters.append(f"{diff} = 0")
    if p.amount_difference == "external_less":
        filters.append(f"{diff} <= 0")
    elif p.amount_difference == "external_more":
        filters.append(f"{diff} >= 0")
    return filters


def _bucket(p: Pass, side: str) -> str:
    """A bucket expression such that any pair within tolerance lies in neighbouring buckets."""
    if p.amount_tolerance > 0:
        return f"CAST(floor({side}.micro / {int(p.amount_tolerance * MICRO)}) AS BIGINT)"
    width = -math.log(1 - float(p.amount_tolerance_pct) / 100)
    return (f"CASE WHEN {side}.micro = 0 THEN 0 ELSE sign({side}.micro) * "
            f"(1 + CAST(floor(ln(abs({side}.micro)) / {width!r}) AS BIGINT)) END")


def _one_to_one(con, p: Pass, status: str, pass_no: int, next_group: int) -> int:
    """Run a 1:1 pass; returns the number of groups made."""
    join = " AND ".join(_conditions(p))
    days = _days(p)
    where = [f"{days} <= {p.date_window}"] + _tolerance_filters(p)
    score = """abs(e.micro - i.micro) AS adiff,
               CASE WHEN (i.ref_norm <> '' AND i.ref_norm = e.ref_norm) OR (i.ref_digits <> '' AND i.ref_digits = e.ref_digits)
                    THEN 0 ELSE 1 END AS rmis,
               abs(date_diff('day', i.date, e.date)) AS ddiff"""
    if p.has_tolerance:
        source = f"""(SELECT *, unnest([{_bucket(p, 'o')} - 1, {_bucket(p, 'o')}, {_bucket(p, 'o')} + 1]) AS bucket
                      FROM i AS o WHERE o.grp IS NULL) AS i
                     JOIN (SELECT *, {_bucket(p, 'o')} AS bucket FROM e AS o WHERE o.grp IS NULL) AS e
                     ON i.bucket = e.bucket AND {join}"""
    else:
        source = f"""(SELECT * FROM i WHERE grp IS NULL) AS i
                     JOIN (SELECT * FROM e WHERE grp IS NULL) AS e ON i.micro = e.micro AND {join}"""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE cand AS
        SELECT i.k AS ik, e.k AS ek, {score}
        FROM {source}
        WHERE {' AND '.join(where)}
    """)
    con.execute("CREATE OR REPLACE TEMP TABLE taken (ik INTEGER, ek INTEGER, ambiguous BOOLEAN)")
    # Records that were tied with a pair whose tie was broken by key: whatever they pair with
    # later is part of the same ambiguity, so it is proposed too.
    con.execute("CREATE OR REPLACE TEMP TABLE tainted (side VARCHAR, k INTEGER)")
    while True:
        con.execute("""
            CREATE OR REPLACE TEMP TABLE ranked AS
            SELECT ik, ek, adiff, rmis, ddiff,
                   row_number() OVER (PARTITION BY ik ORDER BY adiff, rmis, ddiff, ek) AS rn_i,
                   row_number() OVER (PARTITION BY ek ORDER BY adiff, rmis, ddiff, ik) AS rn_e,
                   count(*) OVER (PARTITION BY ik, adiff, rmis, ddiff) AS same_i,
                   count(*) OVER (PARTITION BY ek, adiff, rmis, ddiff) AS same_e
            FROM cand
        """)
        clear, mutual = con.execute("""
            SELECT count(*) FILTER (WHERE same_i = 1 AND same_e = 1), count(*)
            FROM ranked WHERE rn_i = 1 AND rn_e = 1
        """).fetchone()
        if mutual == 0:
            break
        only_clear = "AND same_i = 1 AND same_e = 1" if clear else ""
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE newly AS
            SELECT r.ik, r.ek, r.adiff, r.rmis, r.ddiff, (r.same_i > 1 OR r.same_e > 1) AS tied,
                   (r.same_i > 1 OR r.same_e > 1
                    OR r.ik IN (SELECT k FROM tainted WHERE side = 'i')
                    OR r.ek IN (SELECT k FROM tainted WHERE side = 'e')) AS ambiguous
            FROM ranked r WHERE r.rn_i = 1 AND r.rn_e = 1 {only_clear}
        """)
        con.execute("""
            INSERT INTO tainted
            SELECT 'i', c.ik FROM cand c JOIN newly n ON c.ek = n.ek AND c.adiff = n.adiff AND c.rmis = n.rmis AND c.ddiff = n.ddiff
            WHERE n.tied AND c.ik <> n.ik
            UNION ALL
            SELECT 'e', c.ek FROM cand c JOIN newly n ON c.ik = n.ik AND c.adiff = n.adiff AND c.rmis = n.rmis AND c.ddiff = n.ddiff
            WHERE n.tied AND c.ek <> n.ek
        """)
        con.execute("INSERT INTO taken SELECT ik, ek, ambiguous FROM newly")
        con.execute("""
            CREATE OR REPLACE TEMP TABLE cand AS
            SELECT c.* FROM cand c
            ANTI JOIN newly t1 ON c.ik = t1.ik
            ANTI JOIN newly t2 ON c.ek = t2.ek
        """)
    made = con.execute("SELECT count(*) FROM taken").fetchone()[0]
    if made:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE numbered AS
            SELECT {next_group} + CAST(row_number() OVER (ORDER BY ik) - 1 AS INTEGER) AS gid, ik, ek, ambiguous FROM taken
        """)
        con.execute(f"""
            INSERT INTO grp_meta SELECT gid, {pass_no},
                   CASE WHEN ambiguous THEN 'proposed' ELSE '{status}' END,
                   CASE WHEN ambiguous THEN 'tied with another candidate on amount, reference and date' ELSE '' END
            FROM numbered
        """)
        con.execute("INSERT INTO members SELECT gid, 'internal', ik FROM numbered UNION ALL SELECT gid, 'external', ek FROM numbered")
        _close(con)
    return made


def _close(con) -> None:
    """Mark records placed in a group as no longer open."""
    con.execute("UPDATE i SET grp = m.gid FROM members m WHERE m.side = 'internal' AND m.k = i.k AND i.grp IS NULL")
    con.execute("UPDATE e SET grp = m.gid FROM members m WHERE m.side = 'external' AND m.k = e.k AND e.grp IS NULL")


def _many(con, p: Pass, status: str, pass_no: int, next_group: int) -> int:
    """1:n or n:1 by bounded subset search. 'one' is the side with the single record."""
    one, many = ("i", "e") if p.cardinality == "1:n" else ("e", "i")
    key_sql = ", ".join(f"CAST(o.{k} AS VARCHAR)" for k in p.equality_keys)
    day = "o.bidx" if p.business_days else "date_diff('day', DATE '1900-01-01', o.date)"
    ref = {"exact": "reference", "normalised": "ref_norm", "digits": "ref_digits"}.get(p.reference)
    ref_sql = f"o.{ref}" if ref else "''"
    rows = {}
    for side in (one, many):
        rows[side] = con.execute(f"""
            SELECT o.k, [{key_sql}]::VARCHAR[], {day}, o.micro, {ref_sql}, o.id
            FROM {side} AS o WHERE o.grp IS NULL AND o.micro <> 0 ORDER BY o.k
        """).fetchall()
    pool = defaultdict(list)
    for k, key, day_value, micro, reference, _ in rows[many]:
        pool[(tuple(key), micro > 0)].append((day_value, micro, k, reference))
    for entries in pool.values():
        entries.sort()
    tolerance = int(p.amount_tolerance * MICRO)
    budget_left = _SUBSET_TOTAL_BUDGET
    found: dict[int, list[tuple[int, ...]]] = {}
    for k, key, day_value, micro, reference, _ in rows[one]:
        if budget_left <= 0:
            break
        entries = pool.get((tuple(key), micro > 0), [])
        near = [(abs(d - day_value), kk, m) for d, m, kk, r in entries
                if abs(d - day_value) <= p.date_window and abs(m) < abs(micro) and (ref is None or (r and r == reference))]
        if len(near) < 2:
            continue
        near.sort()
        near = near[: p.max_candidates]
        pct_tol = int(abs(micro) * p.amount_tolerance_pct / 100) if p.amount_tolerance_pct else None
        allowed = min(x for x in (tolerance if p.amount_tolerance > 0 else None, pct_tol) if x is not None) if p.has_tolerance else 0
        solutions, complete = find_subsets(micro, [Candidate(kk, m) for _, kk, m in near], allowed, p.max_group_size,
                                           budget=min(20_000, budget_left))
        budget_left -= 20_000 if not complete else len(near) * 50
        if solutions and complete:
            found[k] = solutions
    # A unique solution whose records no other target could use is clear; the rest are proposed,
    # taken in key order so the outcome never depends on input order.
    usage = defaultdict(int)
    for solutions in found.values():
        for member in set(x for s in solutions for x in s):
            usage[member] += 1
    used: set[int] = set()
    groups = []
    for k in sorted(found):
        solutions = [s for s in found[k] if not used.intersection(s)]
        if not solutions:
            continue
        chosen = solutions[0]
        clear = len(found[k]) == 1 and all(usage[m] == 1 for m in chosen)
        used.update(chosen)
        groups.append((k, tuple(sorted(chosen)), clear))
    if not groups:
        return 0
    meta, members = [], []
    for offset, (k, chosen, clear) in enumerate(groups):
        gid = next_group + offset
        why = "" if clear else "another combination of records could also make this amount"
        meta.append((gid, pass_no, status if clear else "proposed", why))
        members.append((gid, "internal" if one == "i" else "external", k))
        members.extend((gid, "internal" if many == "i" else "external", m) for m in chosen)
    con.executemany("INSERT INTO grp_meta VALUES (?, ?, ?, ?)", meta)
    con.executemany("INSERT INTO members VALUES (?, ?, ?)", members)
    _close(con)
    return len(groups)


def _many_to_many(con, p: Pass, status: str, pass_no: int, next_group: int) -> int:
    """n:m by a shared key: all open records with the same key on both sides, sums within tolerance."""
    keys = list(dict.fromkeys(list(p.equality_keys) + list(p.group_by)))
    key_list = ", ".join(keys)
    join = " AND ".join(f"gi.{k} = ge.{k}" for k in keys)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE nm AS
        WITH gi AS (SELECT {key_list}, sum(micro) AS micro, count(*) AS n, min(date) AS d0, max(date) AS d1, min(k) AS first
                    FROM i WHERE grp IS NULL GROUP BY ALL),
             ge AS (SELECT {key_list}, sum(micro) AS micro, count(*) AS n, min(date) AS d0, max(date) AS d1
                    FROM e WHERE grp IS NULL GROUP BY ALL)
        SELECT {', '.join(f'gi.{k}' for k in keys)}, gi.first
        FROM gi JOIN ge ON {join}
        WHERE gi.n + ge.n > 2
          AND abs(date_diff('day', least(gi.d0, ge.d0), greatest(gi.d1, ge.d1))) <= {p.date_window}
          AND {' AND '.join(_tolerance_filters(p, 'gi.micro', 'ge.micro'))}
    """)
    count = con.execute("SELECT count(*) FROM nm").fetchone()[0]
    if not count:
        return 0
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE nm_ids AS
        SELECT {next_group} + CAST(row_number() OVER (ORDER BY first) - 1 AS INTEGER) AS gid, * FROM nm
    """)
    con.execute(f"INSERT INTO grp_meta SELECT gid, {pass_no}, '{status}', '' FROM nm_ids")
    match = " AND ".join(f"o.{k} = g.{k}" for k in keys)
    con.execute(f"""
        INSERT INTO members
        SELECT g.gid, 'internal', o.k FROM i o JOIN nm_ids g ON {match} WHERE o.grp IS NULL
        UNION ALL
        SELECT g.gid, 'external', o.k FROM e o JOIN nm_ids g ON {match} WHERE o.grp IS NULL
    """)
    _close(con)
    return count


def match_tables(internal: str, external: str, rules: RuleSet, con: duckdb.DuckDBPyConnection | None = None) -> MatchResult:
    """Match two canonical tables.

    Args:
        internal: a DuckDB relation name or table function over the books, e.g.
            ``read_parquet('books.parquet')`` or a registered Arrow table.
        external: the same for the statement side.
        rules: the rule set to run.
        con: the DuckDB connection the sources live in; a new in-memory one by default.

    Returns:
        The groups, members and breaks; amounts exact, at the scale of the inputs.
    """
    con = con or duckdb.connect()
    _prepare(con, "i", internal)
    _prepare(con, "e", external)
    scale = max(_scale_of(con, internal), _scale_of(con, external))
    con.execute("CREATE OR REPLACE TEMP TABLE grp_meta (gid INTEGER, pass_no INTEGER, status VARCHAR, note VARCHAR)")
    con.execute("CREATE OR REPLACE TEMP TABLE members (gid INTEGER, side VARCHAR, k INTEGER)")
    next_group = 1
    runners = {"1:1": _one_to_one, "1:n": _many, "n:1": _many, "n:m": _many_to_many}
    for number, p in enumerate(rules.passes):
        next_group += runners[p.cardinality](con, p, p.status, number, next_group)
    return _results(con, rules, scale)


def _scale_of(con, source: str) -> int:
    """The decimal scale of a source's amount column (2 for DECIMAL(18,2)); 2 when not a decimal."""
    found = con.execute(f"SELECT typeof(amount) FROM {source} LIMIT 1").fetchone()
    if found and found[0].startswith("DECIMAL("):
        return max(2, int(found[0].rstrip(")").split(",")[1]))
    return 2


def _results(con, rules: RuleSet, scale: int) -> MatchResult:
    money = f"DECIMAL(18, {scale})"
    names = [p.name for p in rules.passes]
    con.execute("CREATE OR REPLACE TEMP TABLE pass_names (pass_no INTEGER, rule VARCHAR)")
    con.executemany("INSERT INTO pass_names VALUES (?, ?)", list(enumerate(names)))
    con.execute("""
        CREATE OR REPLACE TEMP TABLE member_rows AS
        SELECT m.gid, m.side, r.id, r.account, r.date, r.amount, r.currency, r.reference
        FROM members m JOIN i r ON m.side = 'internal' AND m.k = r.k
        UNION ALL
        SELECT m.gid, m.side, r.id, r.account, r.date, r.amount, r.currency, r.reference
        FROM members m JOIN e r ON m.side = 'external' AND m.k = r.k
    """)
    groups = con.sql(f"""
        WITH s AS (
            SELECT gid,
                   sum(amount) FILTER (WHERE side = 'external') - sum(amount) FILTER (WHERE side = 'internal') AS amount_diff,
                   min(date) FILTER (WHERE side = 'internal') AS i0, max(date) FILTER (WHERE side = 'internal') AS i1,
                   min(date) FILTER (WHERE side = 'external') AS e0, max(date) FILTER (WHERE side = 'external') AS e1,
                   count(*) FILTER (WHERE side = 'internal') AS n_internal,
                   count(*) FILTER (WHERE side = 'external') AS n_external,
                   string_agg(DISTINCT nullif(reference, ''), ' / ' ORDER BY nullif(reference, '')) AS refs
            FROM member_rows GROUP BY gid
        )
        SELECT g.gid AS match_id, p.rule, g.status,
               CAST(s.amount_diff AS {money}) AS amount_diff,
               CASE WHEN abs(date_diff('day', s.i0, s.e1)) >= abs(date_diff('day', s.i1, s.e0))
                    THEN date_diff('day', s.i0, s.e1) ELSE date_diff('day', s.i1, s.e0) END AS days_diff,
               s.n_internal, s.n_external,
               concat_ws('; ',
                   CASE WHEN s.n_internal > 1 OR s.n_external > 1
                        THEN s.n_internal || ' book record(s) against ' || s.n_external || ' statement record(s)' END,
                   CASE WHEN s.amount_diff = 0 THEN 'amounts agree' ELSE 'amounts differ by ' || CAST(CAST(s.amount_diff AS {money}) AS VARCHAR) END,
                   CASE WHEN s.i0 = s.e0 AND s.i1 = s.e1 THEN 'same date'
                        ELSE 'books ' || strftime(s.i0, '%Y-%m-%d') || ', statement ' || strftime(s.e0, '%Y-%m-%d') END,
                   CASE WHEN s.refs IS NOT NULL THEN 'references ' || s.refs END,
                   nullif(g.note, '')) AS explanation
        FROM grp_meta g JOIN s USING (gid) JOIN pass_names p USING (pass_no)
        ORDER BY g.gid
    """).to_arrow_table()
    items = con.sql(f"""
        SELECT gid AS match_id, side, id AS record_id, account, date, CAST(amount AS {money}) AS amount, currency
        FROM member_rows ORDER BY gid, side, id
    """).to_arrow_table()
    breaks = con.sql(f"""
        WITH open AS (
            SELECT 'internal' AS side, * FROM i WHERE grp IS NULL
            UNION ALL SELECT 'external' AS side, * FROM e WHERE grp IS NULL
        ), closed AS (
            SELECT 'internal' AS side, account, currency, date, micro, ref_norm FROM i WHERE grp IS NOT NULL
            UNION ALL SELECT 'external', account, currency, date, micro, ref_norm FROM e WHERE grp IS NOT NULL
        ), twins AS (
            SELECT DISTINCT side, account, currency, date, micro, ref_norm FROM closed
        )
        SELECT o.side, o.id AS record_id, o.account, o.date, CAST(o.amount AS {money}) AS amount, o.currency, o.reference, o.description,
               CASE WHEN t.side IS NOT NULL THEN 'possible_duplicate' ELSE 'unmatched' END AS reason
        FROM open o LEFT JOIN twins t
          ON t.side = o.side AND t.account = o.account AND t.currency = o.currency AND t.date = o.date
         AND t.micro = o.micro AND t.ref_norm = o.ref_norm
        ORDER BY o.side, o.id
    """).to_arrow_table()
    return MatchResult(groups, items, breaks, _summary(con, names))


def _summary(con, names: list[str]) -> dict:
    per_pass = {name: {"groups": 0, "confirmed": 0, "proposed": 0, "internal_records": 0, "external_records": 0,
                       "internal_amount": "0", "external_amount": "0"} for name in names}
    rows = con.execute("""
        SELECT p.rule, count(DISTINCT g.gid), count(DISTINCT g.gid) FILTER (WHERE g.status = 'confirmed'),
               count(DISTINCT g.gid) FILTER (WHERE g.status = 'proposed'),
               count(*) FILTER (WHERE m.side = 'internal'), count(*) FILTER (WHERE m.side = 'external'),
               coalesce(sum(m.amount) FILTER (WHERE m.side = 'internal'), 0),
               coalesce(sum(m.amount) FILTER (WHERE m.side = 'external'), 0)
        FROM grp_meta g JOIN pass_names p USING (pass_no) JOIN member_rows m USING (gid)
        GROUP BY p.rule
    """).fetchall()
    for rule, groups, confirmed, proposed, n_i, n_e, a_i, a_e in rows:
        per_pass[rule] = {"groups": groups, "confirmed": confirmed, "proposed": proposed, "internal_records": n_i,
                          "external_records": n_e, "internal_amount": _text(a_i), "external_amount": _text(a_e)}
    per_side = {}
    for side, table in (("internal", "i"), ("external", "e")):
        total, matched, total_amount, open_amount = con.execute(f"""
            SELECT count(*), count(grp), coalesce(sum(amount), 0), coalesce(sum(amount) FILTER (WHERE grp IS NULL), 0) FROM {table}
        """).fetchone()
        per_side[side] = {"records": total, "matched": matched, "open": total - matched,
                          "amount": _text(total_amount), "open_amount": _text(open_amount)}
    statuses = dict(con.execute("SELECT status, count(*) FROM grp_meta GROUP BY status").fetchall())
    return {"passes": per_pass, "sides": per_side,
            "groups": {"total": sum(statuses.values()), "confirmed": statuses.get("confirmed", 0), "proposed": statuses.get("proposed", 0)}}


def _text(value: Decimal) -> str:
    """Decimal as plain text without the engine's working scale (6) trailing zeros beyond cents."""
    value = Decimal(value)
    quantized = value.quantize(Decimal("0.01")) if value == value.quantize(Decimal("0.01")) else value.normalize()
    return format(quantized, "f")
