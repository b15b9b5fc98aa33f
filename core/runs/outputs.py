"""The command line's files of a run: ``matches.csv``, ``breaks.csv`` and ``summary.json``
(the CLI contract), written under temporary names and renamed, ``summary.json`` last.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.atomic import publish, temporary_path
from core.exports.writers import neutralised_sql
from core.matching.engine import MatchResult
from core.runs.folder import copy_query

__all__ = ["publish_outputs", "write_match_outputs", "write_outputs"]


_OUTPUTS = {
    # result_items is in this order already (match, book records first, then k). Text that comes from the
    # files or the rule set is neutralised as every export is (core.exports).
    "matches.csv": f"""SELECT match_id, side, {neutralised_sql('record_id')} AS record_id, {neutralised_sql('rule')} AS rule,
                              status, amount_diff, days_diff FROM result_items""",
    "breaks.csv": f"""SELECT side, {neutralised_sql('record_id')} AS record_id, {neutralised_sql('account')} AS account,
                             strftime(date, '%Y-%m-%d') AS date, amount, reason
                      FROM result_breaks""",  # in order of side, account, date and k already
}


def write_outputs(result: MatchResult, folder: Path, written: list[tuple[Path, Path]]) -> None:
    """Write the command line's files under temporary names, listing them in ``written``, summary.json last."""
    folder.mkdir(parents=True, exist_ok=True)
    cursor = result.con.cursor()
    try:
        for name, query in _OUTPUTS.items():
            temporary = temporary_path(folder / name)
            written.append((temporary, folder / name))
            copy_query(cursor, query, temporary, "FORMAT csv, HEADER true")
    finally:
        cursor.close()
    temporary = temporary_path(folder / "summary.json")
    written.append((temporary, folder / "summary.json"))
    temporary.write_text(json.dumps(result.summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def publish_outputs(written: list[tuple[Path, Path]]) -> None:
    """Rename the written files into place, ``summary.json`` last.

    Each file is replaced whole. A set is replaced file by file, so the previous
    ``summary.json`` goes first: a folder that holds a ``summary.json`` holds one run's
    whole set, and one without it, a set still being (or never finished being) replaced.
    """
    if not written:
        return
    (*files, (summary, summary_target)) = written
    summary_target.unlink(missing_ok=True)
    for temporary, target in files:
        publish(temporary, target)
    publish(summary, summary_target)


def write_match_outputs(result: MatchResult, folder: Path) -> None:
    """Write ``matches.csv``, ``breaks.csv`` and ``summary.json`` (the CLI contract).

    Files are written under temporary names and renamed, ``summary.json`` last, so a folder
    with a ``summary.json`` never holds half a result. Identical inputs and rules give
    byte-identical files.
    """
    written: list[tuple[Path, Path]] = []
    try:
        write_outputs(result, folder, written)
        publish_outputs(written)
    finally:
        for temporary, _ in written:
            temporary.unlink(missing_ok=True)

