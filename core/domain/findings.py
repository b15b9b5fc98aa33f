"""Findings: what is wrong with an input, as values rather than exceptions.

Every stage returns ``(result, errors)``; an error names the file, row and column so an
analyst can open the file and see the cell. Exceptions are for bugs and misconfiguration.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["RowError", "format_errors"]


class RowError(NamedTuple):
    """One problem found in a source file.

    ``row`` is the row number a person sees when opening the file (1 is the first line or
    the first sheet row); ``None`` for a problem with the file as a whole.
    """

    file: str
    row: int | None
    column: str | None
    value: str | None
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column {self.column!r}")
        return f"{', '.join(where)}: {self.message}"


def format_errors(errors: list[RowError], limit: int = 50) -> str:
    """All findings as lines of text, the first ``limit`` in full and a count of the rest."""
    lines = [str(e) for e in errors[:limit]]
    if len(errors) > limit:
        lines.append(f"... and {len(errors) - limit} more problems")
    return "\n".join(lines)
