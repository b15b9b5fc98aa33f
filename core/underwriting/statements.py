"""Statement files into rows with balances and their metrics: what ``python -m core underwrite`` writes.

Each file is read as a bank statement (a statement PDF, text or scanned, or MT940, CAMT.053,
BAI2, OFX), its rows checked against its balances (a scan's doubtful rows are refused with the
rows named: they need a person, on the Sources page). The rows become canonical transactions
with the balance after each (the statement's own running balance, or the opening balance plus
the entries so far), and the metrics are computed over the period the statements state.

Several statements: the period runs from the earliest start to the latest end. Several accounts
are taken together: the balance of a day is the sum of each account's balance, the opening the
sum of the openings, and a deposit naming another of the accounts is a transfer between own
accounts.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from core.domain.findings import RowError
from core.underwriting.metrics import BalancedRow, Period, UnderwritingRules, load_rules, metrics, monthly_metrics

__all__ = ["TRANSACTION_FILE_COLUMNS", "Underwriting", "read_for_underwriting", "underwrite_documents", "underwrite_files",
           "write_underwriting"]

TRANSACTION_FILE_COLUMNS = ("id", "account", "date", "amount", "currency", "reference", "description", "counterparty",
                            "trade_date", "entry_date", "type", "balance")


class Underwriting(NamedTuple):
    transactions: list[dict]  # canonical columns plus balance, in statement order
    metrics: dict


def read_for_underwriting(data: bytes, name: str, pdf_corrections: Mapping | None = None
                          ) -> tuple[list[dict] | None, dict | None, list[RowError]]:
    """A statement file's transactions with balances, and its period, or the findings.

    Returns:
        ``(transactions, period, errors)``; ``period`` holds ``account``, ``start``, ``end``
        and ``opening``.
    """
    from connectors.files.detect import STATEMENT_FORMATS, SourceFormatError, detect_format
    from connectors.statements import read_statements
    from core.ingest.statements import statements_to_import

    try:
        fmt = detect_format(data, name)
    except SourceFormatError as exc:
        return None, None, [RowError(name, None, None, None, str(exc))]
    if fmt not in STATEMENT_FORMATS:
        return None, None, [RowError(name, None, None, None, f"underwriting reads bank statements (PDF, MT940, CAMT.053, BAI2, OFX), "
                                                           f"with their balances; this file is {fmt.upper()}")]
    balances: list[Decimal | None] | None = None
    if fmt == "pdf":
        from connectors.documents import apply_confirmations, read_statement_pdf, to_statement

        from core import config

        pdf, errors = read_statement_pdf(data, name, layouts_dir=config.profiles_dir() / "pdf")
        if pdf is not None and (pdf.doubtful_rows() or pdf_corrections):
            pdf, errors = apply_confirmations(pdf, pdf_corrections or {})
        if pdf is None:
            return None, None, errors
        statements = [to_statement(pdf)]
        balances = [row.balance for row in pdf.rows]
    else:
        statements, errors = read_statements(data, name, fmt)
        if statements is None:
            return None, None, errors
    result, _, errors = statements_to_import(statements, name, fmt)
    if result is None:
        return None, None, errors
    first = statements[0]
    if first.opening is None or first.start is None or first.end is None or len({s.account for s in statements}) > 1:
        missing = "an opening balance and a period" if len({s.account for s in statements}) == 1 else "one account"
        return None, None, [RowError(name, None, None, None, f"underwriting needs a statement with {missing}")]
    rows = result.table.to_pylist()
    running = first.opening
    for index, row in enumerate(rows):
        running += row["amount"]
        printed = balances[index] if balances is not None else None
        row["balance"] = printed if printed is not None else running
        running = row["balance"]
    period = {"account": first.account, "start": min(s.start for s in statements), "end": max(s.end for s in statements),
              "opening": first.opening}
    return rows, period, []


def underwrite_files(paths: list[Path], rules: UnderwritingRules | None = None) -> tuple[Underwriting | None, list[RowError]]:
    """Read every statement file and compute the metrics over them all."""
    documents, errors = [], []
    for path in paths:
        try:
            documents.append((path.name, path.read_bytes(), None))
        except OSError as exc:
            errors.append(RowError(path.name, None, None, None, f"cannot read the file ({exc.strerror or exc})"))
    return (None, errors) if errors else underwrite_documents(documents, rules)


def underwrite_documents(documents: list[tuple[str, bytes, Mapping | None]], rules: UnderwritingRules | None = None
                         ) -> tuple[Underwriting | None, list[RowError]]:
    """The metrics over statements given as ``(name, bytes, PDF corrections or None)``."""
    rules = rules or load_rules()
    per_account: dict[str, list[tuple[dict, list[dict]]]] = {}
    errors: list[RowError] = []
    for name, data, corrections in documents:
        rows, period, found = read_for_underwriting(data, name, corrections)
        errors += found
        if rows is not None:
            per_account.setdefault(period["account"], []).append((period, rows))
    if errors:
        return None, errors
    transactions: list[dict] = []
    openings = {}
    for account, statements in per_account.items():
        statements.sort(key=lambda item: item[0]["start"])
        openings[account] = statements[0][0]["opening"]
        for _, rows in statements:
            transactions += rows
    start = min(p["start"] for s in per_account.values() for p, _ in s)
    end = max(p["end"] for s in per_account.values() for p, _ in s)
    period = Period(start, end, sum(openings.values(), Decimal(0)))
    balanced = _together(transactions, openings)
    figures = metrics(balanced, period, rules, own_accounts=list(per_account))
    figures["monthly"] = monthly_metrics(balanced, period, rules, own_accounts=list(per_account))
    figures["accounts"] = sorted(per_account)
    return Underwriting(transactions, figures), []


def _together(transactions: list[dict], openings: dict[str, Decimal]) -> list[BalancedRow]:
    """Rows of every account in date order, each balance the sum of every account's balance after it."""
    latest = dict(openings)
    out = []
    for row in sorted(transactions, key=lambda r: r["date"]):  # stable: each account keeps its statement order
        latest[row["account"]] = row["balance"]
        out.append(BalancedRow(row["id"], row["date"], row["amount"], sum(latest.values(), Decimal(0)),
                               row.get("description") or "", row.get("counterparty") or ""))
    return out


def write_underwriting(result: Underwriting, out_dir: Path) -> None:
    """``transactions.csv`` (canonical columns plus ``balance``) and ``metrics.json`` in ``out_dir``, each written whole or not at all."""
    from core.atomic import write_atomically

    out_dir.mkdir(parents=True, exist_ok=True)
    with write_atomically(out_dir / "transactions.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(TRANSACTION_FILE_COLUMNS)
        for row in result.transactions:
            writer.writerow(["" if row.get(c) is None else _text(row.get(c)) for c in TRANSACTION_FILE_COLUMNS])
    with write_atomically(out_dir / "metrics.json", "w", encoding="utf-8") as handle:
        handle.write(json.dumps(result.metrics, indent=2, sort_keys=True) + "\n")


def _text(value) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)
