"""The SQL the engine's passes are built from: amounts as integer micro-units, day numbers,
reference keys, and each pass's equalities, tolerances and amount buckets.

Fragments are format strings over a column (``{a}`` an amount, ``{d}`` a date, ``{r}`` a
reference, ``{m}`` micro-units); functions build a pass's conditions from its rule.
"""

from __future__ import annotations

from decimal import Decimal

from core.matching.rules import Pass

__all__ = ["BUSINESS_DAY_INDEX", "DAY_NUMBER", "FROM_MICRO", "MICRO", "REFERENCE_DIGITS", "REFERENCE_KEY", "REFERENCE_NORMALISED", "SIDES",
           "TO_MICRO", "amount_bucket_sql", "days_apart_column", "equality_conditions", "open_side_sql", "tolerance_filters"]

MICRO = 1_000_000
# Micro-units of an amount (DECIMAL(18, 6) at most, so below 10^18), its whole and fractional
# parts scaled apart: DuckDB keeps a DECIMAL(18, s) product within 18 digits, so scaling the
# amount at once overflows from a million on. The remainder keeps the amount's sign. Back to
# an exact decimal by a factor of 10^-6: a division would go through DOUBLE.
TO_MICRO = f"(CAST(trunc({{a}}) AS BIGINT) * {MICRO} + CAST(({{a}} % 1) * {MICRO} AS BIGINT))"
FROM_MICRO = "CAST(CAST({m} AS DECIMAL(18, 0)) * CAST(0.000001 AS DECIMAL(7, 6)) AS {money})"
DAY_NUMBER = "CAST(date_diff('day', DATE '0001-01-01', {d}) AS INTEGER)"
# Business-day index: days since Monday 0001-01-01 (the first day a date can hold, so no day
# counts below zero) with weekends folded onto the next Monday.
BUSINESS_DAY_INDEX = ("CAST((date_diff('day', DATE '0001-01-01', {d}) // 7) * 5 "
                      "+ least(date_diff('day', DATE '0001-01-01', {d}) % 7, 5) AS INTEGER)")
# A reference as the bank may have rewritten it: accents dropped (payment networks carry a
# Latin subset, "Réf" arrives as "REF"), case, punctuation and spaces ignored, and the
# leading zeros of each number.
REFERENCE_NORMALISED = ("regexp_replace(regexp_replace(upper(strip_accents({r})), '[^A-Z0-9]', '', 'g'), "
                        "'(^|[^0-9])0+([0-9])', '\\1\\2', 'g')")
# The longest run of four or more digits, leading zeros dropped. A reference with at most one
# such run (nearly all) takes the cheaper single extraction; the result is the same.
REFERENCE_DIGITS = ("ltrim(CASE WHEN regexp_matches({r}, '[0-9]{{4,}}[^0-9]+[0-9]{{4,}}') "
                    "THEN list_reduce(regexp_extract_all({r}, '[0-9]{{4,}}'), lambda a, b: CASE WHEN length(b) > length(a) THEN b ELSE a END) "
                    "ELSE regexp_extract({r}, '[0-9]{{4,}}') END, '0')")
REFERENCE_KEY = {"exact": "{r}", "normalised": REFERENCE_NORMALISED, "digits": REFERENCE_DIGITS}
SIDES = (("i", "internal"), ("e", "external"))


def days_apart_column(rule_pass: Pass) -> str:
    """A bank pair's days apart as the pass counts them."""
    return "bdiff" if rule_pass.business_days else "ddiff"


def open_side_sql(rule_pass: Pass, working: str, need_scores: bool) -> str:
    """The open records of one side, with the reference key the pass compares."""
    extra = []
    if rule_pass.reference != "ignore":
        extra.append(f"{REFERENCE_KEY[rule_pass.reference].format(r='reference')} AS rkey")
    if need_scores:
        extra += [f"{REFERENCE_NORMALISED.format(r='reference')} AS ref_norm", f"{REFERENCE_DIGITS.format(r='reference')} AS ref_digits"]
    columns = ", ".join(["*"] + extra)
    where = " WHERE reference <> ''" if rule_pass.reference != "ignore" else ""
    return f"(SELECT {columns} FROM {working}{where})"


def equality_conditions(rule_pass: Pass) -> list[str]:
    conditions = [f"i.{key} = e.{key}" for key in rule_pass.equality_keys]
    if rule_pass.reference != "ignore":
        conditions += ["i.rkey = e.rkey", "i.rkey <> ''"]
    return conditions


def tolerance_filters(rule_pass: Pass, one: str = "i.micro", other: str = "e.micro") -> list[str]:
    diff = f"({other} - {one})"
    filters = []
    if rule_pass.amount_tolerance > 0:
        filters.append(f"abs{diff} <= {int(rule_pass.amount_tolerance * MICRO)}")
    if rule_pass.amount_tolerance_pct > 0:
        # An exact decimal fraction: micro-units times 100 could overflow 64 bits.
        filters.append(f"abs{diff} <= {rule_pass.amount_tolerance_pct / 100:f} * abs({one})")
    if not rule_pass.has_tolerance:
        filters.append(f"{diff} = 0")
    if rule_pass.amount_difference == "external_less":
        filters.append(f"{diff} <= 0")
    elif rule_pass.amount_difference == "external_more":
        filters.append(f"{diff} >= 0")
    return filters


def amount_bucket_sql(rule_pass: Pass, side: str) -> str:
    """A bucket such that any pair within tolerance lies in the same or neighbouring buckets."""
    if rule_pass.amount_tolerance > 0:
        return f"CAST(floor({side}.micro / {int(rule_pass.amount_tolerance * MICRO)}) AS BIGINT)"
    # Blocking only: the exact tolerance is checked on integers afterwards.
    width = -(Decimal(1) - rule_pass.amount_tolerance_pct / 100).ln()
    return (f"CASE WHEN {side}.micro = 0 THEN 0 ELSE sign({side}.micro) * "
            f"(1 + CAST(floor(ln(abs({side}.micro)) / {width:.12f}) AS BIGINT)) END")
