"""Rule sets: an ordered list of matching passes, kept as data in TOML.

Each pass says what must be equal (``keys``), how references must agree, how far amounts and
dates may differ, how many records may be grouped on each side, and whether its matches are
``confirmed`` or only ``proposed`` for a person to review::

    name = "default"

    [[passes]]
    name = "reference_and_amount"
    reference = "normalised"        # exact | normalised | digits | ignore
    date_window = 5
    business_days = true
    status = "confirmed"

    [[passes]]
    name = "fee_deducted"
    reference = "digits"
    amount_tolerance = "50.00"      # absolute ...
    amount_tolerance_pct = "1.0"    # ... and percent: a difference must satisfy both
    amount_difference = "external_less"
    status = "proposed"

    [[passes]]
    name = "batch_deposit"
    cardinality = "n:1"             # 1:1 | 1:n | n:1 | n:m
    max_group_size = 6
    date_window = 3

Account and currency are always equality keys unless a pass sets ``cross_account`` or
``cross_currency``.
"""

from __future__ import annotations

import hashlib
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.domain.validation import problems

__all__ = ["Pass", "RuleSet", "RuleSetError", "default_rules_path", "list_rule_files", "load_rules", "parse_rules", "rules_dir"]

KEY_COLUMNS = ("account", "currency", "date", "reference", "counterparty", "type", "trade_date", "entry_date")


class RuleSetError(ValueError):
    """A rule set is not valid; the message names the file, the pass and the key."""


class Pass(BaseModel):
    """One matching pass. Amount tolerances are exact decimals written as strings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    cardinality: Literal["1:1", "1:n", "n:1", "n:m"] = "1:1"
    keys: tuple[str, ...] = ()
    cross_account: bool = False
    cross_currency: bool = False
    reference: Literal["exact", "normalised", "digits", "ignore"] = "ignore"
    amount_tolerance: Decimal = Decimal(0)
    amount_tolerance_pct: Decimal = Decimal(0)
    amount_difference: Literal["any", "external_less", "external_more"] = "any"
    date_window: int = Field(default=0, ge=0, le=366)
    business_days: bool = False
    group_by: tuple[str, ...] = ()
    max_group_size: int = Field(default=6, ge=2, le=8)
    max_candidates: int = Field(default=16, ge=2, le=16)
    status: Literal["confirmed", "proposed"] = "confirmed"

    @field_validator("amount_tolerance", "amount_tolerance_pct", mode="before")
    @classmethod
    def _exact_text(cls, value):
        if isinstance(value, float):
            raise ValueError("write tolerances as strings (\"0.50\"), so they stay exact")
        return value

    @field_validator("amount_tolerance", "amount_tolerance_pct")
    @classmethod
    def _not_negative(cls, value: Decimal) -> Decimal:
        if not value.is_finite() or value < 0:
            raise ValueError("must be a number >= 0")
        return value

    @field_validator("amount_tolerance_pct")
    @classmethod
    def _below_half(cls, value: Decimal) -> Decimal:
        if value >= 50:
            raise ValueError("must be below 50 (percent)")
        return value

    @field_validator("keys", "group_by")
    @classmethod
    def _known_keys(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(keys) - set(KEY_COLUMNS))
        if unknown:
            raise ValueError(f"unknown column(s) {unknown}; use {list(KEY_COLUMNS)}")
        return keys

    @model_validator(mode="after")
    def _cardinality_needs(self) -> Pass:
        if self.cardinality == "n:m" and not self.group_by:
            raise ValueError("an n:m pass needs group_by: the shared key whose sums must agree")
        if self.cardinality == "1:1" and self.group_by:
            raise ValueError("group_by is for 1:n, n:1 and n:m passes")
        return self

    @property
    def equality_keys(self) -> tuple[str, ...]:
        """Columns that must be equal on both sides: account and currency unless crossed."""
        implied = ([] if self.cross_account else ["account"]) + ([] if self.cross_currency else ["currency"])
        return tuple(dict.fromkeys(implied + list(self.keys)))

    @property
    def has_tolerance(self) -> bool:
        return self.amount_tolerance > 0 or self.amount_tolerance_pct > 0


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "rules"
    description: str = ""
    passes: tuple[Pass, ...] = Field(min_length=1)

    @field_validator("passes")
    @classmethod
    def _unique_names(cls, passes: tuple[Pass, ...]) -> tuple[Pass, ...]:
        names = [p.name for p in passes]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"pass names must be unique; repeated: {repeated}")
        return passes

    def sha256(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


def rules_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "rules"


def list_rule_files() -> list[Path]:
    """The rule sets shipped and saved in the rules folder."""
    return sorted(rules_dir().glob("*.toml"))


def default_rules_path() -> Path:
    return Path(__file__).resolve().parents[2] / "rules" / "default.toml"


def parse_rules(text: str, source: str = "<rules>") -> RuleSet:
    """Validate rule-set TOML.

    Raises:
        RuleSetError: naming the source, the pass (by number and name) and the key.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleSetError(f"{source}: not valid TOML ({exc})") from None
    try:
        return RuleSet.model_validate(raw)
    except ValidationError as exc:
        found = []
        for location, message in problems(exc, RuleSet):
            if len(location) >= 2 and location[0] == "passes" and isinstance(location[1], int):
                index = location[1]
                passes = raw.get("passes") or []
                name = passes[index].get("name", "?") if index < len(passes) and isinstance(passes[index], dict) else "?"
                location = [f"pass {index + 1} ({name})"] + location[2:]
            found.append(f"{'.'.join(str(p) for p in location) or 'rules'}: {message}")
        raise RuleSetError(f"{source}: " + "; ".join(found)) from None


def load_rules(path: str | Path | None = None) -> RuleSet:
    path = Path(path) if path else default_rules_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleSetError(f"{path}: cannot read the rule set ({exc.strerror or exc})") from None
    return parse_rules(text, str(path))
