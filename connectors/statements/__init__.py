"""Bank statement formats: each reader turns a file into ``Statement`` values, or findings.

A statement is one account's period: opening and closing balance and the entries between
(:mod:`.statement`). Each format is one module whose ``read`` is a
:class:`~connectors.statements.statement.StatementReader`. Turning entries into canonical rows
and checking balances is ``core.ingest.statements``'s job.
"""

from __future__ import annotations

from connectors.statements import bai2, camt053, mt940, ofx
from connectors.statements.statement import Entry, Statement, StatementReader
from core.domain.findings import RowError

__all__ = ["READERS", "Entry", "Statement", "StatementReader", "read_statements"]

READERS: dict[str, StatementReader] = {"mt940": mt940.read, "camt053": camt053.read, "bai2": bai2.read, "ofx": ofx.read}


def read_statements(data: bytes, name: str, fmt: str, pdf_corrections=None, pdf_layouts_dir=None
                    ) -> tuple[list[Statement] | None, list[RowError]]:
    """``(list[Statement] | None, errors)`` for a file in ``fmt`` (a key of :data:`READERS`, or ``pdf``).

    ``pdf_corrections``: a scanned PDF's doubtful rows as a person confirmed them
    (``connectors.documents.RowCorrection`` by row number); ``pdf_layouts_dir``: the site's own
    PDF layouts.
    """
    if fmt == "pdf":
        from connectors import documents  # start-up speed: the PDF libraries load on the first PDF

        return documents.read(data, name, pdf_corrections, pdf_layouts_dir)
    return READERS[fmt](data, name)
