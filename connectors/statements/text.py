"""Decoding statement text files: UTF-8, else Windows-1252, else Latin-1; binary refused."""

from core.records import RowError


def decode(data: bytes, name: str) -> tuple[str | None, list[RowError]]:
    if b"\x00" in data[:65536]:
        return None, [RowError(name, None, None, None, "the file holds binary data (NUL bytes), not a statement")]
    for codec in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return data.decode(codec), []
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte")
