"""The Reconcile page in words: what each pass of a rule set matches on, and what a run did."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

from core.domain.money import format_amount
from core.matching.rules import Pass, RuleSet

__all__ = ["pass_figures", "pass_summary", "rules_summary", "run_summary_text"]

_CARDINALITY = {"1:1": "one books record with one statement record", "1:n": "one books record with several statement records",
                "n:1": "several books records with one statement record", "n:m": "several records on each side"}
_REFERENCE = {"exact": "references equal as written", "normalised": "references equal once spaces, case and punctuation go",
              "digits": "the digits of the references equal", "ignore": "references not compared"}
_DIFFERENCE = {"any": "", "external_less": ", the statement's amount the smaller (a fee deducted)",
               "external_more": ", the statement's amount the larger"}


def pass_summary(p: Pass) -> str:
    """One pass in a sentence: what it pairs, on what, within which tolerances, and what its matches are."""
    keys = " and ".join(p.equality_keys) or "nothing"
    if p.has_tolerance:
        limits = [f"{format_amount(p.amount_tolerance)}" if p.amount_tolerance else "",
                  f"{p.amount_tolerance_pct}%" if p.amount_tolerance_pct else ""]
        amounts = "amounts within " + " and ".join(x for x in limits if x) + _DIFFERENCE[p.amount_difference]
    else:
        amounts = "amounts equal"
    if p.date_window:
        dates = f"dates within {p.date_window} {'business ' if p.business_days else ''}day{'s' if p.date_window > 1 else ''}"
    else:
        dates = "dates equal"
    grouped = f", grouped by {' and '.join(p.group_by)} (at most {p.max_group_size} per group)" if p.group_by else ""
    if p.cardinality in ("1:n", "n:1") and not p.group_by:
        grouped = f" (at most {p.max_group_size} per group)"
    outcome = "confirmed" if p.status == "confirmed" else "proposed for a person to review"
    return (f"{p.name}: pairs {_CARDINALITY[p.cardinality]}{grouped}; same {keys}; {_REFERENCE[p.reference]}; "
            f"{amounts}; {dates}; matches are {outcome}.")


def rules_summary(rules: RuleSet) -> list[str]:
    """Every pass of a rule set in order, one sentence each."""
    return [f"{i}. {pass_summary(p)}" for i, p in enumerate(rules.passes, 1)]


def pass_figures(summary: dict, order: list[str] | None = None) -> pd.DataFrame:
    """Per pass of a run: groups matched (confirmed, proposed), records and amount.

    Args:
        order: the pass names in the order they ran (the rule set's); a pass not named follows, by name.

    The amount is the books' side of the pass's groups, exact ``Decimal``; ``amount_text`` formats it.
    """
    passes = summary.get("passes", {})
    rank = {name: i for i, name in enumerate(order or [])}
    rows = []
    for name in sorted(passes, key=lambda n: (rank.get(n, len(rank)), n)):
        f = passes[name]
        amount = Decimal(str(f.get("internal_amount", "0")))
        rows.append({"pass": name, "confirmed": int(f.get("confirmed", 0)), "proposed": int(f.get("proposed", 0)),
                     "groups": int(f.get("groups", 0)), "books records": int(f.get("internal_records", 0)),
                     "statement records": int(f.get("external_records", 0)), "amount": amount, "amount_text": format_amount(amount)})
    return pd.DataFrame(rows, columns=["pass", "confirmed", "proposed", "groups", "books records", "statement records", "amount",
                                       "amount_text"])


def _records(n: int, side: str) -> str:
    return f"{n:,} {side} record{'' if n == 1 else 's'}"


def run_summary_text(summary: dict) -> str:
    """A run's outcome in two or three sentences: what was read, what matched, what waits, what stays open."""
    sides = summary.get("sides", {})
    books, statement = sides.get("internal", {}), sides.get("external", {})
    groups = summary.get("groups", {})
    figures = pass_figures(summary)
    ranked = figures.sort_values("groups", ascending=False, kind="stable")
    top = ranked["groups"].tolist()[:2] + [0, 0]
    busiest = ranked.iloc[0]["pass"] if top[0] > top[1] else None
    text = (f"Read {books.get('records', 0):,} books records and {statement.get('records', 0):,} statement records. "
            f"{groups.get('confirmed', 0):,} groups were matched and {groups.get('proposed', 0):,} proposed for review"
            + (f" (most by pass {busiest})" if busiest else "") + ". ")
    open_books, open_statement = books.get("open", 0), statement.get("open", 0)
    if open_books or open_statement:
        text += (f"{_records(open_books, 'books')} ({format_amount(Decimal(str(books.get('open_amount', '0'))))}) and "
                 f"{_records(open_statement, 'statement')} ({format_amount(Decimal(str(statement.get('open_amount', '0'))))}) stay open "
                 "as breaks.")
    else:
        text += "Nothing stays open."
    return text
