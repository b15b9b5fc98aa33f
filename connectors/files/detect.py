"""Tell a file's format from its first bytes, not from its name.

Statement files are renamed freely (registrars send XLSX called ``.xls``, banks send CSV
called ``.txt``), so the name is only the last hint.
"""

from __future__ import annotations

import io
import zipfile

__all__ = ["SourceFormatError", "detect_format"]

_ZIP = b"PK\x03\x04"
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


class SourceFormatError(ValueError):
    """The file is not in a format this product reads."""


def detect_format(data: bytes, name: str = "") -> str:
    """Return ``"xlsx"`` or ``"csv"`` for the bytes of a file.

    Raises:
        SourceFormatError: the content is empty or of a kind that is not read (legacy
            binary .xls, PDF, other archives, binary data).
    """
    if not data.strip():
        raise SourceFormatError("the file is empty")
    if data.startswith(_ZIP):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
        except zipfile.BadZipFile as exc:
            raise SourceFormatError(f"the file looks like a ZIP/XLSX workbook but is damaged or truncated ({exc})") from None
        if "xl/workbook.xml" in names:
            return "xlsx"
        raise SourceFormatError("the file is a ZIP archive, not an XLSX workbook")
    if data.startswith(_OLE2):
        raise SourceFormatError("the file is a legacy binary Excel (.xls) workbook; save it as .xlsx or CSV")
    if data.startswith(b"%PDF"):
        raise SourceFormatError("the file is a PDF; PDF statements are not read by this import")
    return "csv"
