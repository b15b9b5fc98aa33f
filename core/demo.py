"""The demo month: books and outside statements for several bank and broker accounts.

Everything is generated from a fixed seed, so the files are byte-identical on every machine
and seeding twice finds the datasets already there. The statements carry the breaks an
analyst meets every month: settlement lag, references rewritten by the bank, outstanding
cheques, bank fees and interest missing from the books, fees deducted from incoming wires,
batch deposits, split payments, a duplicate statement line and a wrong amount keyed in the
books. Each statement is written in its source's own layout and read through a profile.

The banking side of the month: a chart of accounts (each demo bank account mapped to its GL
cash account), dimension values, the demo posting rules (``posting/demo.toml``) posting every
statement record to the ledger, a transfer from the First National account to the Clear Street
account (paid out on one day, in the next business day), and the banks' closing balances kept
with each statement. The bank reconciliation statement closes to zero on three accounts; on
the Hanse Bank account the bank's closing balance holds a direct debit its download left out,
so its statement shows an unexplained difference and a variance alert is raised for it.

One pipeline is seeded too: every day it fetches the First National statement from the data
folder's inbox (the demo puts a copy there), imports it and reconciles it against the books.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import re
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import select

from core.accounts import load_aliases
from core.atomic import write_atomically
from core.auth import create_user, list_users
from core.ingest.datasets import import_file, list_datasets
from core.matching.rules import default_rules_path, parse_rules
from core.runs.reconcile import reconcile_datasets
from core.store import Store
from core.store.models import Run, StatementRecord

__all__ = ["DEMO_ACCOUNTS", "DEMO_CHART", "DEMO_PIPELINE", "DEMO_TRANSFER", "DEMO_UNEXPLAINED", "DEMO_USERS", "demo_files",
           "demo_pipeline_toml", "demo_posting_rules_path", "seed_demo"]

# One user per role; the published passwords make a start outside demo mode refuse to run.
DEMO_USERS = {
    "viewer": "viewer-demo-2026",
    "analyst": "analyst-demo-2026",
    "analyst2": "analyst2-demo-2026",
    "approver": "approver-demo-2026",
    "admin": "admin-demo-2026",
}

MONTH_START = dt.date(2026, 10, 1)
MONTH_END = dt.date(2026, 10, 31)
CENT = Decimal("0.01")


class DemoAccount(NamedTuple):
    account: str
    currency: str
    institution: str
    profile: str
    file_name: str


DEMO_ACCOUNTS = (
    DemoAccount("4471-0092-18", "USD", "First National Bank", "first_national_usd", "first_national_4471_2026-10.csv"),
    DemoAccount("DE89370400440532013000", "EUR", "Hanse Bank", "hanse_bank_eur", "hanse_bank_umsaetze_2026-10.csv"),
    DemoAccount("CS-00192-CASH", "USD", "Clear Street", "clear_street_cash_activity", "clear_street_cash_activity_2026-10.xlsx"),
    DemoAccount("RC-7781-SAR", "SAR", "Riyad Capital", "riyad_capital_cash", "riyad_capital_cash_2026-10.csv"),
)


# The chart of accounts: a GL cash account per demo bank account, and the counter accounts the posting rules name.
DEMO_CHART = (
    ("1010", "Cash at First National Bank (USD)", "asset", "4471-0092-18"),
    ("1020", "Cash at Hanse Bank (EUR)", "asset", "DE89370400440532013000"),
    ("1030", "Cash at Clear Street (USD)", "asset", "CS-00192-CASH"),
    ("1040", "Cash at Riyad Capital (SAR)", "asset", "RC-7781-SAR"),
    ("1090", "Transfers between own accounts", "asset", None),
    ("1200", "Trade receivables", "asset", None),
    ("2000", "Trade payables", "liability", None),
    ("4200", "Interest income", "income", None),
    ("6100", "Bank charges", "expense", None),
)
DEMO_DIMENSIONS = (
    ("cost_centre", "FIN", "Finance"), ("cost_centre", "OPS", "Operations"), ("cost_centre", "SALES", "Sales"),
    ("cost_centre", "TREASURY", "Treasury"), ("branch", "NYC", "New York"), ("branch", "FRA", "Frankfurt"),
    ("branch", "RUH", "Riyadh"),
)
# The transfer between own accounts: out of the first account, in on the second one business day later.
DEMO_TRANSFER = ("4471-0092-18", "CS-00192-CASH", Decimal("24750.00"), "TRF-2610-001")
# The bank's closing balance less the statement's records, per account: a direct debit the Hanse Bank
# download left out. Every other account's closing balance is its records' sum (opening balance 0).
DEMO_UNEXPLAINED = {"DE89370400440532013000": Decimal("-1850.00")}


# The demo pipeline: every day, the First National statement dropped in the data folder's inbox/
# is imported and reconciled against the demo books; a failed run raises an in-app alert.
DEMO_PIPELINE = "demo-daily-bank"
DEMO_INBOX = "inbox"


def demo_pipeline_toml(books_id: str) -> str:
    """The demo pipeline's TOML, reconciling against the books dataset ``books_id``."""
    account = DEMO_ACCOUNTS[0]
    return f"""name = "{DEMO_PIPELINE}"
description = "The {account.institution} statement from the inbox against the demo books, every day"

[schedule]
cron = "30 7 * * *"
timezone = "America/New_York"

[retry]
max_attempts = 2
backoff_seconds = 300

[[steps]]
kind = "fetch"
source = "inbox"
folder = "{DEMO_INBOX}"
pattern = "first_national_*.csv"

[[steps]]
kind = "import"
profile = "{account.profile}"

[[steps]]
kind = "reconcile"
books = "{books_id}"
statement = "fetched"
accounts = ["{account.account}"]

[[steps]]
kind = "notify"
when = "failure"
alert = true
"""


def demo_posting_rules_path() -> Path:
    return Path(__file__).resolve().parents[1] / "posting" / "demo.toml"


class Line(NamedTuple):
    date: dt.date
    amount: Decimal
    reference: str
    description: str
    counterparty: str = ""


def _business_days_after(day: dt.date, days: int) -> dt.date:
    while days > 0:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            days -= 1
    return day


def _business_days() -> list[dt.date]:
    day, found = MONTH_START, []
    while day <= MONTH_END:
        if day.weekday() < 5:
            found.append(day)
        day += dt.timedelta(days=1)
    return found


def _money(rng: random.Random, low: int, high: int) -> Decimal:
    return (Decimal(rng.randint(low * 100, high * 100)) * CENT).quantize(CENT)


_CUSTOMERS = ("Northwind Traders", "Contoso Ltd", "Fabrikam Inc", "Tailspin Toys", "Adventure Works", "Litware Inc",
              "Proseware", "Wide World Importers", "Alpine Ski House", "Coho Winery", "Fourth Coffee", "Lucerne Publishing")
_SUPPLIERS = ("Acme Office Supply", "Globex Logistics", "Initech Payroll", "Umbrella Facilities", "Stark Utilities",
              "Wayne Telecom", "Hooli Cloud", "Vandelay Industries")


def _account_month(rng: random.Random, account: DemoAccount, scale: int) -> tuple[list[Line], list[Line]]:
    """Books and statement lines of one account for the month, with the usual breaks."""
    books: list[Line] = []
    bank: list[Line] = []
    days = _business_days()[:-2]
    prefix = account.account[:2]
    for n in range(40):
        day = rng.choice(days)
        incoming = rng.random() < 0.55
        amount = _money(rng, 150 * scale, 25000 * scale) * (1 if incoming else -1)
        party = rng.choice(_CUSTOMERS if incoming else _SUPPLIERS)
        reference = f"{'INV' if incoming else 'PAY'}-{2600000 + rng.randint(1000, 99999)}"
        books.append(Line(day, amount, reference, f"{'Receipt from' if incoming else 'Payment to'} {party}", party))
        bank_reference = rng.choice([reference, reference.replace("-", ""), f"{prefix}{reference.replace('-', '/')}X",
                                     reference.lower(), f"REF {reference.split('-')[1].lstrip('0')}"])
        lag = rng.choice([0, 0, 1, 1, 2, 3])
        bank.append(Line(_business_days_after(day, lag), amount, bank_reference, f"{party.upper()} {bank_reference}", party))
    # Incoming wire with the bank's fee deducted.
    wire = _money(rng, 4000 * scale, 9000 * scale)
    fee = Decimal(15 * scale).quantize(CENT)
    books.append(Line(days[6], wire, "INV-2611801", "Receipt from Alpine Ski House (wire)", "Alpine Ski House"))
    bank.append(Line(days[7], wire - fee, "FT2611801", "INCOMING WIRE ALPINE SKI HOUSE LESS CHARGES", "Alpine Ski House"))
    # Batch deposit: four receipts in the books, one line at the bank.
    receipts = [_money(rng, 80 * scale, 900 * scale) for _ in range(4)]
    for i, amount in enumerate(receipts):
        books.append(Line(days[10], amount, f"RCPT-7{i}31", f"Cash receipt counter {i + 1}", "Retail counter"))
    bank.append(Line(days[11], sum(receipts), "DEP 0000431", "BRANCH DEPOSIT 4 ITEMS", ""))
    # Split payment: one payment in the books, two lines at the bank.
    split = _money(rng, 3000 * scale, 6000 * scale)
    first = (split * Decimal("0.6")).quantize(CENT)
    books.append(Line(days[13], -split, "PAY-2619920", "Payment to Globex Logistics (2 instalments)", "Globex Logistics"))
    bank.append(Line(days[14], -first, "PAY2619920/1", "GLOBEX LOGISTICS PART 1", "Globex Logistics"))
    bank.append(Line(days[14], -(split - first), "PAY2619920/2", "GLOBEX LOGISTICS PART 2", "Globex Logistics"))
    # Outstanding cheques: in the books, not yet at the bank.
    for i in range(2):
        books.append(Line(days[-1 - i], -_money(rng, 200 * scale, 2500 * scale), f"CHQ-{1041 + i}", f"Cheque {1041 + i} issued", rng.choice(_SUPPLIERS)))
    # Bank charges and interest: at the bank, not yet in the books.
    bank.append(Line(MONTH_END if MONTH_END.weekday() < 5 else days[-1], -Decimal(35 * scale).quantize(CENT), "", "ACCOUNT MAINTENANCE FEE"))
    bank.append(Line(days[-1], _money(rng, 5 * scale, 60 * scale), "", "CREDIT INTEREST"))
    # A payment the bank booked twice.
    twice = bank[3]
    bank.append(twice)
    # An amount keyed wrongly in the books (transposed digits).
    keyed = books[5]
    cents = str(abs(keyed.amount))
    transposed = Decimal(cents[:-5] + cents[-4] + cents[-5] + cents[-3:]) if len(cents) > 6 else keyed.amount + 9
    books[5] = keyed._replace(amount=transposed.copy_sign(keyed.amount))
    books.sort(key=lambda line: (line.date, line.reference))
    bank.sort(key=lambda line: (line.date, line.reference))
    return books, bank


def _write_books(path: Path, months: dict[DemoAccount, tuple[list[Line], list[Line]]]) -> None:
    with write_atomically(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["Journal ID", "Account", "Value Date", "Amount", "Currency", "Reference", "Description", "Counterparty"])
        number = 0
        for account, (books, _) in months.items():
            for line in books:
                number += 1
                writer.writerow([f"JE-2610-{number:05d}", account.account, line.date.isoformat(), str(line.amount),
                                 account.currency, line.reference, line.description, line.counterparty])


def _write_bytes(path: Path, data: bytes) -> None:
    """A demo file appears whole or not at all (it is imported by its hash next)."""
    with write_atomically(path, "wb") as handle:
        handle.write(data)


def _us_money(amount: Decimal) -> str:
    return f"{abs(amount):,.2f}"


def _write_first_national(path: Path, account: DemoAccount, lines: list[Line]) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([account.institution])
    writer.writerow(["Account Number:", account.account])
    writer.writerow(["Statement Period:", f"{MONTH_START:%m/%d/%Y} - {MONTH_END:%m/%d/%Y}"])
    writer.writerow([])
    writer.writerow(["Posting Date", "Description", "Check or Slip #", "Debit", "Credit"])
    debits = credits = Decimal(0)
    for line in lines:
        debit = _us_money(line.amount) if line.amount < 0 else ""
        credit = _us_money(line.amount) if line.amount >= 0 else ""
        debits += min(line.amount, Decimal(0))
        credits += max(line.amount, Decimal(0))
        writer.writerow([f"{line.date:%m/%d/%Y}", line.description, line.reference, debit, credit])
    writer.writerow(["Total", "", "", _us_money(debits), _us_money(credits)])
    _write_bytes(path, out.getvalue().encode("utf-8"))


def _write_hanse(path: Path, account: DemoAccount, lines: list[Line]) -> None:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["Buchungstag", "Valuta", "Verwendungszweck", "Referenz", "Betrag", "Währung"])
    for line in lines:
        amount = f"{line.amount:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")
        booked = line.date - dt.timedelta(days=1 if line.date.weekday() > 0 else 3)
        writer.writerow([f"{booked:%d.%m.%Y}", f"{line.date:%d.%m.%Y}", line.description.replace("UE", "Ü"), line.reference, amount, "EUR"])
    _write_bytes(path, out.getvalue().encode("cp1252"))


def _write_clear_street(path: Path, account: DemoAccount, lines: list[Line]) -> None:
    # Start-up speed: the app imports this module at every start; openpyxl loads only to write the demo.
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Cash Activity"
    sheet["A1"] = "Clear Street LLC - Cash Activity Report"
    sheet.merge_cells("A1:H1")
    sheet["A2"] = f"Period: {MONTH_START:%Y-%m-%d} to {MONTH_END:%Y-%m-%d}"
    sheet.merge_cells("A2:H2")
    sheet.append([])
    sheet.append(["Account", "Settle Date", "Trade Date", "Activity", "Description", "Reference", "Net Amount", "Currency"])
    for i, line in enumerate(lines):
        activity = "TRANSFER" if line.description.startswith("TRANSFER") else \
            "JOURNAL" if not line.reference else ("RECEIPT" if line.amount > 0 else "DISBURSEMENT")
        trade_date = line.date - dt.timedelta(days=1)
        amount: object = str(line.amount) if i % 9 == 4 else line.amount
        sheet.append([account.account, line.date, trade_date, activity, line.description, line.reference, amount, account.currency])
    for row in sheet.iter_rows(min_row=5, min_col=2, max_col=3):
        for cell in row:
            cell.number_format = "yyyy-mm-dd"
    buffer = io.BytesIO()
    workbook.save(buffer)
    _write_bytes(path, _zip_deterministic(buffer.getvalue()))


def _zip_deterministic(data: bytes) -> bytes:
    """Rewrite a workbook's ZIP with fixed timestamps so the demo file hashes the same every time."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "docProps/core.xml":
                content = re.sub(rb"<dcterms:(created|modified)([^>]*)>[^<]*<", rb"<dcterms:\1\2>2026-11-01T00:00:00Z<", content)
            info = zipfile.ZipInfo(item.filename, date_time=(2026, 11, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(info, content)
    return out.getvalue()


def _write_riyad(path: Path, account: DemoAccount, lines: list[Line]) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Riyad Capital - Cash Statement"])
    writer.writerow(["Portfolio", account.account])
    writer.writerow(["Currency", account.currency])
    writer.writerow(["Txn Date", "Transaction Type", "Details", "Reference No", "Amount", "Dr/Cr"])
    for line in lines:
        kind = "Transfer In" if line.amount > 0 else "Transfer Out"
        writer.writerow([f"{line.date:%d/%m/%Y}", kind, line.description, line.reference, f"{abs(line.amount):,.2f}", "CR" if line.amount > 0 else "DR"])
    writer.writerow(["Closing Balance", "", "", "", "", ""])
    _write_bytes(path, out.getvalue().encode("utf-8"))


_WRITERS = {
    "first_national_usd": _write_first_national,
    "hanse_bank_eur": _write_hanse,
    "clear_street_cash_activity": _write_clear_street,
    "riyad_capital_cash": _write_riyad,
}


def _add_transfer(months: dict[DemoAccount, tuple[list[Line], list[Line]]]) -> None:
    """The transfer between two own accounts: both legs in the books on the day, the in leg at the bank a day later."""
    source, target, amount, reference = DEMO_TRANSFER
    by_number = {account.account: account for account in months}
    day = _business_days()[8]
    for account, sign, words, bank_day in ((source, -1, f"to {target}", day), (target, 1, f"from {source}", _business_days_after(day, 1))):
        books, bank = months[by_number[account]]
        institution = by_number[target if sign < 0 else source].institution
        books.append(Line(day, amount * sign, reference, f"Transfer {words} ({institution})", institution))
        bank.append(Line(bank_day, amount * sign, reference, f"TRANSFER {words.upper()}", institution))
        books.sort(key=lambda line: (line.date, line.reference))
        bank.sort(key=lambda line: (line.date, line.reference))


def demo_files(folder: Path) -> list[tuple[Path, str | None]]:
    """Write the demo month's files into ``folder``.

    Returns:
        ``(path, profile name)`` pairs, the books first; the books need no profile.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(202610)
    scales = {"USD": 1, "EUR": 1, "SAR": 4}
    months = {account: _account_month(rng, account, scales[account.currency]) for account in DEMO_ACCOUNTS}
    _add_transfer(months)
    books_path = folder / "general_ledger_cash_2026-10.csv"
    _write_books(books_path, months)
    files: list[tuple[Path, str | None]] = [(books_path, None)]
    for account, (_, bank) in months.items():
        path = folder / account.file_name
        _WRITERS[account.profile](path, account, bank)
        files.append((path, account.profile))
    return files


def _seed_users(store: Store) -> str:
    existing = {u.username for u in list_users(store)}
    made = []
    for username, password in DEMO_USERS.items():
        if username not in existing:
            role = "analyst" if username == "analyst2" else username
            create_user(store, username, password, role, display_name=f"Demo {username}", actor="demo")
            made.append(username)
    return f"demo users: {', '.join(made) if made else 'already there'}"


def seed_demo(store: Store, only_if_empty: bool = False, banking: bool = True) -> str:
    """Write the demo files under ``data/demo``, import them and reconcile each account.

    With ``banking``, the ledger side too: the chart of accounts, dimension values, the
    statements posted to the ledger, the statements' closing balances and the month's alerts;
    without it, the ledger is left empty (for a chart of one's own). Either way, the demo
    pipeline (``DEMO_PIPELINE``) is saved with a copy of the First National statement in the
    data folder's ``inbox/`` for it to fetch; it is not run.

    Safe to run again: files already imported and runs already made are left as they are.

    Returns:
        A line per file and per run saying what was done.
    """
    if only_if_empty and list_datasets(store):
        return "the store already has datasets; demo not seeded"
    lines = [_seed_users(store)]
    datasets = {}
    for path, profile in demo_files(store.data_dir / "demo"):
        outcome, errors = import_file(store, path, profile, user="demo")
        if errors:
            raise RuntimeError(f"demo file {path.name} did not import: {errors[0]}")
        datasets[path.name] = outcome.dataset
        state = "imported" if outcome.created else "already there"
        lines.append(f"{path.name}: {state} ({outcome.dataset.row_count} rows)")
    rules_text = default_rules_path().read_text(encoding="utf-8")
    rules = parse_rules(rules_text, str(default_rules_path()))
    books = datasets["general_ledger_cash_2026-10.csv"]
    runs = {}
    for account in DEMO_ACCOUNTS:
        statement = datasets[account.file_name]
        with store.session() as session:
            done = session.scalar(select(Run.id).where(Run.internal_dataset_id == books.id, Run.external_dataset_id == statement.id))
        if done:
            runs[account.account] = done
            lines.append(f"run for {account.account}: already there (run {done})")
            continue
        outcome = reconcile_datasets(store, books, statement, rules, rules_text, accounts=[account.account], user="demo")
        runs[account.account] = outcome.run.id
        groups, sides = outcome.result.summary["groups"], outcome.result.summary["sides"]
        lines.append(f"run {outcome.run.id} for {account.account}: {groups['total']} groups ({groups['proposed']} proposed), "
                     f"{sides['internal']['open'] + sides['external']['open']} open")
    if banking:
        lines += _seed_banking(store, [datasets[a.file_name] for a in DEMO_ACCOUNTS], runs)
    lines.append(_seed_pipeline(store, books.id))
    return "\n".join(lines)


def _seed_pipeline(store: Store, books_id: str) -> str:
    """The demo pipeline, saved once, and a copy of the First National statement in the inbox for it."""
    from core.jobs.pipelines import PipelineError, get_pipeline, save_pipeline

    statement = store.data_dir / "demo" / DEMO_ACCOUNTS[0].file_name
    inbox = store.data_dir / DEMO_INBOX
    try:
        get_pipeline(store, DEMO_PIPELINE)
    except PipelineError:
        inbox.mkdir(parents=True, exist_ok=True)
        _write_bytes(inbox / statement.name, statement.read_bytes())
        save_pipeline(store, demo_pipeline_toml(books_id), actor="demo", source="demo pipeline")
        return f"pipeline {DEMO_PIPELINE}: saved; {statement.name} waits in {inbox}"
    return f"pipeline {DEMO_PIPELINE}: already there"


def _seed_banking(store: Store, statements: list, runs: dict[str, int]) -> list[str]:
    """The ledger side of the demo month: chart, dimensions, postings, statement balances, BRS, transfers, alerts."""
    # Imported here: the app imports this module at every start, and the banking modules load DuckDB.
    from core.banking.ledger import ChartRow, add_dimension_value, import_chart, list_dimension_values
    from core.banking.posting import load_posting_rules, post_records
    from core.banking.saved import saved_run_reconciliation
    from core.banking.transfers import transfer_report
    import pyarrow as pa
    import pyarrow.compute as pc

    from core.banking.alerts import raise_alerts
    from core.banking.variance import month_of, variance_alerts, variance_report
    from core.domain.accounts import account_key, resolve_account_key
    from core.ingest.datasets import load_dataset_table

    lines = []
    changed = import_chart(store, [ChartRow(code, name, kind, True, account_key(bank) if bank else None)
                                   for code, name, kind, bank in DEMO_CHART], actor="demo")
    lines.append(f"chart of accounts: {changed} of {len(DEMO_CHART)} GL accounts added or changed")
    known = list_dimension_values(store, active_only=False)
    added = 0
    for dimension, value, name in DEMO_DIMENSIONS:
        if value not in known.get(dimension, {}):
            add_dimension_value(store, dimension, value, actor="demo", name=name)
            added += 1
    lines.append(f"dimension values: {added} added")
    rules = load_posting_rules(demo_posting_rules_path())
    aliases = load_aliases(store)
    tables = {d.id: load_dataset_table(store, d) for d in statements}
    for dataset in statements:
        outcome = post_records(store, dataset.id, tables[dataset.id].to_pylist(), rules, actor="demo", aliases=aliases)
        if outcome.uncovered:
            raise RuntimeError(f"demo statement {dataset.name}: record {outcome.uncovered[0].record_id} was not posted: "
                               f"{outcome.uncovered[0].reason}")
        lines.append(f"{dataset.name}: {outcome.posted} journals posted, {outcome.drafts} drafts for an approver")
    for dataset in statements:
        _record_statement_balance(store, dataset, tables[dataset.id])
    unexplained = {}
    for account, run_id in runs.items():
        brs, errors = saved_run_reconciliation(store, run_id, MONTH_END)
        if errors:
            raise RuntimeError(f"demo run {run_id}: no bank reconciliation statement: {errors[0]}")
        difference = brs.line(brs.lines[0].account, "unexplained_difference")
        unexplained[resolve_account_key(account, aliases), month_of(MONTH_END)] = difference
        lines.append(f"bank reconciliation of {account} on {MONTH_END}: unexplained difference {difference}")
    # The month's variance (the few records the banks dated in November are next month's): its one breach is raised.
    records = pa.concat_tables(list(tables.values()), promote_options="permissive")
    in_month = pc.and_(pc.greater_equal(records["date"], pa.scalar(MONTH_START)), pc.less_equal(records["date"], pa.scalar(MONTH_END)))
    report, errors = variance_report(records.filter(in_month), unexplained=unexplained, aliases=aliases)
    if errors:
        raise RuntimeError(f"demo variance: {errors[0]}")
    raised = raise_alerts(store, variance_alerts(report), actor="demo")
    lines.append(f"variance alerts: {len(raised)} raised")
    transfers = transfer_report(store, statements, MONTH_END, actor="demo")
    lines.append(f"transfers between own accounts: {len(transfers.transfers)} paired, {len(transfers.in_transit)} in transit")
    return lines


def _record_statement_balance(store: Store, dataset, table) -> None:
    """Keep the bank's closing balance of the month with its statement (the demo layouts print none)."""
    import hashlib

    with store.session() as session:
        if session.scalar(select(StatementRecord.id).where(StatementRecord.dataset_id == dataset.id)):
            return
        rows = [r for r in table.to_pylist() if r["date"] is not None and MONTH_START <= r["date"] <= MONTH_END]
        account, currency = rows[0]["account"], rows[0]["currency"]
        entries = sum((r["amount"] for r in rows), Decimal(0))
        missing = DEMO_UNEXPLAINED.get(account, Decimal(0))
        digest = hashlib.sha256("\n".join(f"{r['date']}|{r['amount']}|{r.get('reference') or ''}" for r in rows).encode()).hexdigest()
        session.add(StatementRecord(dataset_id=dataset.id, account=account, currency=currency, number="2026-10",
                                    period_from=MONTH_START, period_to=MONTH_END, opening=Decimal("0.00"),
                                    closing=entries + missing, entry_count=len(rows), content_sha256=digest,
                                    difference=missing or None, gap=None))
