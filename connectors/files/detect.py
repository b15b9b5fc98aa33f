"""Tell a file's format from its first bytes, not from its name.

Statement files are renamed freely (registrars send XLSX called ``.xls``, banks send CSV
called ``.txt``), so the name is only the last hint.
"""

from __future__ import annotations

import io
import re
import zipfile

from connectors.files.raw import DEFAULT_MAX_EXPANDED_BYTES

__all__ = ["STATEMENT_FORMATS", "SourceFormatError", "check_expansion", "detect_format"]

_ZIP = b"PK\x03\x04"
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


# A workbook's parts compress about five to twenty times; a part that expands a hundred
# times more than it takes is a ZIP bomb's mark. Small parts are not worth the question.
_MAX_RATIO = 100
_RATIO_FROM = 16 * 2**20


class SourceFormatError(ValueError):
    """The file is not in a format this product reads."""


def check_expansion(members: list[zipfile.ZipInfo], max_expanded_bytes: int = DEFAULT_MAX_EXPANDED_BYTES) -> None:
    """Refuse an archive from the sizes it declares, before anything is expanded.

    Python's ``zipfile`` never expands a part past its declared size, so these sizes bound
    what reading the workbook can cost.

    Raises:
        SourceFormatError: the parts add up to more than ``max_expanded_bytes``, or one
            part expands more than a hundred times.
    """
    expanded = sum(m.file_size for m in members)
    if expanded > max_expanded_bytes:
        raise SourceFormatError(f"the workbook expands to {expanded / 2**20:,.0f} MB, over the limit of "
                                f"{max_expanded_bytes / 2**20:,.0f} MB; it is refused as a possible ZIP bomb")
    for member in members:
        if member.file_size > _RATIO_FROM and member.file_size > _MAX_RATIO * max(member.compress_size, 1):
            raise SourceFormatError(f"the workbook part {member.filename} expands from {member.compress_size / 2**10:,.0f} KB to "
                                    f"{member.file_size / 2**20:,.0f} MB ({member.file_size // max(member.compress_size, 1):,} times); "
                                    "it is refused as a possible ZIP bomb")


STATEMENT_FORMATS = ("mt940", "camt053", "bai2", "ofx", "pdf")


def detect_format(data: bytes, name: str = "", max_expanded_bytes: int = DEFAULT_MAX_EXPANDED_BYTES) -> str:
    """Return ``xlsx``, ``pdf``, ``mt940``, ``camt053``, ``bai2``, ``ofx`` or ``csv`` for the bytes of a file.

    Raises:
        SourceFormatError: the content is empty or of a kind that is not read (legacy
            binary .xls, other archives, binary data), or a workbook that would expand
            to more than ``max_expanded_bytes`` (:func:`check_expansion`).
    """
    if not data.strip():
        raise SourceFormatError("the file is empty")
    if data.startswith(_ZIP):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                members = archive.infolist()
        except (zipfile.BadZipFile, ValueError, OSError, NotImplementedError) as exc:
            raise SourceFormatError(f"the file looks like a ZIP/XLSX workbook but is damaged or truncated ({exc})") from None
        check_expansion(members, max_expanded_bytes)
        if "xl/workbook.xml" in {m.filename for m in members}:
            return "xlsx"
        raise SourceFormatError("the file is a ZIP archive, not an XLSX workbook")
    if data.startswith(_OLE2):
        raise SourceFormatError("the file is a legacy binary Excel (.xls) workbook; save it as .xlsx or CSV")
    if data.startswith(b"%PDF"):
        return "pdf"
    head = data[:8192].lstrip(b"\xef\xbb\xbf \t\r\n")
    upper = head.upper()
    if upper.startswith(b"OFXHEADER") or b"<OFX>" in upper:
        return "ofx"
    if head.startswith(b"<"):
        if b"BkToCstmrStmt" in data[:65536] or b"camt.053" in data[:65536]:
            return "camt053"
        raise SourceFormatError("the file is XML but not a CAMT.053 bank statement")
    first = head.split(b"\n", 1)[0]
    # The file header's creation date is YYMMDD; some banks write YYYYMMDD.
    if re.match(rb"^01,[^,]*,[^,]*,(?:\d{6}|\d{8}),", first) and re.search(rb"^(02|03),", head, re.MULTILINE):
        return "bai2"
    # Records of two digits, a comma, and a closing slash, but no 01 file header first: the
    # BAI2 reader says what is wrong rather than the CSV reader finding no header.
    if re.match(rb"^\d{2},[^\n]*/\s*$", first) and all(re.match(rb"^\d{2},", line) for line in head.split(b"\n")[:20] if line.strip()):
        return "bai2"
    if head.startswith(b"{1:") or (re.search(rb"^:20:", head, re.MULTILINE) and re.search(rb"^:6[02][FM]:", head, re.MULTILINE)):
        return "mt940"
    # An MT942 interim report, or SWIFT tags without a whole statement: the MT940 reader
    # refuses them by name.
    if re.search(rb"^:(?:34F|13D|13):", head, re.MULTILINE) or re.match(rb"^:(?:\d{2}[A-Z]?|NS):", first):
        return "mt940"
    return "csv"
