"""The matching engine: rule passes over two canonical tables, on DuckDB.

Passes run in order over what is still open. A record ends in exactly one group or as one
break. Every choice is deterministic and independent of row order: records are numbered in
order of their ids (``k``), wherever two candidates score the same the one with the smaller
number wins, and groups are numbered in order of pass and first book record, so the same
inputs and rules give the same output in any row order.

One-to-one passes pick pairs by repeated mutual-best choice: a pair is taken when each is
the other's best remaining candidate, ranked by amount difference, then reference
agreement, then days apart. A pair whose best score is shared by another candidate is a real
ambiguity: it waits while clear pairs are taken; if it is still tied it is taken as
``proposed``, never ``confirmed``, and so is whatever the records it was tied with pair with.

Candidates are found with equality joins only. One-to-one passes without an amount
tolerance that compare the same columns share one candidate table: the pairs with equal
amounts are joined once, within the widest of their date windows, and each pass keeps the
pairs that meet its own window and reference rule among the records still open. Amount
tolerances use buckets (absolute width, or logarithmic for a percent), each side joined to
its neighbouring buckets, and the exact tolerance is checked after; a "same account and
amount between" range join, which compares every pair within an account, is never used.
Nothing grows with the square of the records: in a crowded group of equal amounts each
record keeps a few candidates (same reference key, or near it in date and id order), and a
record whose window is over-full is not searched for a subset or a fee.

Records are compared within an account by the account's key (``core.domain.accounts``: the
spellings of one account, and the aliases, compare as one); the results show each record's
account as its source wrote it. The keys are worked out once per distinct account text, and
only when some text differs from its key are the records joined to them.

Which record is in which group is kept in numpy (one group number per record, 0 while open),
so taking records out of play, and reading the results back, are scans rather than joins.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping

import duckdb
import numpy as np
import pyarrow as pa

from core import config
from core.domain.accounts import resolve_account_key
from core.matching.rules import Pass, RuleSet
from core.matching.results import GroupColumns, MatchResult, summarise, write_result_tables
from core.matching.sql import (BUSINESS_DAY_INDEX, DAY_NUMBER, MICRO, REFERENCE_DIGITS, REFERENCE_KEY, REFERENCE_NORMALISED, SIDES,
                               TO_MICRO, amount_bucket_sql, days_apart_column, equality_conditions, open_side_sql, tolerance_filters)
from core.matching.subsets import MAX_CANDIDATES, find_subsets

__all__ = ["MatchResult", "match_tables"]

# A group of records alike in keys and amount on both sides is crowded beyond this many
# possible pairs; a crowded record's candidates by place are those within _BAND places.
_CROWDED = 4096
_BAND = 8
# A subset search is not tried for a record with more candidates than this within its window,
# nor a one-to-one pass with an amount tolerance for one with more than _POOL_PAIRS.
_POOL = 64
_POOL_PAIRS = 256
# Where a record comes from, passed through when a source has these columns: the dataset
# (sources can mix datasets, as when open items are carried into a new run), the break it
# was carried from, and the day it first appeared.
_ORIGIN = {"dataset_id": "VARCHAR", "carried_from": "BIGINT", "first_seen_on": "DATE"}
_DATE_KEYS = ("trade_date", "entry_date")
def match_tables(internal: str, external: str, rules: RuleSet, con: duckdb.DuckDBPyConnection | None = None,
                 loaded: Callable[[], None] | None = None, aliases: Mapping[str, str] | None = None) -> MatchResult:
    """Match two canonical tables.

    Args:
        internal: a relation over the books that ``con`` can read: a table or view name,
            a registered Arrow table, or ``(SELECT ... FROM read_parquet(...))``.
        external: the same for the statement side.
        rules: the rule set to run.
        con: the DuckDB connection the sources live in; a new in-memory one by default.
        loaded: called once the engine holds its own copy of both sources, which the caller
            may then drop to free their memory.
        aliases: the account alias table (alias key -> target key, ``core.accounts.load_aliases``).
    """
    con = con or duckdb.connect(config=config.duckdb_settings())
    scale = max(_scale_of(con, internal), _scale_of(con, external))
    matcher = _Matcher(con, rules, internal, external, aliases or {})
    if loaded is not None:
        loaded()
    for pass_no, rule_pass in enumerate(rules.passes):
        matcher.run_pass(pass_no, rule_pass)
    matcher.finish(scale)
    return MatchResult(con, matcher.summary())


def _scale_of(con, source: str) -> int:
    """The decimal scale of a source's amount column (2 for DECIMAL(18,2)); at least 2."""
    found = con.execute(f"SELECT typeof(amount) FROM {source} LIMIT 1").fetchall()
    if found and found[0][0].startswith("DECIMAL("):
        return max(2, int(found[0][0].rstrip(")").split(",")[1]))
    return 2


def _account_keys(con, internal: str, external: str, aliases: Mapping[str, str]) -> pa.Table | None:
    """Each distinct account text of both sources with its key, or ``None`` when every text is its own key."""
    found = con.execute(f"SELECT DISTINCT account FROM {internal} UNION SELECT DISTINCT account FROM {external}").fetchall()
    texts = [row[0] for row in found if row[0] is not None]
    keys = [resolve_account_key(text, aliases) for text in texts]
    if keys == texts:
        return None
    return pa.table({"account": pa.array(texts, pa.string()), "account_key": pa.array(keys, pa.string())})


def _arrow_table(**columns) -> pa.Table:
    return pa.table({name: pa.array(values) for name, values in columns.items()})


class _Matcher:
    def __init__(self, con, rules: RuleSet, internal: str, external: str, aliases: Mapping[str, str]) -> None:
        self.con, self.rules = con, rules
        self.callers_temp = self._temp_tables()  # temporary tables the engine did not make, kept
        # Inside the engine ``account`` is the key passes compare; the text as written, when it
        # differs, is ``account_text``, which the results show.
        keys = _account_keys(con, internal, external, aliases)
        self.account_shown = "account" if keys is None else "account_text"
        if keys is not None:
            con.register("_account_keys", keys)
            internal, external = (f"(SELECT s.* REPLACE (coalesce(m.account_key, s.account) AS account), s.account AS account_text "
                                  f"FROM {source} s LEFT JOIN _account_keys m ON m.account = s.account)" for source in (internal, external))
        self.extra_keys = sorted({k for rule_pass in rules.passes for k in (*rule_pass.equality_keys, *rule_pass.group_by)}
                                 - {"account", "currency", "date", "reference"})
        for base, source in (("i", internal), ("e", external)):
            self._load(base, source)
        if keys is not None:
            con.unregister("_account_keys")
        self.gid = {}
        self.micro, self.day = {}, {}
        for base, _ in SIDES:
            values = con.sql(f"SELECT micro, day FROM {base}").to_arrow_table()
            self.micro[base] = values.column("micro").to_numpy()
            self.day[base] = values.column("day").to_numpy()
            self.gid[base] = np.zeros(len(self.micro[base]), np.int32)
        self.groups = GroupColumns()
        self.batches = 0  # batches of groups made so far: open tables and candidate tables built before a batch are stale
        self.open_at = {"i": 0, "e": 0}
        self.open_mask: dict[str, np.ndarray] = {}  # which records were open when o{side} was built
        self.banks: dict[tuple, dict] = {}

    def _temp_tables(self) -> set[str]:
        return {row[0] for row in self.con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()}

    # Records ---------------------------------------------------------------------------

    def _load(self, base: str, source: str) -> None:
        present = {row[0] for row in self.con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
        origin = ", ".join(f"{name if name in present else f'CAST(NULL AS {kind})'} AS {name}" for name, kind in _ORIGIN.items())
        keys = []
        for key in self.extra_keys:
            if key in _DATE_KEYS:
                keys.append(f"{key if key in present else 'CAST(NULL AS DATE)'} AS {key}")
            else:
                keys.append(f"coalesce(CAST({key} AS VARCHAR), '') AS {key}" if key in present else f"'' AS {key}")
        # Stored in order of id: the row number (k = rowid + 1) breaks ties the same way in any
        # input order.
        self.con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _{base} AS
            SELECT id, account, currency, date,
                   CAST(amount AS DECIMAL(18, 6)) AS amount, {TO_MICRO.format(a='CAST(amount AS DECIMAL(18, 6))')} AS micro,
                   coalesce(reference, '') AS reference, coalesce(description, '') AS description,
                   {BUSINESS_DAY_INDEX.format(d='date')} AS bidx, {DAY_NUMBER.format(d='date')} AS day,
                   {origin}{''.join(', ' + k for k in keys)}{', account_text' if 'account_text' in present else ''}
            FROM {source}
            ORDER BY id, dataset_id
        """)
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {base} AS SELECT CAST(rowid + 1 AS INTEGER) AS k, * FROM _{base}")

    def _open(self, base: str) -> str:
        """A table of the records of one side still open (k and the columns passes compare)."""
        if self.batches == 0:
            return base
        if self.open_at[base] != self.batches:
            is_open = self.gid[base] == 0
            built = self.open_mask.get(base)
            gone = np.flatnonzero(built & ~is_open) + 1 if built is not None else None
            if gone is not None and len(gone) * 5 < int(built.sum()):
                # A few records grouped since the table was built: deleted, not rebuilt.
                self.con.register("_gone", _arrow_table(k=gone.astype(np.int32)))
                self.con.execute(f"DELETE FROM o{base} USING _gone WHERE o{base}.k = _gone.k")
                self.con.unregister("_gone")
            else:
                self.con.register("_gid", _arrow_table(gid=self.gid[base]))
                columns = ", ".join(["k", "account", "currency", "date", "micro", "reference", "bidx", "day", *self.extra_keys])
                self.con.execute(f"CREATE OR REPLACE TEMP TABLE o{base} AS SELECT {columns} FROM {base} POSITIONAL JOIN _gid WHERE _gid.gid = 0")
                self.con.unregister("_gid")
            self.open_mask[base] = is_open
            self.open_at[base] = self.batches
        return f"o{base}"

    # Passes ----------------------------------------------------------------------------

    def run_pass(self, pass_no: int, rule_pass: Pass) -> None:
        if rule_pass.cardinality == "1:1":
            if rule_pass.has_tolerance:
                self._one_to_one(pass_no, rule_pass, self._tolerance_candidates(rule_pass))
            else:
                self._one_to_one(pass_no, rule_pass, self._bank_candidates(pass_no, rule_pass))
        elif rule_pass.cardinality == "n:m":
            self._many_to_many(pass_no, rule_pass)
        else:
            self._subset_pass(pass_no, rule_pass)

    def _bank_candidates(self, number: int, rule_pass: Pass) -> str:
        """The pass's candidate pairs, from the equal-amount pairs its columns share with other passes."""
        keys = rule_pass.equality_keys
        bank = self.banks.get(keys)
        # A table with crowded groups is made again for each pass that finds it stale: the
        # records a pass left open there get new neighbours.
        if bank is None or (bank["crowded"] and bank["at"] != self.batches):
            sharing = [q for q in self.rules.passes[number:] if q.cardinality == "1:1" and not q.has_tolerance and q.equality_keys == keys]
            window = " OR ".join(sorted({f"{days_apart_column(q)} <= {q.date_window}" for q in sharing}))
            table = bank["table"] if bank else f"_bank{len(self.banks)}"
            pairs, crowded = self._equal_amount_pairs(keys, window)
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {pairs}")
            bank = self.banks[keys] = {"table": table, "at": self.batches, "flags": set(), "crowded": crowded}
        needed = {"exact": {"ref_eq"}, "normalised": {"norm_eq"}, "digits": {"dig_eq"},
                  "ignore": {"norm_eq", "dig_eq"}}[rule_pass.reference]
        self._refresh_bank(bank, needed - bank["flags"])
        refs = {"exact": "ref_eq", "normalised": "norm_eq", "digits": "dig_eq", "ignore": "true"}[rule_pass.reference]
        rmis = "CASE WHEN norm_eq OR dig_eq THEN 0 ELSE 1 END" if rule_pass.reference == "ignore" else "0"
        return f"""
            SELECT ik, ek, CAST(0 AS BIGINT) AS adiff, CAST({rmis} AS TINYINT) AS rmis, ddiff, CAST(0 AS BIGINT) AS diff_micro, days_diff
            FROM {bank['table']} WHERE {days_apart_column(rule_pass)} <= {rule_pass.date_window} AND {refs}
        """

    def _equal_amount_pairs(self, keys: tuple[str, ...], window: str) -> tuple[str, bool]:
        """Open pairs with equal keys and amounts within ``window``, at most a few per record.

        Returns:
            The pairs' query, and whether any group was crowded.

        Where both sides hold many records alike in keys and amount (a payroll, a fee charged
        thousands of times), pairing each with each would grow with the square of their
        number. In such a crowded group a record's candidates are the records of the other
        side with the same normalised reference or reference number (where few share it) and
        those near its place in order of date and id: interchangeable records pair in order.
        """
        oi, oe = self._open("i"), self._open("e")
        group = [*keys, "micro"]
        columns = ", ".join(group)
        join = " AND ".join(f"i.{key} = e.{key}" for key in group)
        pairs = ("SELECT i.k AS ik, e.k AS ek, CAST(e.day - i.day AS INTEGER) AS days_diff, CAST(abs(e.day - i.day) AS INTEGER) AS ddiff, "
                 "CAST(abs(e.bidx - i.bidx) AS INTEGER) AS bdiff, i.reference AS ir, e.reference AS er")
        # A crowded group's amount is crowded across all groups too: groups are counted only
        # for such amounts.
        self.con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _crowded AS
            WITH hot AS (SELECT micro FROM (SELECT micro, count(*) AS n FROM {oi} GROUP BY micro) a
                         JOIN (SELECT micro, count(*) AS n FROM {oe} GROUP BY micro) b USING (micro) WHERE a.n * b.n > {_CROWDED})
            SELECT {columns} FROM (SELECT {columns}, count(*) AS n FROM {oi} SEMI JOIN hot USING (micro) GROUP BY ALL) a
            JOIN (SELECT {columns}, count(*) AS n FROM {oe} SEMI JOIN hot USING (micro) GROUP BY ALL) b USING ({columns})
            WHERE a.n * b.n > {_CROWDED}
        """)
        if not self.con.execute("SELECT count(*) FROM _crowded").fetchall()[0][0]:
            return f"{pairs} FROM {oi} i JOIN {oe} e ON {join} WHERE {window}", False
        # Each side split in two and materialised, so that no join order can pair a crowded
        # group's records with each other after all.
        for base, table in (("i", oi), ("e", oe)):
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE _few_{base} AS SELECT * FROM {table} ANTI JOIN _crowded USING ({columns})")
            self.con.execute(f"""
                CREATE OR REPLACE TEMP TABLE _r{base} AS
                SELECT o.*, row_number() OVER (PARTITION BY {columns} ORDER BY o.day, o.k) AS place,
                       {REFERENCE_NORMALISED.format(r='o.reference')} AS norm, {REFERENCE_DIGITS.format(r='o.reference')} AS digits
                FROM {table} o SEMI JOIN _crowded USING ({columns})
            """)
        by_key = []
        for key in ("norm", "digits"):
            # Pairs with the same reference key, where few records share it.
            fine = (f"SELECT {columns}, {key} FROM (SELECT {columns}, {key}, count(*) AS n FROM _ri WHERE {key} <> '' GROUP BY ALL) a "
                    f"JOIN (SELECT {columns}, {key}, count(*) AS n FROM _re GROUP BY ALL) b USING ({columns}, {key}) WHERE a.n * b.n <= {_CROWDED}")
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE _fine_{key} AS SELECT * FROM _ri SEMI JOIN ({fine}) USING ({columns}, {key})")
            by_key.append(f"{pairs} FROM _fine_{key} i JOIN _re e ON {join} AND i.{key} = e.{key} WHERE {window}")
        return f"""
            {pairs} FROM _few_i i JOIN _few_e e ON {join} WHERE {window}
            UNION ALL (
                {pairs} FROM (SELECT *, unnest([place // {_BAND} - 1, place // {_BAND}, place // {_BAND} + 1]) AS band FROM _ri) i
                JOIN (SELECT *, place // {_BAND} AS band FROM _re) e ON {join} AND i.band = e.band
                WHERE abs(i.place - e.place) <= {_BAND} AND ({window})
                UNION {' UNION '.join(by_key)})
        """, True

    def _refresh_bank(self, bank: dict, flags: set[str]) -> None:
        """Drop pairs with a record grouped since, and add the reference flags a pass needs."""
        if bank["at"] == self.batches and not flags:
            return
        table = bank["table"]
        if bank["at"] != self.batches:
            pairs = self.con.sql(f"SELECT ik, ek FROM {table}").to_arrow_table()
            ik, ek = pairs.column("ik").to_numpy(), pairs.column("ek").to_numpy()
            self.con.register("_keep", _arrow_table(keep=(self.gid["i"][ik - 1] == 0) & (self.gid["e"][ek - 1] == 0)))
            # A positional join runs on one thread: it only filters here, and the reference
            # keys below are computed afterwards, on all threads.
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT b.* FROM {table} b POSITIONAL JOIN _keep WHERE _keep.keep")
            self.con.unregister("_keep")
            if not flags:
                bank["at"] = self.batches
                return
        inner, outer, scratch = ["b.*"], ["*"], []
        if "ref_eq" in flags:
            outer.append("ir <> '' AND ir = er AS ref_eq")
        for flag, key in (("norm_eq", REFERENCE_NORMALISED), ("dig_eq", REFERENCE_DIGITS)):
            if flag in flags:
                # Each side's key is computed once, not at all for an empty reference, and
                # only once for equal references.
                inner += [f"CASE WHEN ir <> '' AND er <> '' THEN {key.format(r='ir')} END AS _{flag}_i",
                          f"CASE WHEN ir <> '' AND er <> '' AND ir <> er THEN {key.format(r='er')} END AS _{flag}_e"]
                outer.append(f"coalesce(_{flag}_i <> '' AND (ir = er OR _{flag}_i = _{flag}_e), false) AS {flag}")
                scratch += [f"_{flag}_i", f"_{flag}_e"]
        if scratch:
            outer[0] = f"* EXCLUDE ({', '.join(scratch)})"
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} FROM {table} b)")
        bank["at"] = self.batches
        bank["flags"] |= flags

    def _tolerance_candidates(self, rule_pass: Pass) -> str:
        need_scores = rule_pass.reference == "ignore"
        left, right = open_side_sql(rule_pass, self._open("i"), need_scores), open_side_sql(rule_pass, self._open("e"), need_scores)
        join = " AND ".join(equality_conditions(rule_pass))
        bucket = amount_bucket_sql(rule_pass, "o")
        # Each book record meets the statement records of its own and neighbouring amount
        # buckets. Where a bucket is full, it meets them day by day within the window, and one
        # with more than _POOL_PAIRS of them is too crowded to choose from (pairing all would
        # grow with the square of their number).
        alike = [*rule_pass.equality_keys, *(["rkey"] if rule_pass.reference != "ignore" else []), "bucket"]
        dd = "bidx" if rule_pass.business_days else "day"
        statement = f"(SELECT *, {bucket} AS bucket, {dd} AS dd FROM {right} AS o)"
        buckets = f"(SELECT *, unnest([{bucket} - 1, {bucket}, {bucket} + 1]) AS bucket FROM {left} AS o)"
        if self._largest_count(f"(SELECT {', '.join(alike)}, count(*) AS n FROM {statement} GROUP BY ALL)") * 3 <= _POOL_PAIRS:
            source = f"{buckets} AS i JOIN {statement} AS e ON i.bucket = e.bucket AND {join}"
        else:
            near = f"(SELECT *, {dd} + unnest(range({-rule_pass.date_window}, {rule_pass.date_window + 1})) AS at FROM {buckets})"
            cells = f"(SELECT {', '.join(alike)}, dd, count(*) AS n FROM {statement} GROUP BY ALL)"
            cell_join = " AND ".join([f"i.{k} = c.{k}" for k in alike] + ["c.dd = i.at"])
            # Materialised first, so that no join order can pair the crowded records after all.
            self.con.execute(f"""
                CREATE OR REPLACE TEMP TABLE _roomy AS
                SELECT * FROM {near} SEMI JOIN (SELECT i.k FROM {near} i JOIN {cells} c ON {cell_join} GROUP BY i.k
                                                 HAVING sum(c.n) <= {_POOL_PAIRS}) USING (k)
            """)
            source = f"_roomy AS i JOIN {statement} AS e ON i.bucket = e.bucket AND e.dd = i.at AND {join}"
        days = "abs(e.bidx - i.bidx)" if rule_pass.business_days else "abs(e.day - i.day)"
        rmis = ("CASE WHEN (i.ref_norm <> '' AND i.ref_norm = e.ref_norm) OR (i.ref_digits <> '' AND i.ref_digits = e.ref_digits) "
                "THEN 0 ELSE 1 END") if need_scores else "0"
        where = [f"{days} <= {rule_pass.date_window}"] + tolerance_filters(rule_pass)
        return f"""
            SELECT i.k AS ik, e.k AS ek, abs(e.micro - i.micro) AS adiff, CAST({rmis} AS TINYINT) AS rmis,
                   CAST(abs(e.day - i.day) AS INTEGER) AS ddiff, e.micro - i.micro AS diff_micro, CAST(e.day - i.day AS INTEGER) AS days_diff
            FROM {source}
            WHERE {' AND '.join(where)}
        """

    def _largest_count(self, counts: str) -> int:
        """The largest ``n`` of a query of counts: when small, no record can be crowded."""
        return self.con.execute(f"SELECT coalesce(max(n), 0) FROM {counts}").fetchall()[0][0]

    def _one_to_one(self, pass_no: int, rule_pass: Pass, candidates: str) -> None:
        con = self.con
        con.execute(f"CREATE OR REPLACE TEMP TABLE cand AS {candidates}")
        con.execute("CREATE OR REPLACE TEMP TABLE taken (ik INTEGER, ek INTEGER, ambiguous BOOLEAN, diff_micro BIGINT, days_diff INTEGER)")
        # Records tied with a pair whose tie was broken by id: whatever they pair with later is
        # part of the same ambiguity, so it is proposed too.
        con.execute("CREATE OR REPLACE TEMP TABLE tainted (side VARCHAR, k INTEGER)")
        # Most pairs are each other's only candidate: taken at once, with counts rather than
        # rankings. The rest is left exactly as the first round of choices would leave it.
        con.execute("""
            CREATE OR REPLACE TEMP TABLE newly AS
            SELECT c.* FROM cand c
            SEMI JOIN (SELECT ik FROM cand GROUP BY ik HAVING count(*) = 1) a ON c.ik = a.ik
            SEMI JOIN (SELECT ek FROM cand GROUP BY ek HAVING count(*) = 1) b ON c.ek = b.ek
        """)
        con.execute("INSERT INTO taken SELECT ik, ek, false, diff_micro, days_diff FROM newly")
        con.execute("CREATE OR REPLACE TEMP TABLE cand AS SELECT c.* FROM cand c ANTI JOIN newly n ON c.ik = n.ik")
        while con.execute("SELECT count(*) FROM cand").fetchall()[0][0]:
            con.execute("""
                CREATE OR REPLACE TEMP TABLE ranked AS
                SELECT *,
                       row_number() OVER (PARTITION BY ik ORDER BY adiff, rmis, ddiff, ek) AS rn_i,
                       row_number() OVER (PARTITION BY ek ORDER BY adiff, rmis, ddiff, ik) AS rn_e,
                       count(*) OVER (PARTITION BY ik, adiff, rmis, ddiff) AS same_i,
                       count(*) OVER (PARTITION BY ek, adiff, rmis, ddiff) AS same_e
                FROM cand
            """)
            clear = con.execute("SELECT count(*) FROM ranked WHERE rn_i = 1 AND rn_e = 1 AND same_i = 1 AND same_e = 1").fetchall()[0][0]
            if clear:
                chosen = "SELECT * FROM ranked WHERE rn_i = 1 AND rn_e = 1 AND same_i = 1 AND same_e = 1"
            else:
                # Only ties are left. Among the pairs best for both records, the n-th candidate
                # of a record is paired with the record whose n-th candidate it is: a block of
                # interchangeable records (same account, amount and date) is paired in id order
                # at once, not one pair a round. Every such pair is tied, so only proposed.
                chosen = """
                    SELECT * FROM (
                        SELECT *, row_number() OVER (PARTITION BY ik ORDER BY ek) AS pos_i,
                                  row_number() OVER (PARTITION BY ek ORDER BY ik) AS pos_e
                        FROM (SELECT *, dense_rank() OVER (PARTITION BY ik ORDER BY adiff, rmis, ddiff) AS best_i,
                                        dense_rank() OVER (PARTITION BY ek ORDER BY adiff, rmis, ddiff) AS best_e
                              FROM ranked)
                        WHERE best_i = 1 AND best_e = 1)
                    WHERE pos_i = pos_e
                    QUALIFY row_number() OVER (PARTITION BY ik ORDER BY ek) = 1 AND row_number() OVER (PARTITION BY ek ORDER BY ik) = 1
                """
            con.execute(f"""
                CREATE OR REPLACE TEMP TABLE newly AS
                SELECT r.ik, r.ek, r.adiff, r.rmis, r.ddiff, r.diff_micro, r.days_diff, (r.same_i > 1 OR r.same_e > 1) AS tied,
                       (r.same_i > 1 OR r.same_e > 1
                        OR r.ik IN (SELECT k FROM tainted WHERE side = 'i')
                        OR r.ek IN (SELECT k FROM tainted WHERE side = 'e')) AS ambiguous
                FROM ({chosen}) r
            """)
            if not clear:
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
        taken = con.sql("SELECT * FROM taken ORDER BY ik").to_arrow_table()
        if taken.num_rows == 0:
            return
        ik, ek = taken.column("ik").to_numpy(), taken.column("ek").to_numpy()
        ambiguous = taken.column("ambiguous").to_numpy(zero_copy_only=False)
        gids = self._next_group_numbers(len(ik))
        self.gid["i"][ik - 1] = gids
        self.gid["e"][ek - 1] = gids
        ones = np.ones(len(ik), np.int32)
        self.groups.add(pass_no=np.full(len(ik), pass_no, np.int16),
                        proposed=ambiguous | (rule_pass.status == "proposed"), note=ambiguous.astype(np.int8),
                        diff_micro=taken.column("diff_micro").to_numpy(), days_diff=taken.column("days_diff").to_numpy(),
                        n_internal=ones, n_external=ones)

    def _next_group_numbers(self, count: int) -> np.ndarray:
        first = self.groups.count + 1
        self.batches += 1
        return np.arange(first, first + count, dtype=np.int32)

    def _add_multi(self, pass_no: int, group: np.ndarray, side: np.ndarray, k: np.ndarray, proposed: np.ndarray, note: np.ndarray) -> None:
        """Groups of several records: member rows (local group, side 0/1, k), numbered by first book record."""
        count = len(proposed)
        internal, external = side == 0, side == 1
        first = np.full(count, np.iinfo(np.int32).max, np.int64)
        np.minimum.at(first, group[internal], k[internal])
        order = np.argsort(first, kind="stable")
        gid_of = np.empty(count, np.int32)
        gid_of[order] = self._next_group_numbers(count)
        self.gid["i"][k[internal] - 1] = gid_of[group[internal]]
        self.gid["e"][k[external] - 1] = gid_of[group[external]]
        micro_i, micro_e = self.micro["i"][k[internal] - 1], self.micro["e"][k[external] - 1]
        day_i, day_e = self.day["i"][k[internal] - 1], self.day["e"][k[external] - 1]
        diff = np.zeros(count, np.int64)
        np.add.at(diff, group[external], micro_e)
        np.subtract.at(diff, group[internal], micro_i)
        big, small = np.iinfo(np.int32).max, np.iinfo(np.int32).min
        i0, i1, e0, e1 = (np.full(count, v, np.int64) for v in (big, small, big, small))
        np.minimum.at(i0, group[internal], day_i)
        np.maximum.at(i1, group[internal], day_i)
        np.minimum.at(e0, group[external], day_e)
        np.maximum.at(e1, group[external], day_e)
        late, early = e1 - i0, e0 - i1
        days = np.where(np.abs(late) >= np.abs(early), late, early)
        self.groups.add(pass_no=np.full(count, pass_no, np.int16)[order], proposed=proposed[order], note=note[order],
                        diff_micro=diff[order], days_diff=days[order].astype(np.int32),
                        n_internal=np.bincount(group[internal], minlength=count).astype(np.int32)[order],
                        n_external=np.bincount(group[external], minlength=count).astype(np.int32)[order])

    def _subset_pass(self, pass_no: int, rule_pass: Pass) -> None:
        """1:n or n:1 by bounded subset search around each open record of the 'one' side.

        Candidates are gathered in SQL: open records of the other side with the same keys and
        sign, a smaller amount, within the date window, the nearest ``max_candidates`` by days
        then id. Each record is joined day by day within its window, never to a whole account;
        a record whose window holds more than ``_POOL`` records of the other side alike in keys
        and sign is not searched: among so many, any combination found would be a guess, and
        pairing them all would grow with the square of their number.
        """
        one, many = ("i", "e") if rule_pass.cardinality == "1:n" else ("e", "i")
        day = "o.bidx" if rule_pass.business_days else "o.day"
        ref = REFERENCE_KEY[rule_pass.reference].format(r="o.reference") if rule_pass.reference != "ignore" else "''"
        alike = [*rule_pass.equality_keys, *(["rkey"] if rule_pass.reference != "ignore" else []), "sgn"]
        join = " AND ".join(f"t.{k} = c.{k}" for k in alike)
        offsets = f"unnest(range({-rule_pass.date_window}, {rule_pass.date_window + 1}))"
        candidates = f"(SELECT o.*, {day} AS dd, {ref} AS rkey, sign(o.micro) AS sgn FROM {self._open(many)} o WHERE o.micro <> 0)"
        per_day = f"(SELECT {', '.join(alike)}, dd, count(*) AS n FROM {candidates} GROUP BY ALL)"
        searched = "o.micro <> 0" + (f" AND {ref} <> ''" if rule_pass.reference != "ignore" else "")
        near = (f"(SELECT *, dd + {offsets} AS at FROM (SELECT o.*, {day} AS dd, {ref} AS rkey, sign(o.micro) AS sgn "
                f"FROM {self._open(one)} o WHERE {searched}))")
        roomy = near
        if self._largest_count(per_day) * (2 * rule_pass.date_window + 1) > _POOL:
            # The records to search, with their window's days, materialised first so that no
            # join order can pair a crowded window after all.
            self.con.execute(f"""
                CREATE OR REPLACE TEMP TABLE _roomy AS
                SELECT * FROM {near} SEMI JOIN (SELECT t.k FROM {near} t JOIN {per_day} c ON {join} AND c.dd = t.at GROUP BY t.k
                                                 HAVING sum(c.n) <= {_POOL}) USING (k)
            """)
            roomy = "_roomy"
        grouped = self.con.sql(f"""
            WITH c AS {candidates},
                 pairs AS (
                    SELECT t.k AS tk, t.micro AS target, c.k AS ck, c.micro AS amount
                    FROM {roomy} t JOIN c ON {join} AND c.dd = t.at
                    WHERE abs(c.micro) < abs(t.micro)
                    QUALIFY row_number() OVER (PARTITION BY t.k ORDER BY abs(c.dd - t.dd), c.k)
                            <= {min(rule_pass.max_candidates, MAX_CANDIDATES)})
            SELECT tk, any_value(target) AS target, list(ck ORDER BY ck) AS keys, list(amount ORDER BY ck) AS amounts
            FROM pairs GROUP BY tk HAVING count(*) >= 2 ORDER BY tk
        """).to_arrow_table()
        if grouped.num_rows == 0:
            return
        targets = grouped.column("target").to_numpy()
        tolerance = int(rule_pass.amount_tolerance * MICRO)
        if rule_pass.has_tolerance:
            allowed = np.array([_allowed_difference(rule_pass, int(t), tolerance) for t in targets], dtype=np.int64)
        else:
            allowed = np.zeros(len(targets), dtype=np.int64)
        keys_list, amounts = grouped.column("keys").combine_chunks(), grouped.column("amounts").combine_chunks()
        solutions_of = find_subsets(targets, allowed, keys_list.offsets.to_numpy(), keys_list.values.to_numpy(),
                                    amounts.values.to_numpy(), rule_pass.max_group_size)
        target_keys = grouped.column("tk").to_numpy()
        found = {int(target_keys[row]): solutions for row, solutions in solutions_of.items()}
        # A unique solution whose records no other target could use is clear; the others are
        # taken as proposals, in id order, so the outcome never depends on input order.
        usage = defaultdict(int)
        for solutions in found.values():
            for member in {m for s in solutions for m in s}:
                usage[member] += 1
        used: set[int] = set()
        group, side, members, proposed = [], [], [], []
        one_side = 0 if one == "i" else 1
        for target_k in sorted(found):
            solutions = [s for s in found[target_k] if not used.intersection(s)]
            if not solutions:
                continue
            chosen = solutions[0]
            used.update(chosen)
            number = len(proposed)
            proposed.append(not (len(found[target_k]) == 1 and all(usage[m] == 1 for m in chosen)))
            group += [number] * (len(chosen) + 1)
            side += [one_side] + [1 - one_side] * len(chosen)
            members += [target_k, *chosen]
        if not proposed:
            return
        ambiguous = np.array(proposed, bool)
        self._add_multi(pass_no, np.array(group, np.int64), np.array(side, np.int8), np.array(members, np.int64),
                        ambiguous | (rule_pass.status == "proposed"), np.where(ambiguous, 2, 0).astype(np.int8))

    def _many_to_many(self, pass_no: int, rule_pass: Pass) -> None:
        """n:m by a shared key: all open records with the same key on both sides, sums within tolerance."""
        keys = list(dict.fromkeys(list(rule_pass.equality_keys) + list(rule_pass.group_by)))
        key_list = ", ".join(keys)
        join = " AND ".join(f"gi.{k} = ge.{k}" for k in keys)
        oi, oe = self._open("i"), self._open("e")
        self.con.execute(f"""
            CREATE OR REPLACE TEMP TABLE nm AS
            WITH gi AS (SELECT {key_list}, sum(micro) AS micro, count(*) AS n, min(date) AS d0, max(date) AS d1, min(k) AS first
                        FROM {oi} GROUP BY ALL),
                 ge AS (SELECT {key_list}, sum(micro) AS micro, count(*) AS n, min(date) AS d0, max(date) AS d1
                        FROM {oe} GROUP BY ALL)
            SELECT {', '.join(f'gi.{k}' for k in keys)}, CAST(row_number() OVER (ORDER BY gi.first) - 1 AS BIGINT) AS grp
            FROM gi JOIN ge ON {join}
            WHERE gi.n + ge.n > 2
              AND date_diff('day', least(gi.d0, ge.d0), greatest(gi.d1, ge.d1)) <= {rule_pass.date_window}
              AND {' AND '.join(tolerance_filters(rule_pass, 'gi.micro', 'ge.micro'))}
        """)
        match = " AND ".join(f"o.{k} = g.{k}" for k in keys)
        members = self.con.sql(f"""
            SELECT g.grp, CAST(0 AS TINYINT) AS side, o.k FROM {oi} o JOIN nm g ON {match}
            UNION ALL
            SELECT g.grp, CAST(1 AS TINYINT), o.k FROM {oe} o JOIN nm g ON {match}
        """).to_arrow_table()
        if members.num_rows == 0:
            return
        group = members.column("grp").to_numpy()
        count = int(group.max()) + 1
        self._add_multi(pass_no, group, members.column("side").to_numpy(), members.column("k").to_numpy().astype(np.int64),
                        np.full(count, rule_pass.status == "proposed"), np.zeros(count, np.int8))

    # Results ---------------------------------------------------------------------------

    def finish(self, scale: int) -> None:
        """Build the result tables (:func:`core.matching.results.write_result_tables`)."""
        # The passes' working tables go first, to make room for the results.
        for table in sorted(self._temp_tables() - self.callers_temp - {"_i", "_e"}):
            self.con.execute(f"DROP TABLE {table}")
        write_result_tables(self.con, [rule_pass.name for rule_pass in self.rules.passes], self.groups, self.gid, scale,
                            self.account_shown)

    def summary(self) -> dict:
        return summarise(self.con, [rule_pass.name for rule_pass in self.rules.passes], self.groups)


def _allowed_difference(rule_pass: Pass, micro: int, tolerance: int) -> int:
    """The largest |sum - target| a group may have: the stricter of the pass's tolerances."""
    limits = []
    if rule_pass.amount_tolerance > 0:
        limits.append(tolerance)
    if rule_pass.amount_tolerance_pct > 0:
        limits.append(int(abs(micro) * rule_pass.amount_tolerance_pct / 100))
    return min(limits) if limits else 0
