"""What the engine gives back: the result tables built from the groups made, their summary,
and :class:`MatchResult`, which reads them (with a sentence per group saying what differed).
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

import duckdb
import numpy as np
import pyarrow as pa

from core.domain.money import canonical_decimal
from core.matching.sql import FROM_MICRO, REFERENCE_NORMALISED, SIDES

__all__ = ["GroupColumns", "MatchResult", "NOTES", "summarise", "write_result_tables"]

NOTES = ("", "tied with another candidate on amount, reference and date",
          "another combination of records could also make this amount")


class GroupColumns:
    """Groups made so far, one entry per group number (1, 2, ...), as numpy columns."""

    def __init__(self) -> None:
        self.parts: list[dict[str, np.ndarray]] = []
        self.count = 0

    def add(self, **columns: np.ndarray) -> None:
        self.parts.append(columns)
        self.count += len(columns["pass_no"])

    def column(self, name: str) -> np.ndarray:
        return np.concatenate([part[name] for part in self.parts]) if self.parts else np.zeros(0, np.int64)


class MatchResult(NamedTuple):
    """The engine's output, kept in DuckDB; read it as Arrow or write it with ``COPY``.

    ``groups``: match_id, rule, status, amount_diff, days_diff, n_internal, n_external,
    explanation (built when read). ``items``: match_id, side, record_id, account, date,
    amount, currency. The table ``result_items`` holds the items in order of match, book
    records first, each with its group's rule, status, amount_diff and days_diff.
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
                       CASE WHEN g.amount_diff = 0 THEN 'amounts agree' ELSE 'amounts differ by ' || CASE  -- at its own scale
                            WHEN g.amount_diff = round(g.amount_diff, 2) THEN CAST(CAST(g.amount_diff AS DECIMAL(38, 2)) AS VARCHAR)
                            ELSE rtrim(CAST(g.amount_diff AS VARCHAR), '0') END END,
                       CASE WHEN s.i0 = s.e0 AND s.i1 = s.e1 THEN 'same date'
                            ELSE 'books ' || strftime(s.i0, '%Y-%m-%d') || ', statement ' || strftime(s.e0, '%Y-%m-%d') END,
                       CASE WHEN s.refs IS NOT NULL THEN 'references ' || s.refs END,
                       nullif(g.note, '')) AS explanation
            FROM chosen g JOIN s USING (match_id)
            ORDER BY g.match_id
        """).to_arrow_table()

    @property
    def items(self) -> pa.Table:
        return self.con.sql("SELECT match_id, side, record_id, account, date, amount, currency FROM result_items "
                            "ORDER BY match_id, side, record_id").to_arrow_table()

    @property
    def breaks(self) -> pa.Table:
        return self.con.sql("SELECT * EXCLUDE (k, dataset_id, carried_from, first_seen_on) FROM result_breaks "
                            "ORDER BY side, record_id").to_arrow_table()


def write_result_tables(con, names: list[str], groups: GroupColumns, gid: dict[str, np.ndarray], scale: int,
                        account_shown: str = "account") -> None:
    """Build ``result_groups``, ``result_items`` and ``result_breaks`` from the groups made and each record's group.

    Args:
        names: the passes' names, in order.
        gid: per side (``i``, ``e``), each record's group number in order of ``k``; 0 for an open record.
        scale: the inputs' decimal scale, which the result amounts keep.
        account_shown: the column holding each record's account as its source wrote it
            (``account`` itself holds the key the passes compared).
    """
    money = f"DECIMAL(18, {scale})"
    pass_no = groups.column("pass_no").astype(np.int32)
    con.register("_groups", pa.table({
        "match_id": pa.array(np.arange(1, groups.count + 1, dtype=np.int32)),
        "rule": pa.DictionaryArray.from_arrays(pa.array(pass_no), pa.array(names, pa.string())),
        "status": pa.DictionaryArray.from_arrays(pa.array(groups.column("proposed").astype(np.int8)),
                                                 pa.array(["confirmed", "proposed"])),
        "diff_micro": pa.array(groups.column("diff_micro").astype(np.int64)),
        "days_diff": pa.array(groups.column("days_diff").astype(np.int32)),
        "n_internal": pa.array(groups.column("n_internal").astype(np.int32)),
        "n_external": pa.array(groups.column("n_external").astype(np.int32)),
        "note": pa.DictionaryArray.from_arrays(pa.array(groups.column("note").astype(np.int8)), pa.array(NOTES)),
    }))
    con.execute(f"""
        CREATE OR REPLACE TABLE result_groups AS
        SELECT match_id, CAST(rule AS VARCHAR) AS rule, CAST(status AS VARCHAR) AS status,
               {FROM_MICRO.format(m='diff_micro', money=money)} AS amount_diff,
               days_diff, n_internal, n_external, CAST(note AS VARCHAR) AS note
        FROM _groups
    """)
    con.unregister("_groups")
    # Per record: its group and the group's pass, status and differences, gathered by group
    # number, so that result_items carries what matches.csv needs without a join.
    proposed = groups.column("proposed").astype(np.int8)
    diff_micro, days_diff = groups.column("diff_micro").astype(np.int64), groups.column("days_diff").astype(np.int32)
    for base, _ in SIDES:
        group_of = gid[base]
        at = group_of.astype(np.int64) - 1  # an open record (0) reads the padding after the last group
        con.register(f"_gid_{base}", pa.table({
            "gid": group_of, "pass_no": np.append(pass_no, -1)[at].astype(np.int16),
            "rule": pa.DictionaryArray.from_arrays(pa.array(np.append(pass_no, 0)[at]), pa.array(names, pa.string())),
            "status": pa.DictionaryArray.from_arrays(pa.array(np.append(proposed, 0)[at].astype(np.int8)),
                                                     pa.array(["confirmed", "proposed"])),
            "diff_micro": np.append(diff_micro, 0)[at], "days_diff": np.append(days_diff, 0)[at].astype(np.int32)}))
    side_rows = " UNION ALL ".join(f"""
        SELECT g.gid AS match_id, '{side}' AS side, b.id AS record_id, b.{account_shown} AS account, b.date,
               CAST(b.amount AS {money}) AS amount,
               b.currency, b.reference, b.k, b.dataset_id, b.carried_from, CAST(g.rule AS VARCHAR) AS rule,
               CAST(g.status AS VARCHAR) AS status, {FROM_MICRO.format(m='g.diff_micro', money=money)} AS amount_diff,
               g.days_diff
        FROM {base} b POSITIONAL JOIN _gid_{base} g WHERE g.gid > 0""" for base, side in SIDES)
    con.execute(f"CREATE OR REPLACE TABLE result_items AS {side_rows} ORDER BY match_id, side = 'external', k")
    open_rows, twins = [], []
    for base, side in SIDES:
        open_rows.append(f"SELECT '{side}' AS side, b.* FROM {base} b POSITIONAL JOIN _gid_{base} g WHERE g.gid = 0")
        # Another record of the same side alike in account, currency, date, amount and
        # reference: a possible duplicate. Records are counted by those values, and only
        # records sharing an open record's account, currency, date and amount are read.
        opened = f"(SELECT b.k, b.account, b.currency, b.date, b.micro, b.reference FROM {base} b POSITIONAL JOIN _gid_{base} g WHERE g.gid = 0)"
        alike = "account, currency, date, micro"
        twins.append(f"""
            SELECT '{side}' AS side, o.k
            FROM (SELECT *, {REFERENCE_NORMALISED.format(r='reference')} AS norm FROM {opened}) o
            JOIN (SELECT {alike}, {REFERENCE_NORMALISED.format(r='c.reference')} AS norm FROM {base} c SEMI JOIN {opened} x USING ({alike})
                  GROUP BY ALL HAVING count(*) > 1) t USING ({alike}, norm)""")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _twins AS {' UNION ALL '.join(twins)}")
    con.execute(f"""
        CREATE OR REPLACE TABLE result_breaks AS
        WITH open AS ({' UNION ALL '.join(open_rows)})
        SELECT o.side, o.id AS record_id, o.{account_shown} AS account, o.date, CAST(o.amount AS {money}) AS amount, o.currency,
               o.reference,
               o.description, CASE WHEN t.k IS NOT NULL THEN 'possible_duplicate' ELSE 'unmatched' END AS reason, o.k,
               o.dataset_id, o.carried_from, o.first_seen_on
        FROM open o LEFT JOIN _twins t ON t.side = o.side AND t.k = o.k
        ORDER BY o.side = 'external', o.account, o.date, o.k
    """)


def summarise(con, names: list[str], groups: GroupColumns) -> dict:
    """Counts and totals per pass and per side, and of groups (``summary.json``); call after :func:`write_result_tables`."""
    pass_no, proposed = groups.column("pass_no"), groups.column("proposed").astype(bool)
    n_internal, n_external = groups.column("n_internal"), groups.column("n_external")
    amounts: dict[tuple[int, str], Decimal] = {}
    per_side = {}
    for base, side in SIDES:
        for number, amount in con.execute(f"""
                SELECT g.pass_no, sum(b.amount) FROM {base} b POSITIONAL JOIN _gid_{base} g WHERE g.gid > 0 GROUP BY g.pass_no
            """).fetchall():
            amounts[(number, side)] = amount
        total, amount, opened, open_amount = con.execute(f"""
            SELECT count(*), coalesce(sum(b.amount), 0), count(*) FILTER (WHERE g.gid = 0),
                   coalesce(sum(b.amount) FILTER (WHERE g.gid = 0), 0)
            FROM {base} b POSITIONAL JOIN _gid_{base} g
        """).fetchall()[0]
        per_side[side] = {"records": total, "matched": total - opened, "open": opened, "amount": _amount_text(amount),
                          "open_amount": _amount_text(open_amount)}
        con.unregister(f"_gid_{base}")
    per_pass = {}
    for number, name in enumerate(names):
        mine = pass_no == number
        per_pass[name] = {"groups": int(mine.sum()), "confirmed": int((mine & ~proposed).sum()), "proposed": int((mine & proposed).sum()),
                          "internal_records": int(n_internal[mine].sum()), "external_records": int(n_external[mine].sum()),
                          "internal_amount": _amount_text(amounts.get((number, "internal"), 0)),
                          "external_amount": _amount_text(amounts.get((number, "external"), 0))}
    confirmed = int((~proposed).sum())
    return {"passes": per_pass, "sides": per_side,
            "groups": {"total": groups.count, "confirmed": confirmed, "proposed": groups.count - confirmed}}


def _amount_text(value) -> str:
    """An exact amount as plain text, in the store's canonical form (at least two decimals)."""
    return format(canonical_decimal(Decimal(value)), "f")
