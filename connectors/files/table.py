"""Read any supported file into a raw table, with the reader its content calls for."""

from __future__ import annotations

from connectors.files import csv_reader, xlsx_reader
from connectors.files.detect import SourceFormatError, detect_format
from connectors.files.raw import RawTable, ReadOptions
from core.domain.findings import RowError

__all__ = ["read_table"]


def read_table(data: bytes, name: str, options: ReadOptions = ReadOptions(), fmt: str | None = None) -> tuple[RawTable | None, list[RowError]]:
    """Read any supported file into a :class:`RawTable`.

    Returns:
        ``(table, errors)``: table is ``None`` when the file could not be read at all.
    """
    try:
        fmt = fmt or detect_format(data, name, options.max_expanded_bytes)
    except SourceFormatError as exc:
        return None, [RowError(name, None, None, None, str(exc))]
    reader = {"csv": csv_reader.read_csv_table, "xlsx": xlsx_reader.read_xlsx_table}.get(fmt)
    if reader is None:
        return None, [RowError(name, None, None, None, f"format {fmt!r} is not known")]
    return reader(data, name, options)
