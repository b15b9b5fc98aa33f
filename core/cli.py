"""Command line: ``python -m core COMMAND``. The contract scripts rely on (ARCHITECTURE.md).

Exit codes: 0 done, 2 bad input (the message names file, row and column), 1 an unexpected
failure (set ``RECON_DEBUG=1`` to see its traceback) or, for ``audit verify``, a broken audit
chain (the line on standard output names the first broken link).

Each command imports what it needs inside its own function, for start-up speed: a command
loads only its own part of the engine, and ``match`` starts DuckDB reading its two files on a
background thread before it imports the rest.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import traceback
from pathlib import Path

from core import config

__all__ = ["main"]

EXIT_BAD_INPUT = 2
EXIT_CHAIN_BROKEN = 1


class BadInput(Exception):
    """Raised inside a command to stop with exit code 2 and this message."""


def _check_out(value: str, *, folder: bool) -> None:
    """Refuse an ``--out`` the command could not write to, before any work is done.

    ``folder``: the option names a folder (``match``, ``holdings``, ``brs``), else a file (``import``).
    Nothing is created here; the command creates what is missing once it has results.
    """
    path = Path(value)
    if path.exists():
        if folder and not path.is_dir():
            raise BadInput(f"--out {value}: a file of that name is in the way; give a folder")
        if not folder and path.is_dir():
            raise BadInput(f"--out {value}: is a folder; give a file name")
        if not os.access(path, os.W_OK):
            raise BadInput(f"--out {value}: not writable")
        return
    existing = path.absolute().parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise BadInput(f"--out {value}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise BadInput(f"--out {value}: cannot create it in {existing} (not writable)")


def _prepare_out(value: str, *, folder: bool) -> None:
    """Check ``--out`` (``_check_out``) and remove the temporaries killed commands left there."""
    # Imported here for start-up speed (see the module's docstring).
    from core.atomic import sweep_leftovers

    _check_out(value, folder=folder)
    sweep_leftovers(Path(value) if folder else Path(value).absolute().parent)


def _cmd_import(args: argparse.Namespace) -> int:
    # Imported here for start-up speed (see the module's docstring).
    from core.domain.findings import format_errors
    from core.exports.writers import write_canonical_csv
    from core.ingest.datasets import import_file, load_dataset_table
    from core.store import open_store

    if args.out is not None:
        _prepare_out(args.out, folder=False)
    store = open_store()
    outcome, errors = import_file(store, args.file, args.profile, user=config.cli_user(), accept_unbalanced=args.accept_unbalanced)
    if errors:
        raise BadInput(format_errors(errors, limit=200))
    record = outcome.dataset
    span = f"{record.date_from} to {record.date_to}" if record.date_from else "no dates"
    verb = "imported" if outcome.created else "already imported"
    report = sys.stderr if args.out is None else sys.stdout
    read_as = f", read with profile {record.profile}" if record.profile else ""
    print(f"{verb}: {Path(args.file).name} -> dataset {record.id[:12]} ({record.row_count} rows, "
          f"{record.account_count} account(s), {span}{read_as})", file=report)
    if record.unbalanced:
        print(f"flagged: {record.unbalanced}", file=report)
    for warning in outcome.warnings:
        print(f"warning: {warning}", file=report)
    table = load_dataset_table(store, record)
    if args.out is None:
        write_canonical_csv(table, sys.stdout)
    else:
        from core.atomic import write_atomically  # start-up speed, as above

        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        with write_atomically(Path(args.out), "w", newline="", encoding="utf-8") as handle:
            write_canonical_csv(table, handle)
        print(f"wrote {args.out}", file=report)
    return 0


def _cmd_match(args: argparse.Namespace) -> int:
    # Imported here for start-up speed (see the module's docstring).
    from core.ingest.canonical_csv import ReadAhead

    _prepare_out(args.out, folder=True)
    # DuckDB reads the files while the rest is imported and the store is opened.
    ahead = ReadAhead([Path(args.internal), Path(args.external)])
    try:
        return _match(args, ahead)
    finally:
        ahead.wait()


def _read_rules(option: str | None):
    """The rule set ``--rules`` names (the default one without it) and its text; unreadable or invalid is bad input."""
    from core.matching.rules import RuleSetError, default_rules_path, parse_rules  # start-up speed, as above

    rules_path = Path(option) if option else default_rules_path()
    try:
        rules_text = rules_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"{rules_path}: cannot read the rule set ({exc.strerror or exc})") from None
    try:
        return parse_rules(rules_text, str(rules_path)), rules_text
    except RuleSetError as exc:
        raise BadInput(str(exc)) from None


def _match(args: argparse.Namespace, ahead) -> int:
    # Imported here for start-up speed (see the module's docstring).
    from core.domain.findings import format_errors
    from core.runs.reconcile import reconcile_files
    from core.store import open_store

    rules, rules_text = _read_rules(args.rules)
    store = open_store()
    user = config.cli_user()
    outcome, problems = reconcile_files(store, Path(args.internal), Path(args.external), rules, rules_text, user=user, out=Path(args.out),
                                        ahead=ahead)
    if problems:
        raise BadInput(format_errors(problems, limit=200))
    groups = outcome.result.summary["groups"]
    sides = outcome.result.summary["sides"]
    print(f"run {outcome.run.id}: {groups['total']} groups ({groups['confirmed']} confirmed, {groups['proposed']} proposed); "
          f"open: {sides['internal']['open']} internal, {sides['external']['open']} external; results in {args.out}")
    return 0


def _cmd_holdings(args: argparse.Namespace) -> int:
    # Imported here for start-up speed (see the module's docstring).
    from core.domain.findings import format_errors
    from core.domain.money import AmountError
    from core.holdings import parse_tolerance, read_source_files, run_holdings
    from core.store import open_store

    _prepare_out(args.out, folder=True)
    try:
        as_of = dt.date.fromisoformat(args.as_of)
    except ValueError:
        raise BadInput(f"--as-of {args.as_of!r}: write the date as YYYY-MM-DD") from None
    try:
        tolerance = parse_tolerance(args.tolerance)
    except AmountError as exc:
        raise BadInput(f"--tolerance {args.tolerance!r}: {exc}") from None
    sources, errors = read_source_files([Path(args.internal), *(Path(p) for p in args.registrar)])
    if errors:
        raise BadInput(format_errors(errors, limit=200))
    outcome = run_holdings(open_store(), sources[0], sources[1:], as_of, tolerance, user=config.cli_user(),
                           out=Path(args.out))
    if outcome.errors:
        raise BadInput(format_errors(outcome.errors, limit=200))
    for warning in outcome.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    run, summary = outcome.run, outcome.summary
    statuses = ", ".join(f"{count} {status}" for status, count in summary["statuses"].items())
    print(f"holdings run {run.id}: {summary['positions']} positions as of {as_of}: {statuses}; results in {args.out}")
    return 0


def _balances(option: str, values: list[str]) -> dict:
    """``ACCOUNT=AMOUNT`` options as account -> exact amount; a malformed or repeated one is bad input."""
    from core.domain.money import AmountError, decimal_from_text  # start-up speed, as above

    balances = {}
    for value in values:
        account, equals, amount = value.rpartition("=")
        account = account.strip()
        if not equals or not account:
            raise BadInput(f"{option} {value!r}: write it as ACCOUNT=AMOUNT")
        if account in balances:
            raise BadInput(f"{option} {value!r}: account {account!r} is given twice")
        try:
            balances[account] = decimal_from_text(amount)
        except AmountError as exc:
            raise BadInput(f"{option} {value!r}: {exc}") from None
    return balances


def _cmd_brs(args: argparse.Namespace) -> int:
    # Imported here for start-up speed (see the module's docstring).
    from core.ingest.canonical_csv import ReadAhead

    _prepare_out(args.out, folder=True)
    try:
        as_of = dt.date.fromisoformat(args.as_of)
    except ValueError:
        raise BadInput(f"--as-of {args.as_of!r}: write the date as YYYY-MM-DD") from None
    book_openings = _balances("--book-opening", args.book_opening)
    bank_closings = _balances("--bank-closing", args.bank_closing)
    ahead = ReadAhead([Path(args.internal), Path(args.external)])
    try:
        return _brs(args, ahead, as_of, book_openings, bank_closings)
    finally:
        ahead.wait()


def _brs(args: argparse.Namespace, ahead, as_of: dt.date, book_openings: dict, bank_closings: dict) -> int:
    # Imported here for start-up speed (see the module's docstring).
    from sqlalchemy import select

    from core.accounts import load_aliases
    from core.banking.brs import bank_reconciliation_statement, write_brs_outputs
    from core.domain.findings import format_errors
    from core.runs.reconcile import reconcile_files
    from core.store import open_store
    from core.store.models import StatementRecord

    rules, rules_text = _read_rules(args.rules)
    store = open_store()
    made = []

    def statement_of(result, external) -> list:
        """The statement as of the date, before the run is saved: an account without a bank balance saves no run."""
        with store.session() as session:
            statements = session.scalars(select(StatementRecord).where(StatementRecord.dataset_id == external.id)).all()
        brs, problems = bank_reconciliation_statement(result, as_of, statements=statements, bank_closings=bank_closings,
                                                      book_openings=book_openings, books=Path(args.internal).name,
                                                      statement=Path(args.external).name, aliases=load_aliases(store))
        made.append(brs)
        return problems

    outcome, problems = reconcile_files(store, Path(args.internal), Path(args.external), rules, rules_text, user=config.cli_user(),
                                        ahead=ahead, check=statement_of)
    if problems:
        raise BadInput(format_errors(problems, limit=200))
    brs = made[0]
    brs.summary["run"] = outcome.run.id
    write_brs_outputs(brs, Path(args.out))
    unexplained = [f"{x.account} {x.amount}" for x in brs.lines if x.line == "unexplained_difference" and x.amount != 0]
    print(f"run {outcome.run.id}: bank reconciliation statement as of {as_of} for {len(brs.summary['accounts'])} account(s); "
          f"unexplained difference: {', '.join(unexplained) or 'none'}; results in {args.out}")
    return 0


def _cmd_gl_post(args: argparse.Namespace) -> int:
    """Post a dataset's records by posting rules; one line per record no rule covers, on standard output."""
    # Imported here for start-up speed (see the module's docstring).
    from core.banking.ledger import LedgerError
    from core.banking.posting import PostingRuleError, load_posting_rules, post_dataset
    from core.domain.findings import format_errors
    from core.store import open_store

    try:
        rules = load_posting_rules(args.rules)
    except PostingRuleError as exc:
        raise BadInput(str(exc)) from None
    try:
        outcome, errors = post_dataset(open_store(), args.dataset, rules, actor=config.cli_user())
    except LedgerError as exc:
        raise BadInput(str(exc)) from None
    if errors:
        raise BadInput(format_errors(errors, limit=200))
    for item in outcome.uncovered:
        print(f"not posted: record {item.record_id} ({item.account}, {item.date}, {item.amount}): {item.reason}")
    print(f"posted {outcome.posted} journal(s); {outcome.drafts} above the approval threshold left as drafts for an approver; "
          f"{outcome.already} record(s) posted before; {len(outcome.uncovered)} not posted", file=sys.stderr)
    return 0


def _cmd_gl_chart_import(args: argparse.Namespace) -> int:
    # Imported here for start-up speed (see the module's docstring).
    from core.banking.ledger import LedgerError, import_chart, read_chart_file
    from core.domain.findings import format_errors
    from core.store import open_store

    rows, errors = read_chart_file(args.file)
    if errors:
        raise BadInput(format_errors(errors, limit=200))
    try:
        changed = import_chart(open_store(), rows, actor=config.cli_user())
    except LedgerError as exc:
        raise BadInput(f"{args.file}: {exc}") from None
    print(f"chart of accounts: {len(rows)} account(s) read, {changed} added or changed")
    return 0


def _cmd_gl_trial_balance(args: argparse.Namespace) -> int:
    """The trial balance as CSV on standard output (``gl_account,name,type,currency,debit,credit,balance``)."""
    # Imported here for start-up speed (see the module's docstring).
    import csv

    from core.banking.ledger import trial_balance
    from core.store import open_store

    try:
        as_of = dt.date.fromisoformat(args.as_of)
        since = dt.date.fromisoformat(args.date_from) if args.date_from else None
    except ValueError:
        raise BadInput(f"--as-of {args.as_of!r} / --from {args.date_from!r}: write dates as YYYY-MM-DD") from None
    rows = trial_balance(open_store(), as_of, since)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["gl_account", "name", "type", "currency", "debit", "credit", "balance"])
    writer.writerows(rows)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    # Imported here for start-up speed (see the module's docstring).
    from core.demo import seed_demo
    from core.store import open_store

    store = open_store()
    summary = seed_demo(store, only_if_empty=args.if_empty)
    print(summary)
    return 0


def _cmd_audit_verify(args: argparse.Namespace) -> int:
    """One line on standard output: intact with the counts and heads, or the first broken link."""
    # Imported here for start-up speed (see the module's docstring).
    from core.store import open_store, verify_audit_chain

    report = verify_audit_chain(open_store())
    print(report)
    return 0 if report.intact else EXIT_CHAIN_BROKEN


def _cmd_underwrite(args: argparse.Namespace) -> int:
    """Statement files -> DIR/transactions.csv (canonical columns plus balance) and DIR/metrics.json."""
    from core.domain.findings import format_errors
    from core.underwriting.metrics import RulesError, load_rules
    from core.underwriting.statements import underwrite_files, write_underwriting

    _prepare_out(args.out, folder=True)
    try:
        rules = load_rules(Path(args.rules) if args.rules else None)
    except RulesError as exc:
        raise BadInput(str(exc)) from None
    result, errors = underwrite_files([Path(f) for f in args.files], rules)
    if errors:
        raise BadInput(format_errors(errors, limit=200))
    write_underwriting(result, Path(args.out))
    figures = result.metrics
    print(f"underwritten: {len(result.transactions)} rows, {figures['period']['start']} to {figures['period']['end']}; "
          f"average daily balance {figures['average_daily_balance']}, true revenue {figures['true_revenue']}, "
          f"{len(figures['mca_positions'])} advance position(s); wrote {args.out}/transactions.csv and metrics.json")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Recon Workbench command line")
    commands = parser.add_subparsers(dest="command", required=True)

    imp = commands.add_parser("import", help="import a statement or ledger file as a dataset")
    imp.add_argument("file", help="CSV, XLSX, a bank statement (MT940, CAMT.053, BAI2, OFX, PDF); the format is detected from the content")
    imp.add_argument("--profile", help="mapping profile name (see profiles/), a shipped layout name (such as paypal_activity) or path to a .toml file; "
                     "without it a known bank layout is recognised from the header")
    imp.add_argument("--out", help="write the canonical rows to this CSV (default: standard output)")
    imp.add_argument("--accept-unbalanced", action="store_true",
                     help="import a bank statement that does not add up, with the difference recorded and flagged")
    imp.set_defaults(run=_cmd_import)

    match = commands.add_parser("match", help="reconcile books against a statement and write the results")
    match.add_argument("--internal", required=True, help="the books: any supported file")
    match.add_argument("--external", required=True, help="the statement: any supported file")
    match.add_argument("--rules", help="rule set TOML (default: rules/default.toml)")
    match.add_argument("--out", required=True, help="folder for matches.csv, breaks.csv and summary.json")
    match.set_defaults(run=_cmd_match)

    holdings = commands.add_parser("holdings", help="reconcile units per folio and scheme against registrar files")
    holdings.add_argument("--internal", required=True, help="the books' holdings transactions (CSV or XLSX)")
    holdings.add_argument("--registrar", required=True, action="append", help="a CAMS or KFintech file (DBF, XLSX or CSV); repeat for more")
    holdings.add_argument("--as-of", required=True, help="the date to compare units at (YYYY-MM-DD)")
    holdings.add_argument("--tolerance", default="0.001", help="units that may differ and still match (default 0.001)")
    holdings.add_argument("--out", required=True, help="folder for holdings.csv and summary.json")
    holdings.set_defaults(run=_cmd_holdings)

    brs = commands.add_parser("brs", help="match books against a bank statement and write the bank reconciliation statement")
    brs.add_argument("--internal", required=True, help="the books: any supported file")
    brs.add_argument("--external", required=True, help="the bank statement: any supported file")
    brs.add_argument("--as-of", required=True, help="the statement's date (YYYY-MM-DD); records dated after it are left out")
    brs.add_argument("--book-opening", action="append", default=[], metavar="ACCOUNT=AMOUNT",
                     help="the books' opening balance of an account (default 0); repeat for more accounts")
    brs.add_argument("--bank-closing", action="append", default=[], metavar="ACCOUNT=AMOUNT",
                     help="the bank's closing balance of an account on the date, replacing the statement's; repeat for more")
    brs.add_argument("--rules", help="rule set TOML (default: rules/default.toml)")
    brs.add_argument("--out", required=True, help="folder for brs.csv, brs_items.csv and summary.json")
    brs.set_defaults(run=_cmd_brs)

    demo = commands.add_parser("demo", help="seed the demo month: books, bank and broker statements")
    demo.add_argument("--if-empty", action="store_true", help="do nothing when the store already has datasets")
    demo.set_defaults(run=_cmd_demo)

    gl = commands.add_parser("gl", help="the general ledger: post bank records, import the chart, the trial balance")
    gl_commands = gl.add_subparsers(dest="gl_command", required=True)
    gl_post = gl_commands.add_parser("post", help="post a dataset's records to the ledger by posting rules (each record once)")
    gl_post.add_argument("--dataset", required=True, help="a dataset id (its first characters will do) or a file to import first")
    gl_post.add_argument("--rules", required=True, help="posting rules TOML (see posting/bank.toml)")
    gl_post.set_defaults(run=_cmd_gl_post)
    chart = gl_commands.add_parser("chart", help="the chart of accounts")
    chart_commands = chart.add_subparsers(dest="chart_command", required=True)
    chart_import = chart_commands.add_parser("import", help="add or replace GL accounts from a CSV or TOML file")
    chart_import.add_argument("file", help="CSV (code,name,type,active,bank_account) or TOML ([[accounts]])")
    chart_import.set_defaults(run=_cmd_gl_chart_import)
    tb = gl_commands.add_parser("trial-balance", help="debits, credits and balance per GL account and currency, as CSV")
    tb.add_argument("--as-of", required=True, help="journals dated up to this day (YYYY-MM-DD)")
    tb.add_argument("--from", dest="date_from", help="and from this day (YYYY-MM-DD); default: from the start")
    tb.set_defaults(run=_cmd_gl_trial_balance)

    underwrite = commands.add_parser("underwrite", help="bank statements (PDF too) -> transactions with balances and underwriting metrics")
    underwrite.add_argument("files", nargs="+", metavar="FILE", help="statement files: PDF (text or scanned), MT940, CAMT.053, BAI2, OFX")
    underwrite.add_argument("--rules", help="underwriting rules TOML (default: core/underwriting/rules.toml)")
    underwrite.add_argument("--out", required=True, help="folder for transactions.csv and metrics.json")
    underwrite.set_defaults(run=_cmd_underwrite)

    audit = commands.add_parser("audit", help="check the audit log")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser("verify", help="walk the hash chain of the audit log and decisions; exit 1 when broken")
    verify.set_defaults(run=_cmd_audit_verify)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the CLI's last line of defence: a message, never a raw traceback
        if config.show_tracebacks():
            traceback.print_exc()
        print(f"error: unexpected failure: {type(exc).__name__}: {exc} (set RECON_DEBUG=1 for details)", file=sys.stderr)
        return 1
