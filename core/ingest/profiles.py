"""Mapping profiles: how one source's columns become canonical columns.

A profile is a TOML file in the profiles folder; its file name (without ``.toml``) is its
name. Every key is checked on load, so a misspelt key is an error, not silently ignored::

    description = "Example Bank business account, CSV download"

    [read]              # all optional: detected from the content when left out
    format = "csv"      # csv | xlsx
    encoding = "cp1252"
    delimiter = ";"
    decimal = ","       # decimal separator of amounts
    sheet = "Transactions"
    header_row = 4      # 1-based row of the column titles; rows above are title rows
    skip_rows = 0       # leading rows to ignore before looking for the header
    skip_footer = 1     # trailing rows to leave out

    [columns]           # canonical name = source column title
    date = "Value Date"
    debit = "Withdrawals"
    credit = "Deposits"
    reference = "Cheque/Ref"

    [parse]
    date_format = "%d.%m.%Y"

    [amount]
    flip_sign = false   # true when the source writes money out as positive

    [defaults]          # used when the source has no such column
    account = "DE89370400440532013000"
    currency = "EUR"

    [[skip]]            # leave out rows whose cell equals / matches
    column = "Type"
    equals = ["OPENING BALANCE", "CLOSING BALANCE"]

    [[pending]]         # rows not yet booked: left out, with a warning counting them
    column = "State"
    equals = ["PENDING"]

    [signature]         # recognise the layout without being asked (see core.ingest.known_layouts)
    titles = ["Date", "Gross", "Fee", "Net", "Transaction ID"]

A file with no header row names its fields in order (``[read] headerless = true`` and
``titles = [...]``); its signature is then a regular expression per field title, checked on
the first data rows (``[signature.patterns]``).
"""

from __future__ import annotations

import os
import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core import config
from core.domain.records import CREDIT_MARKERS, DEBIT_MARKERS, TRANSACTION_COLUMNS
from core.domain.validation import problems
from core.ingest.known_layouts import LAYOUTS_DIR

__all__ = [
    "Profile",
    "ProfileError",
    "ProfileInfo",
    "list_layouts",
    "list_profiles",
    "load_profile",
    "parse_profile",
    "save_profile_text",
]

SOURCE_ONLY_COLUMNS = ("debit", "credit", "indicator")
MAPPABLE_COLUMNS = TRANSACTION_COLUMNS + SOURCE_ONLY_COLUMNS
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ProfileError(ValueError):
    """A profile is missing or not valid; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReadSection(_Strict):
    format: Literal["csv", "xlsx", "mt940", "camt053", "bai2", "ofx"] | None = None
    encoding: str | None = None
    delimiter: str | None = Field(default=None, min_length=1, max_length=2)
    quotechar: str = Field(default='"', min_length=1, max_length=1)
    decimal: Literal[".", ","] | None = None
    sheet: str | None = None
    header_row: int | None = Field(default=None, ge=1)
    skip_rows: int = Field(default=0, ge=0)
    skip_footer: int = Field(default=0, ge=0)
    headerless: bool = False
    titles: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _titles_for_headerless(self) -> ReadSection:
        if self.headerless != bool(self.titles):
            raise ValueError("a file without a header (headerless = true) names its fields in 'titles', and only such a file")
        if self.headerless and self.header_row:
            raise ValueError("headerless and header_row exclude each other")
        return self


class ParseSection(_Strict):
    date_format: str | None = None
    trade_date_format: str | None = None
    entry_date_format: str | None = None


class AmountSection(_Strict):
    """How the amount is found. For trade files the cash amount can be computed:
    quantity x price, plus fees on a buy and less fees on a sell, rounded half-up to
    ``round``; ``direction`` names the buy/sell column and the markers say which is which."""

    flip_sign: bool = False
    subtract: tuple[str, ...] = ()
    debit_markers: tuple[str, ...] = DEBIT_MARKERS
    credit_markers: tuple[str, ...] = CREDIT_MARKERS
    quantity: str | None = None
    price: str | None = None
    fees: tuple[str, ...] = ()
    direction: str | None = None
    round: Decimal = Decimal("0.01")

    @model_validator(mode="after")
    def _trade_columns_together(self) -> AmountSection:
        if (self.quantity is None) != (self.price is None) or (self.quantity is not None and self.direction is None):
            raise ValueError("a computed amount needs quantity, price and direction together")
        return self


class DefaultsSection(_Strict):
    account: str | None = None
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")


class SkipRule(_Strict):
    column: str
    equals: tuple[str, ...] = ()
    matches: str | None = None

    @field_validator("matches")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression ({exc})") from None
        return pattern


class SignatureSection(_Strict):
    """How a layout is recognised: every title present in one header row (compared as
    titles are: case and signs ignored), or for a headerless layout a pattern per field."""

    titles: tuple[str, ...] = ()
    patterns: dict[str, str] = {}

    @field_validator("patterns")
    @classmethod
    def _patterns_compile(cls, patterns: dict[str, str]) -> dict[str, str]:
        for title, pattern in patterns.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{title}: not a valid regular expression ({exc})") from None
        return patterns


class Profile(_Strict):
    """A validated mapping profile. ``columns`` maps canonical names to source titles."""

    name: str = "auto"
    description: str = ""
    read: ReadSection = ReadSection()
    columns: dict[str, str] = {}
    parse: ParseSection = ParseSection()
    amount: AmountSection = AmountSection()
    defaults: DefaultsSection = DefaultsSection()
    skip: tuple[SkipRule, ...] = ()
    pending: tuple[SkipRule, ...] = ()
    signature: SignatureSection | None = None

    @field_validator("columns")
    @classmethod
    def _known_columns(cls, columns: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(columns) - set(MAPPABLE_COLUMNS))
        if unknown:
            raise ValueError(f"unknown canonical column(s) {unknown}; known: {list(MAPPABLE_COLUMNS)}")
        if "amount" in columns and {"debit", "credit"} & set(columns):
            raise ValueError("map either 'amount' or 'debit'/'credit', not both")
        return columns

    @model_validator(mode="after")
    def _one_way_to_the_amount(self) -> Profile:
        if self.amount.quantity is not None and {"amount", "debit", "credit"} & set(self.columns):
            raise ValueError("a computed amount (amount.quantity/price) replaces the amount columns; map none of them")
        return self

    @model_validator(mode="after")
    def _signature_fits_the_read(self) -> Profile:
        signature = self.signature
        if signature is None:
            return self
        if self.read.headerless:
            unknown = sorted(set(signature.patterns) - set(self.read.titles))
            if not signature.patterns or signature.titles or unknown:
                raise ValueError("the signature of a headerless layout is [signature.patterns], keyed by titles of read.titles"
                                 + (f" (not among them: {unknown})" if unknown else ""))
        elif not signature.titles or signature.patterns:
            raise ValueError("a signature names the header's titles (signature.titles); patterns are for headerless layouts")
        return self

    @model_validator(mode="after")
    def _headerless_columns_are_fields(self) -> Profile:
        if self.read.headerless:
            unknown = sorted(set(self.columns.values()) - set(self.read.titles))
            if unknown:
                raise ValueError(f"columns {unknown} are not among read.titles")
        return self


class ProfileInfo(NamedTuple):
    name: str
    description: str
    path: Path


def parse_profile(text: str, name: str, source: str = "<text>") -> Profile:
    """Validate profile TOML text.

    Raises:
        ProfileError: the TOML does not parse or a key or value is wrong.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{source}: not valid TOML ({exc})") from None
    raw.setdefault("name", name)
    try:
        return Profile.model_validate(raw)
    except ValidationError as exc:
        found = "; ".join(f"{'.'.join(str(p) for p in location) or 'profile'}: {message}" for location, message in problems(exc, Profile))
        raise ProfileError(f"{source}: {found}") from None


def load_profile(name_or_path: str, folder: Path | None = None) -> Profile:
    """Load a profile by name from the profiles folder (else a shipped layout of that name),
    or from a path to a TOML file."""
    path = Path(name_or_path)
    if path.suffix != ".toml" or not path.exists():
        path = (folder or config.profiles_dir()) / f"{name_or_path}.toml"
    if not path.is_file() and _NAME.match(name_or_path):
        path = LAYOUTS_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        known = ", ".join(p.name for p in list_profiles(folder)) or "none"
        layouts = ", ".join(p.name for p in list_layouts())
        raise ProfileError(f"no profile named {name_or_path!r} (known profiles: {known}; shipped layouts: {layouts})")
    return parse_profile(path.read_text(encoding="utf-8"), path.stem, str(path))


def list_layouts() -> list[ProfileInfo]:
    """The shipped layouts of well-known banks and payment providers, by name."""
    return list_profiles(LAYOUTS_DIR)


def list_profiles(folder: Path | None = None) -> list[ProfileInfo]:
    """Every valid profile in the folder, by name. Invalid files are left out of the list."""
    folder = folder or config.profiles_dir()
    found = []
    for path in sorted(folder.glob("*.toml")):
        try:
            profile = parse_profile(path.read_text(encoding="utf-8"), path.stem, str(path))
        except (ProfileError, OSError, UnicodeDecodeError):
            continue
        found.append(ProfileInfo(path.stem, profile.description, path))
    return found


def save_profile_text(name: str, text: str, folder: Path | None = None) -> Profile:
    """Validate and save a profile's TOML under its name; nothing is written if invalid."""
    if not _NAME.match(name):
        raise ProfileError(f"profile name {name!r}: use letters, digits, '.', '_' or '-'")
    profile = parse_profile(text, name)
    folder = folder or config.profiles_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.toml"
    temporary = target.with_suffix(".toml.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, target)
    return profile
