"""Decoding statement text files: UTF-8, else Windows-1252, else Latin-1; binary refused.
Also the withdrawn currencies old statements are written in.

Byte-order marks at the start of a line (one doubled by a tool, or files joined together)
are dropped before decoding, so they are not read as text in any encoding.
"""

import re

from core.domain.findings import RowError

_BOMS = re.compile(rb"^(?:\xef\xbb\xbf)+", re.MULTILINE)


def decode(data: bytes, name: str) -> tuple[str | None, list[RowError]]:
    data = _BOMS.sub(b"", data)
    if b"\x00" in data[:65536]:
        return None, [RowError(name, None, None, None, "the file holds binary data (NUL bytes), not a statement")]
    for codec in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return data.decode(codec), []
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte")


# ISO 4217 codes withdrawn when the euro came (and the ECU before it): old statements and
# archives are written in them, and a statement's balances still check in its own currency.
WITHDRAWN_CURRENCIES = frozenset({"ATS", "BEF", "CYP", "DEM", "EEK", "ESP", "FIM", "FRF", "GRD", "HRK", "IEP", "ITL", "LTL", "LUF",
                                  "LVL", "MTL", "NLG", "PTE", "SIT", "SKK", "XEU"})
