"""Delimited text: encoding, delimiter and quoting found from the content.

Encodings are tried in the order that cannot mistake one for another: a byte-order mark
decides; otherwise strict UTF-8, then Windows-1252, then Latin-1 (which reads any byte).
Delimiters are chosen by which one splits the most lines into the same number of fields.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections import Counter

from connectors.files.raw import RawRow, RawTable, ReadOptions
from core.domain.findings import RowError

__all__ = ["decode_text", "read_csv_table", "sniff_delimiter"]

DELIMITERS = (",", ";", "\t", "|")
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_SNIFF_LINES = 200


def decode_text(data: bytes, name: str, encoding: str | None = None) -> tuple[str | None, str | None, list[RowError]]:
    """Decode a text file.

    Returns:
        ``(text, encoding, errors)``. With an explicit ``encoding`` the bytes must be
        valid in it; the error names the row and the field holding the first bad byte.
    """
    if encoding:
        try:
            return data.decode(encoding), encoding, []
        except LookupError:
            return None, None, [RowError(name, None, None, encoding, f"encoding {encoding!r} is not known")]
        except UnicodeDecodeError as exc:
            return None, None, [_decode_error(data, name, encoding, exc)]
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec), codec, []
            except UnicodeDecodeError as exc:
                return None, None, [_decode_error(data, name, codec, exc)]
    if b"\x00" in data[:65536]:
        return None, None, [RowError(name, None, None, None, "the file holds binary data (NUL bytes), not delimited text")]
    for codec in ("utf-8", "cp1252", "latin-1"):
        try:
            return data.decode(codec), codec, []
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte")


def _decode_error(data: bytes, name: str, encoding: str, exc: UnicodeDecodeError) -> RowError:
    line_start = data.rfind(b"\n", 0, exc.start) + 1
    row = data.count(b"\n", 0, exc.start) + 1
    prefix = data[line_start:exc.start].decode("latin-1")
    field = 1 + max(prefix.count(d) for d in DELIMITERS)
    bad = data[exc.start:exc.end].hex(" ").upper()
    return RowError(name, row, f"field {field}", bad, f"byte(s) {bad} are not valid {encoding}; save the file as UTF-8 or fix the profile's encoding")


def sniff_delimiter(text: str, quotechar: str = '"') -> str:
    """The delimiter that splits the most sample lines into one consistent width (>1)."""
    sample = [line for line in text.splitlines()[:_SNIFF_LINES] if line.strip()]
    best, best_key = ",", (False, 0, 0.0)
    for delimiter in DELIMITERS:
        try:
            widths = [len(fields) for fields in csv.reader(sample, delimiter=delimiter, quotechar=quotechar)]
        except csv.Error:
            continue
        if not widths:
            continue
        width, count = Counter(widths).most_common(1)[0]
        consistency = count / len(widths)
        key = (width > 1 and consistency >= 0.6, width if width > 1 else 0, consistency)
        if key > best_key:
            best, best_key = delimiter, key
    return best


def read_csv_table(data: bytes, name: str, options: ReadOptions = ReadOptions()) -> tuple[RawTable | None, list[RowError]]:
    """Read delimited text into rows of text cells, numbered by the line each row starts on."""
    text, encoding, errors = decode_text(data, name, options.encoding)
    if text is None:
        return None, errors
    if not text.strip():
        return None, [RowError(name, None, None, None, "the file is empty")]
    delimiter = options.delimiter or sniff_delimiter(text, options.quotechar)
    if delimiter == "\\t":
        delimiter = "\t"
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar=options.quotechar, strict=True)
    rows: list[RawRow] = []
    line = 0
    try:
        for fields in reader:
            start = line + 1
            line = reader.line_num
            if any(f.strip() for f in fields):
                rows.append(RawRow(start, fields))
    except csv.Error as exc:
        return None, [RowError(name, line + 1, None, None, f"the row cannot be read as delimited text ({exc}); is a quoted field left open, or the file cut short?")]
    if not rows:
        return None, [RowError(name, None, None, None, "the file is empty")]
    return RawTable(rows, "csv", [], encoding=encoding, delimiter=delimiter), []
