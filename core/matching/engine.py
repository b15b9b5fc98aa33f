"""The matching engine: rule passes over two canonical tables, on DuckDB.

Passes run in order over what is still open. A record ends in exactly one group or as one
break. Every choice is deterministic and independent of row order: wherever two candidates
score the same, the one with the smaller record id wins, and groups are numbered in order of
pass and record ids, so the same inputs and rules give the same output in any row order.

One-to-one passes pick pairs by repeated mutual-best choice: a pair is taken when each is
the other's best remaining candidate, ranked by amount difference, then reference
agreement, then days apart. A pair whose best score is shared by another candidate is a real
ambiguity: it waits while clear pairs are taken; if it is still tied it is taken as
``proposed``, never ``confirmed``, and so is whatever the records it was tied with pair with.

Candidates are found with equality joins only. Amount tolerances use buckets (absolute
width, or logarithmic for a percent), each side joined to its neighbouring buckets, and the
exact tolerance is checked after; a "same account and amount between" range join, which
compares every pair within an account, is never used.

Work tables shrink as passes go: ``oi`` and ``oe`` hold the records still open, and
reference keys are computed only for the records a pass still looks at.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import NamedTuple

import duckdb
import numpy as np
import pyarrow as pa

from core.matching.rules import Pass, RuleSet
from core.money import canonical_decimal
from core.matching.subsets import MAX_CANDIDATES, find_subsets

__all__ = ["MatchResult", "match_tables"]

MICRO = 1_000_000
# Business-day index: days since Monday 1900-01-01 with weekends folded onto the next Monday.
_BIDX = "CAST((date_diff('day', DATE '1900-01-01', {d}) // 7) * 5 + least(date_diff('day', DATE '1900-01-01', {d}) % 7, 5) AS INTEGER)"
_REF_NORM = "regexp_replace(regexp_replace(upper({r}), '[^A-Z0-9]', '', 'g'), '(^|[^0-9])0+([0-9])', '\\1\\2', 'g')"
_REF_DIGITS = ("ltrim(list_reduce(list_prepend('', regexp_extract_all({r}, '[0-9]{{4,}}')), "
               "lambda a, b: CASE WHEN length(b) > length(a) THEN b ELSE a END), '0')")
_REF_KEY = {"exact": "{r}", "normalised": _REF_NORM, "digits": _REF_DIGITS}
_SIDES = (("i", "oi", "internal"), ("e", "oe", "external"))
# Where a record comes from, passed through when a source has these columns: the dataset
# (sources can mix datasets, as when open items are carried into a new run), the break it
# was carried from, and the day it first appeared.
_ORIGIN = {"dataset_id": "VARCHAR", "carried_from": "BIGINT", "first_seen_on": "DATE"}


class MatchResult(NamedTuple):
    """The engine's output, kept in DuckDB; read it as Arrow or write it with ``COPY``.

    ``groups``: match_id, rule, status, amount_diff, days_diff, n_internal, n_external,
    explanation (built when read). ``items``: match_id, side, record_id, account, date,
    amount, currency.
    ``breaks``: side, record_id, account, date, amount, currency, reference, description,
    reason. Amounts are at the inputs' decimal scale.
    """

    con: duckdb.DuckDBPyConnection
    summary: dict

    @property
    def groups(self) -> pa.Table:
        return self.explained_groups()

    def explained_groups(self, where: str = "true") -> pa.Table:
        """Groups with a sentence saying what differed; ``where`` filters ``result_groups g``."""
        return self.con.sql(f"""
            WITH chosen AS (SELECT * FROM result_groups g WHERE {where}),
            s AS (
                SELECT match_id,
                       min(date) FILTER (WHERE side = 'internal') AS i0, max(date) FILTER (WHERE side = 'internal') AS i1,
                       min(date) FILTER (WHERE side = 'external') AS e0, max(date) FILTER (WHERE side = 'external') AS e1,
                       string_agg(DISTINCT nullif(reference, ''), ' / ' ORDER BY nullif(reference, '')) AS refs
                FROM result_items SEMI JOIN chosen USING (match_id) GROUP BY match_id
            )
            SELECT g.match_id, g.rule, g.status, g.amount_diff, g.days_diff, g.n_internal, g.n_external,
                   concat_ws('; ',
                       CASE WHEN g.n_internal > 1 OR g.n_external > 1
                            THEN g.n_internal || ' book record(s) against ' || g.n_external || ' statement record(s)' END,
                       CASE WHEN g.amount_diff = 0 THEN 'amounts agree' ELSE 'amounts differ by ' || CAST(g.amount_diff AS VARCHAR) END,
                       CASE WHEN s.i0 = s.e0 AND s.i1 = s.e1 THEN 'same date'
                            ELSE 'books ' || strftime(s.i0, '%Y-%m-%d') || ', statement ' || strftime(s.e0, '%Y-%m-%d') END,
                       CASE WHEN s.refs IS NOT NULL THEN 'references ' || s.refs END,
                       nullif(g.note, '')) AS explanation
            FROM chosen g JOIN s USING (match_id)
            ORDER BY g.match_id
        """).to_arrow_table()

    @property
    def items(self) -> pa.Table:
        return self.con.sql("SELECT * EXCLUDE (reference, k, dataset_id, carried_from) FROM result_items "
                            "ORDER BY match_id, side, record_id").to_arrow_table()

    @property
    def breaks(self) -> pa.Table:
        return self.con.sql("SELECT * EXCLUDE (k, dataset_id, carried_from, first_seen_on) FROM result_breaks "
                            "ORDER BY side, record_id").to_arrow_table()


def match_tables(internal: str, external: str, rules: RuleSet, con: duckdb.DuckDBPyConnection | None = None) -> MatchResult:
    """Match two canonical tables.

    Args:
        internal: a relation over the books that ``con`` can read: a table or view name,
            a registered Arrow table, or ``(SELECT ... FROM read_parquet(...))``.
        external: the same for the statement side.
        rules: the rule set to run.
        con: the DuckDB connection the sources live in; a new in-memory one by default.
    """
    con = con or duckdb.connect()
    scale = max(_scale_of(con, internal), _scale_of(con, external))
    for base, working, _ in _SIDES:
        source = internal if base == "i" else external
        present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
        origin = ", ".join(f"{name if name in present else f'CAST(NULL AS {kind})'} AS {name}" for name, kind in _ORIGIN.items())
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {base} AS
            SELECT CAST(row_number() OVER (ORDER BY id, {'dataset_id' if 'dataset_id' in present else 'NULL'}) AS INTEGER) AS k,
                   id, account, currency, date,
                   CAST(amount AS DECIMAL(18, 6)) AS amount,
                   CAST(CAST(amount AS DECIMAL(18, 6)) * {MICRO} AS BIGINT) AS micro,
                   coalesce(reference, '') AS reference, coalesce(description, '') AS description,
                   {_BIDX.format(d='date')} AS bidx, {origin}
            FROM {source}
        """)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {working} AS SELECT k, account, currency, date, micro, reference, bidx FROM {base}")
    con.execute("""CREATE OR REPLACE TEMP TABLE grp_meta (gid INTEGER, pass_no INTEGER, status VARCHAR, note VARCHAR,
                   diff_micro BIGINT, days_diff INTEGER, n_internal INTEGER, n_external INTEGER, first_internal INTEGER)""")
    con.execute("CREATE OR REPLACE TEMP TABLE members (gid INTEGER, side VARCHAR, k INTEGER)")
    con.execute("CREATE OR REPLACE TEMP TABLE new_groups (gid INTEGER, pass_no INTEGER, status VARCHAR, note VARCHAR)")
    next_group = 1
    runners = {"1:1": _one_to_one, "1:n": _subset_pass, "n:1": _subset_pass, "n:m": _many_to_many}
    for number, p in enumerate(rules.passes):
        made = runners[p.cardinality](con, p, number, next_group)
        if made:
            _close_pass(con, next_group)
        next_group += made
    _finish(con, rules, scale)
    return MatchResult(con, _summary(con, [p.name for p in rules.passes]))


def _scale_of(con, source: str) -> int:
    """The decimal scale of a source's amount column (2 for DECIMAL(18,2)); at least 2."""
    found = con.execute(f"SELECT typeof(amount) FROM {source} LIMIT 1").fetchone()
    if found and found[0].startswith("DECIMAL("):
        return max(2, int(found[0].rstrip(")").split(",")[1]))
    return 2


def _close_pass(con, first_group: int) -> None:
    """Drop the records a pass grouped from the open tables."""
    for _, working, side in _SIDES:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {working} AS
            SELECT o.* FROM {working} o ANTI JOIN (SELECT k FROM members WHERE side = '{side}' AND gid >= {first_group}) m ON o.k = m.k
        """)


def _append(con, table: str, rows: list[tuple], names: list[str]) -> None:
    """Insert Python rows through Arrow; DuckDB's executemany goes row by row."""
    con.register("_rows", pa.table(dict(zip(names, map(list, zip(*rows))))))
    con.execute(f"INSERT INTO {table} SELECT * FROM _rows")
    con.unregister("_rows")


def _open_side(p: Pass, working: str, need_scores: bool) -> str:
    """The open records of one side, with the reference key the pass compares."""
    extra = []
    if p.reference != "ignore":
        extra.append(f"{_REF_KEY[p.reference].format(r='reference')} AS rkey")
    if need_scores:
        extra += [f"{_REF_NORM.format(r='reference')} AS ref_norm", f"{_REF_DIGITS.format(r='reference')} AS ref_digits"]
    columns = ", ".join(["*"] + extra)
    where = " WHERE reference <> ''" if p.reference != "ignore" else ""
    return f"(SELECT {columns} FROM {working}{where})"


def _equalities(p: Pass) -> list[str]:
    conditions = [f"i.{key} = e.{key}" for key in p.equality_keys]
    if p.reference != "ignore":
        conditions += ["i.rkey = e.rkey", "i.rkey <> ''"]
    return conditions


def _tolerance_filters(p: Pass, one: str = "i.micro", other: str = "e.micro") -> list[str]:
    diff = f"({other} - {one})"
    filters = []
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
    """A bucket such that any pair within tolerance lies in the same or neighbouring buckets."""
    if p.amount_tolerance > 0:
        return f"CAST(floor({side}.micro / {int(p.amount_tolerance * MICRO)}) AS BIGINT)"
    # Blocking only: the exact tolerance is checked on integers afterwards.
    width = -(Decimal(1) - p.amount_tolerance_pct / 100).ln()
    return (f"CASE WHEN {side}.micro = 0 THEN 0 ELSE sign({side}.micro) * "
            f"(1 + CAST(floor(ln(abs({side}.micro)) / {width:.12f}) AS BIGINT)) END")


def _one_to_one(con, p: Pass, pass_no: int, next_group: int) -> int:
    need_scores = p.reference == "ignore"
    left, right = _open_side(p, "oi", need_scores), _open_side(p, "oe", need_scores)
    join = " AND ".join(_equalities(p))
    if p.has_tolerance:
        bucket = _bucket(p, "o")
        source = (f"(SELECT *, unnest([{bucket} - 1, {bucket}, {bucket} + 1]) AS bucket FROM {left} AS o) AS i "
                  f"JOIN (SELECT *, {bucket} AS bucket FROM {right} AS o) AS e ON i.bucket = e.bucket AND {join}")
    else:
        source = f"{left} AS i JOIN {right} AS e ON i.micro = e.micro AND {join}"
    days = "abs(e.bidx - i.bidx)" if p.business_days else "abs(date_diff('day', i.date, e.date))"
    rmis = ("CASE WHEN (i.ref_norm <> '' AND i.ref_norm = e.ref_norm) OR (i.ref_digits <> '' AND i.ref_digits = e.ref_digits) "
            "THEN 0 ELSE 1 END") if need_scores else "0"
    where = [f"{days} <= {p.date_window}"] + _tolerance_filters(p)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE cand AS
        SELECT i.k AS ik, e.k AS ek, abs(e.micro - i.micro) AS adiff,
               CAST({rmis} AS TINYINT) AS rmis, CAST(abs(date_diff('day', i.date, e.date)) AS INTEGER) AS ddiff,
               e.micro - i.micro AS diff_micro, CAST(date_diff('day', i.date, e.date) AS INTEGER) AS days_diff
        FROM {source}
        WHERE {' AND '.join(where)}
    """)
    con.execute("CREATE OR REPLACE TEMP TABLE taken (ik INTEGER, ek INTEGER, ambiguous BOOLEAN, diff_micro BIGINT, days_diff INTEGER)")
    # Records tied with a pair whose tie was broken by id: whatever they pair with later is
    # part of the same ambiguity, so it is proposed too.
    con.execute("CREATE OR REPLACE TEMP TABLE tainted (side VARCHAR, k INTEGER)")
    while con.execute("SELECT count(*) FROM cand").fetchone()[0]:
        con.execute("""
            CREATE OR REPLACE TEMP TABLE ranked AS
            SELECT *,
                   row_number() OVER (PARTITION BY ik ORDER BY adiff, rmis, ddiff, ek) AS rn_i,
                   row_number() OVER (PARTITION BY ek ORDER BY adiff, rmis, ddiff, ik) AS rn_e,
                   count(*) OVER (PARTITION BY ik, adiff, rmis, ddiff) AS same_i,
                   count(*) OVER (PARTITION BY ek, adiff, rmis, ddiff) AS same_e
            FROM cand
        """)
        clear = con.execute("SELECT count(*) FROM ranked WHERE rn_i = 1 AND rn_e = 1 AND same_i = 1 AND same_e = 1").fetchone()[0]
        only_clear = "AND same_i = 1 AND same_e = 1" if clear else ""
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE newly AS
            SELECT r.ik, r.ek, r.adiff, r.rmis, r.ddiff, r.diff_micro, r.days_diff, (r.same_i > 1 OR r.same_e > 1) AS tied,
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
        con.execute("INSERT INTO taken SELECT ik, ek, ambiguous, diff_micro, days_diff FROM newly")
        con.execute("""
            CREATE OR REPLACE TEMP TABLE cand AS
            SELECT c.* FROM cand c ANTI JOIN newly a ON c.ik = a.ik ANTI JOIN newly b ON c.ek = b.ek
        """)
    made = con.execute("SELECT count(*) FROM taken").fetchone()[0]
    if made:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE numbered AS
            SELECT {next_group} - 1 + CAST(row_number() OVER () AS INTEGER) AS gid, * FROM taken
        """)
        con.execute(f"""
            INSERT INTO grp_meta SELECT gid, {pass_no},
                   CASE WHEN ambiguous THEN 'proposed' ELSE '{p.status}' END,
                   CASE WHEN ambiguous THEN 'tied with another candidate on amount, reference and date' ELSE '' END,
                   diff_micro, days_diff, 1, 1, ik
            FROM numbered
        """)
        con.execute("INSERT INTO members SELECT gid, 'internal', ik FROM numbered UNION ALL SELECT gid, 'external', ek FROM numbered")
    return made


def _subset_pass(con, p: Pass, pass_no: int, next_group: int) -> int:
    """1:n or n:1 by bounded subset search around each open record of the 'one' side.

    Candidates are gathered in SQL: open records of the other side with the same keys and
    sign, a smaller amount, within the date window, the nearest ``max_candidates`` by days
    then id. Days are bucketed by the window so the join never pairs a whole account.
    """
    one, many = ("oi", "oe") if p.cardinality == "1:n" else ("oe", "oi")
    day = "o.bidx" if p.business_days else "date_diff('day', DATE '1900-01-01', o.date)"
    ref = _REF_KEY[p.reference].format(r="o.reference") if p.reference != "ignore" else "''"
    width = p.date_window + 1
    keys = [f"t.{k} = c.{k}" for k in p.equality_keys] + (["t.rkey = c.rkey", "t.rkey <> ''"] if p.reference != "ignore" else [])
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE sub_cand AS
        WITH t AS (SELECT o.*, {day} AS day, {ref} AS rkey, unnest([{day} // {width} - 1, {day} // {width}, {day} // {width} + 1]) AS bucket
                   FROM {one} o WHERE o.micro <> 0),
             c AS (SELECT o.*, {day} AS day, {ref} AS rkey, {day} // {width} AS bucket FROM {many} o WHERE o.micro <> 0)
        SELECT t.k AS tk, t.micro AS target, c.k AS ck, c.micro AS amount
        FROM t JOIN c ON t.bucket = c.bucket AND sign(t.micro) = sign(c.micro) AND {' AND '.join(keys) or 'true'}
        WHERE abs(c.day - t.day) <= {p.date_window} AND abs(c.micro) < abs(t.micro)
        QUALIFY row_number() OVER (PARTITION BY t.k ORDER BY abs(c.day - t.day), c.k) <= {min(p.max_candidates, MAX_CANDIDATES)}
    """)
    grouped = con.sql("""
        SELECT tk, any_value(target) AS target, list(ck ORDER BY ck) AS keys, list(amount ORDER BY ck) AS amounts
        FROM sub_cand GROUP BY tk HAVING count(*) >= 2 ORDER BY tk
    """).to_arrow_table()
    if grouped.num_rows == 0:
        return 0
    targets = grouped.column("target").to_numpy()
    tolerance = int(p.amount_tolerance * MICRO)
    allowed = np.array([_allowed_difference(p, int(t), tolerance) for t in targets], dtype=np.int64) if p.has_tolerance \
        else np.zeros(len(targets), dtype=np.int64)
    keys, amounts = grouped.column("keys").combine_chunks(), grouped.column("amounts").combine_chunks()
    solutions_of = find_subsets(targets, allowed, keys.offsets.to_numpy(), keys.values.to_numpy(), amounts.values.to_numpy(),
                                p.max_group_size)
    target_keys = grouped.column("tk").to_numpy()
    found = {int(target_keys[row]): solutions for row, solutions in solutions_of.items()}
    # A unique solution whose records no other target could use is clear; the others are
    # taken as proposals, in id order, so the outcome never depends on input order.
    usage = defaultdict(int)
    for solutions in found.values():
        for member in {m for s in solutions for m in s}:
            usage[member] += 1
    used: set[int] = set()
    chosen_groups = []
    for target_k in sorted(found):
        solutions = [s for s in found[target_k] if not used.intersection(s)]
        if not solutions:
            continue
        chosen = solutions[0]
        clear = len(found[target_k]) == 1 and all(usage[m] == 1 for m in chosen)
        used.update(chosen)
        chosen_groups.append((target_k, chosen, clear))
    if not chosen_groups:
        return 0
    one_side, many_side = ("internal", "external") if one == "oi" else ("external", "internal")
    meta = [(next_group + n, pass_no, p.status if clear else "proposed", "" if clear else "another combination of records could also make this amount")
            for n, (_, _, clear) in enumerate(chosen_groups)]
    links = [(next_group + n, one_side, target_k) for n, (target_k, _, _) in enumerate(chosen_groups)]
    links += [(next_group + n, many_side, key) for n, (_, chosen, _) in enumerate(chosen_groups) for key in chosen]
    _append(con, "new_groups", meta, ["gid", "pass_no", "status", "note"])
    _append(con, "members", links, ["gid", "side", "k"])
    _record_group_stats(con, next_group)
    return len(chosen_groups)


def _record_group_stats(con, first_group: int) -> None:
    """Move groups of several records from ``new_groups`` into ``grp_meta`` with their differences."""
    con.execute(f"""
        INSERT INTO grp_meta
        WITH m AS (
            SELECT m.gid, m.side, m.k, r.micro, r.date FROM members m JOIN i r ON m.side = 'internal' AND m.k = r.k WHERE m.gid >= {first_group}
            UNION ALL
            SELECT m.gid, m.side, m.k, r.micro, r.date FROM members m JOIN e r ON m.side = 'external' AND m.k = r.k WHERE m.gid >= {first_group}
        ), s AS (
            SELECT gid,
                   sum(micro) FILTER (WHERE side = 'external') - sum(micro) FILTER (WHERE side = 'internal') AS diff_micro,
                   min(date) FILTER (WHERE side = 'internal') AS i0, max(date) FILTER (WHERE side = 'internal') AS i1,
                   min(date) FILTER (WHERE side = 'external') AS e0, max(date) FILTER (WHERE side = 'external') AS e1,
                   count(*) FILTER (WHERE side = 'internal') AS n_internal, count(*) FILTER (WHERE side = 'external') AS n_external,
                   min(k) FILTER (WHERE side = 'internal') AS first_internal
            FROM m GROUP BY gid
        )
        SELECT g.gid, g.pass_no, g.status, g.note, CAST(s.diff_micro AS BIGINT),
               CAST(CASE WHEN abs(date_diff('day', s.i0, s.e1)) >= abs(date_diff('day', s.i1, s.e0))
                         THEN date_diff('day', s.i0, s.e1) ELSE date_diff('day', s.i1, s.e0) END AS INTEGER),
               CAST(s.n_internal AS INTEGER), CAST(s.n_external AS INTEGER), CAST(s.first_internal AS INTEGER)
        FROM new_groups g JOIN s USING (gid)
    """)
    con.execute("DELETE FROM new_groups")


def _allowed_difference(p: Pass, micro: int, tolerance: int) -> int:
    """The largest |sum - target| a group may have: the stricter of the pass's tolerances."""
    limits = []
    if p.amount_tolerance > 0:
        limits.append(tolerance)
    if p.amount_tolerance_pct > 0:
        limits.append(int(abs(micro) * p.amount_tolerance_pct / 100))
    return min(limits) if limits else 0


def _many_to_many(con, p: Pass, pass_no: int, next_group: int) -> int:
    """n:m by a shared key: all open records with the same key on both sides, sums within tolerance."""
    keys = list(dict.fromkeys(list(p.equality_keys) + list(p.group_by)))
    key_list = ", ".join(keys)
    join = " AND ".join(f"gi.{k} = ge.{k}" for k in keys)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE nm AS
        WITH gi AS (SELECT {key_list}, sum(micro) AS micro, count(*) AS n, min(date) AS d0, max(date) AS d1, min(k) AS first
                    FROM oi GROUP BY ALL),
             ge AS (SELECT {key_list}, sum(micro) AS micro, count(*) AS n, min(date) AS d0, max(date) AS d1
                    FROM oe GROUP BY ALL)
        SELECT {', '.join(f'gi.{k}' for k in keys)}, gi.first
        FROM gi JOIN ge ON {join}
        WHERE gi.n + ge.n > 2
          AND date_diff('day', least(gi.d0, ge.d0), greatest(gi.d1, ge.d1)) <= {p.date_window}
          AND {' AND '.join(_tolerance_filters(p, 'gi.micro', 'ge.micro'))}
    """)
    count = con.execute("SELECT count(*) FROM nm").fetchone()[0]
    if count:
        con.execute(f"CREATE OR REPLACE TEMP TABLE nm_ids AS SELECT {next_group} - 1 + CAST(row_number() OVER (ORDER BY first) AS INTEGER) AS gid, * FROM nm")
        con.execute(f"INSERT INTO new_groups SELECT gid, {pass_no}, '{p.status}', '' FROM nm_ids")
        match = " AND ".join(f"o.{k} = g.{k}" for k in keys)
        con.execute(f"""
            INSERT INTO members
            SELECT g.gid, 'internal', o.k FROM oi o JOIN nm_ids g ON {match}
            UNION ALL
            SELECT g.gid, 'external', o.k FROM oe o JOIN nm_ids g ON {match}
        """)
        _record_group_stats(con, next_group)
    return count


def _finish(con, rules: RuleSet, scale: int) -> None:
    """Number the groups in a fixed order and build the result tables."""
    money = f"DECIMAL(18, {scale})"
    con.execute("CREATE OR REPLACE TEMP TABLE pass_names (pass_no INTEGER, rule VARCHAR)")
    _append(con, "pass_names", list(enumerate(p.name for p in rules.passes)), ["pass_no", "rule"])
    con.execute(f"""
        CREATE OR REPLACE TABLE result_groups AS
        SELECT CAST(row_number() OVER (ORDER BY g.pass_no, g.first_internal) AS INTEGER) AS match_id,
               g.gid, p.rule, g.status, CAST(CAST(g.diff_micro AS DECIMAL(18, 0)) / {MICRO} AS {money}) AS amount_diff,
               g.days_diff, g.n_internal, g.n_external, g.note
        FROM grp_meta g JOIN pass_names p USING (pass_no)
    """)
    con.execute(f"""
        CREATE OR REPLACE TABLE result_items AS
        SELECT g.match_id, m.side, r.id AS record_id, r.account, r.date, CAST(r.amount AS {money}) AS amount, r.currency, r.reference,
               m.k, r.dataset_id, r.carried_from
        FROM members m JOIN result_groups g USING (gid)
        JOIN (SELECT 'internal' AS side, * FROM i UNION ALL SELECT 'external' AS side, * FROM e) r ON r.side = m.side AND r.k = m.k
        ORDER BY g.match_id, m.side = 'external', m.k
    """)
    con.execute("ALTER TABLE result_groups DROP COLUMN gid")
    con.execute(f"""
        CREATE OR REPLACE TABLE result_breaks AS
        WITH open AS (
            SELECT 'internal' AS side, r.* FROM i r SEMI JOIN oi o ON r.k = o.k
            UNION ALL
            SELECT 'external' AS side, r.* FROM e r SEMI JOIN oe o ON r.k = o.k
        ), base AS (SELECT 'internal' AS side, * FROM i UNION ALL SELECT 'external' AS side, * FROM e),
        twins AS (
            SELECT DISTINCT o.side, o.k
            FROM open o JOIN base c
              ON c.side = o.side AND c.account = o.account AND c.currency = o.currency AND c.date = o.date AND c.micro = o.micro
            WHERE c.k <> o.k AND {_REF_NORM.format(r='c.reference')} = {_REF_NORM.format(r='o.reference')}
        )
        SELECT o.side, o.id AS record_id, o.account, o.date, CAST(o.amount AS {money}) AS amount, o.currency, o.reference,
               o.description, CASE WHEN t.k IS NOT NULL THEN 'possible_duplicate' ELSE 'unmatched' END AS reason, o.k,
               o.dataset_id, o.carried_from, o.first_seen_on
        FROM open o LEFT JOIN twins t ON t.side = o.side AND t.k = o.k
        ORDER BY o.side = 'external', o.account, o.date, o.k
    """)


def _summary(con, names: list[str]) -> dict:
    empty = {"groups": 0, "confirmed": 0, "proposed": 0, "internal_records": 0, "external_records": 0,
             "internal_amount": "0.00", "external_amount": "0.00"}
    per_pass = {name: dict(empty) for name in names}
    rows = con.execute("""
        SELECT g.rule, count(*), count(*) FILTER (WHERE g.status = 'confirmed'), count(*) FILTER (WHERE g.status = 'proposed'),
               sum(g.n_internal), sum(g.n_external),
               sum(s.internal_amount), sum(s.external_amount)
        FROM result_groups g JOIN (
            SELECT match_id, coalesce(sum(amount) FILTER (WHERE side = 'internal'), 0) AS internal_amount,
                   coalesce(sum(amount) FILTER (WHERE side = 'external'), 0) AS external_amount
            FROM result_items GROUP BY match_id) s USING (match_id)
        GROUP BY g.rule
    """).fetchall()
    for rule, groups, confirmed, proposed, n_i, n_e, a_i, a_e in rows:
        per_pass[rule] = {"groups": groups, "confirmed": confirmed, "proposed": proposed, "internal_records": int(n_i),
                          "external_records": int(n_e), "internal_amount": _text(a_i), "external_amount": _text(a_e)}
    per_side = {}
    for base, _, side in _SIDES:
        total, amount = con.execute(f"SELECT count(*), coalesce(sum(amount), 0) FROM {base}").fetchone()
        opened, open_amount = con.execute(f"SELECT count(*), coalesce(sum(amount), 0) FROM result_breaks WHERE side = '{side}'").fetchone()
        per_side[side] = {"records": total, "matched": total - opened, "open": opened, "amount": _text(amount), "open_amount": _text(open_amount)}
    statuses = dict(con.execute("SELECT status, count(*) FROM result_groups GROUP BY status").fetchall())
    return {"passes": per_pass, "sides": per_side,
            "groups": {"total": sum(statuses.values()), "confirmed": statuses.get("confirmed", 0), "proposed": statuses.get("proposed", 0)}}


def _text(value) -> str:
    """An exact amount as plain text, in the store's canonical form (at least two decimals)."""
    return format(canonical_decimal(Decimal(value)), "f")
