"""Statement PDF layouts: how one bank's statement table and summary are found, as TOML.

A layout is a TOML file in ``connectors/documents/layouts/`` (shipped) or a site's own folder
(the profiles folder's ``pdf/`` subfolder, given by the caller); its file name is its name. Every key is checked on load::

    description = "Example Bank business account"

    [columns]              # role = the titles the table header may use (case-insensitive)
    date = ["Date"]
    description = ["Details"]
    debit = ["Paid out"]   # or amount = ["Amount"] for one signed column
    credit = ["Paid in"]
    balance = ["Balance"]

    [parse]
    date_formats = ["%d %b"]   # tried in order; a format without a year takes it from the period
    decimal = "."

    [statement]            # all optional: the generic patterns find the common wordings
    period = 'Period:\\s*(?P<start>.+?)\\s+to\\s+(?P<end>.+)'
    opening = 'Opening balance\\s+(?P<amount>\\S+)'
    closing = 'Closing balance\\s+(?P<amount>\\S+)'
    account = 'Account number:\\s*(?P<account>[\\d -]+)'
    currency = "GBP"

    [signature]            # recognise the layout from the first page's text
    contains = ["Example Bank"]

The ``generic`` layout has no signature and is used when no other layout fits.
"""

from __future__ import annotations

import re
import tomllib
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


__all__ = ["GENERIC", "LAYOUTS_DIR", "PdfLayout", "PdfLayoutError", "choose_pdf_layout", "load_pdf_layout", "pdf_layouts"]

LAYOUTS_DIR = Path(__file__).parent / "layouts"
GENERIC = "generic"

_A_DATE = r"\d{1,2}[ ./-]\w{2,9}[ ./-]\d{2,4}|\w{3,9}\.? \d{1,2},? \d{4}|\d{4}-\d{2}-\d{2}"
_PERIOD = rf"(?:statement\s+period|period|from)\s*:?\s*(?P<start>{_A_DATE})\s*(?:to|until|through|-|–)\s*(?P<end>{_A_DATE})"
_MONEY = r"(?P<amount>-?\(?[$£€]?\s?-?[\d][\d,.' ]*\d\)?(?:\s?(?:CR|DR))?)"
_OPENING = r"(?:opening|beginning|previous|starting)\s+balance\s*:?\s*" + _MONEY
_CLOSING = r"(?:closing|ending|new|final)\s+balance\s*:?\s*" + _MONEY
_ACCOUNT = r"account\s+(?:number|no\.?|#)\s*:?\s*(?P<account>[A-Z]{0,4}[\d][\d -]{2,32}\d)"


class PdfLayoutError(ValueError):
    """A layout is missing or not valid; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnsSection(_Strict):
    date: tuple[str, ...] = Field(min_length=1)
    description: tuple[str, ...] = Field(min_length=1)
    amount: tuple[str, ...] = ()
    debit: tuple[str, ...] = ()
    credit: tuple[str, ...] = ()
    balance: tuple[str, ...] = ()


class ParseSection(_Strict):
    date_formats: tuple[str, ...] = Field(min_length=1)
    decimal: Literal[".", ","] = "."


class StatementSection(_Strict):
    period: str = _PERIOD
    opening: str = _OPENING
    closing: str = _CLOSING
    account: str = _ACCOUNT
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")

    @field_validator("period", "opening", "closing", "account")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return pattern


class SignatureSection(_Strict):
    contains: tuple[str, ...] = ()


class PdfLayout(_Strict):
    name: str = GENERIC
    description: str = ""
    columns: ColumnsSection
    parse: ParseSection
    statement: StatementSection = StatementSection()
    signature: SignatureSection = SignatureSection()

    def titles(self) -> dict[str, tuple[str, ...]]:
        """Each column role and the header titles that name it."""
        return {role: titles for role, titles in self.columns.model_dump().items() if titles}


def parse_pdf_layout(text: str, name: str, source: str = "<text>") -> PdfLayout:
    """A layout from TOML text; ``PdfLayoutError`` names the file and the key at fault."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PdfLayoutError(f"{source}: not valid TOML ({exc})") from None
    try:
        return PdfLayout(name=name, **data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise PdfLayoutError(f"{source}: {problems}") from None


def load_pdf_layout(path: Path) -> PdfLayout:
    return parse_pdf_layout(path.read_text(encoding="utf-8"), path.stem, str(path))


@cache
def _shipped() -> tuple[PdfLayout, ...]:
    return tuple(load_pdf_layout(p) for p in sorted(LAYOUTS_DIR.glob("*.toml")))


def pdf_layouts(own_dir: Path | None = None) -> list[PdfLayout]:
    """The shipped layouts and the site's own (``own_dir/*.toml``), the site's first."""
    own = [load_pdf_layout(p) for p in sorted(own_dir.glob("*.toml"))] if own_dir is not None and own_dir.is_dir() else []
    return own + list(_shipped())


def choose_pdf_layout(first_page_text: str, own_dir: Path | None = None) -> PdfLayout:
    """The first layout whose signature text is all on the first page, else the generic one."""
    layouts = pdf_layouts(own_dir)
    lowered = first_page_text.lower()
    for layout in layouts:
        if layout.signature.contains and all(s.lower() in lowered for s in layout.signature.contains):
            return layout
    return next(layout for layout in layouts if layout.name == GENERIC)
