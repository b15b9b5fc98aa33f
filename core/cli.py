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


def _cmd_worker(args: argparse.Namespace) -> int:
    """Run the scheduled pipelines until SIGTERM or SIGINT (see ``core.jobs.worker``); one line
    per event on standard error. Either signal lets the runs in progress finish first; a second
    SIGINT (Ctrl-C again) stops it at once."""
    # Imported here for start-up speed (see the module's docstring).
    import logging
    import signal
    import threading
    import time

    from core.jobs.lease import worker_identity
    from core.jobs.worker import Worker
    from core.store import open_store

    try:
        settings = config.worker_settings()
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter("%(asctime)s.%(msecs)03dZ %(message)s", datefmt="%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    for name, level in (("core.jobs", logging.INFO), ("apscheduler", logging.ERROR)):
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.addHandler(handler)
        logger.propagate = False
    stop, force = threading.Event(), threading.Event()

    def on_signal(signum, _frame) -> None:
        (force if stop.is_set() and signum == signal.SIGINT else stop).set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    left_running = Worker(open_store(), worker_identity(), settings).run(stop, force)
    if left_running:  # stopped at once: the threads of those runs are not waited for
        logging.shutdown()
        os._exit(0)
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


def _cmd_jobs_list(args: argparse.Namespace) -> int:
    """One line per pipeline (or ``--json``: a list of objects) on standard output."""
    # Imported here for start-up speed (see the module's docstring).
    import json

    from core.store import open_store
    from core.views.jobs import pipeline_summaries

    rows = pipeline_summaries(open_store())
    if args.json:
        print(json.dumps(rows, indent=2, sort_keys=True, default=str))
        return 0
    for row in rows:
        last = row["last_run"]
        latest = f"{last['status']} (run {last['id']})" if last else "-"
        print(f"{row['name']}\tv{row['version']}\t{'paused' if row['paused'] else 'active'}\t{row['schedule']}\t"
              f"next {row['next_run'] or '-'}\tlast {latest}")
    return 0


def _cmd_jobs_run(args: argparse.Namespace) -> int:
    """Run a pipeline in the foreground (the worker's code); its steps on standard error; exit 1 when it failed."""
    # Imported here for start-up speed (see the module's docstring).
    from core.jobs.pipelines import PipelineError
    from core.jobs.runs import run_now, run_steps_of
    from core.store import open_store

    store = open_store()
    try:
        run = run_now(store, args.name, actor=config.cli_user())
    except PipelineError as exc:
        raise BadInput(str(exc)) from None
    for step in run_steps_of(store, run.id):
        print(f"step {step.position} ({step.kind}): {step.status}{': ' + step.message if step.message else ''}", file=sys.stderr)
    print(f"run {run.id} of {run.pipeline}: {run.status}{': ' + run.error if run.error else ''}")
    return 0 if run.status == "succeeded" else 1


def _cmd_jobs_history(args: argparse.Namespace) -> int:
    """The latest runs, newest first: one line each (or ``--json`` with their steps)."""
    # Imported here for start-up speed (see the module's docstring).
    import json

    from core.store import open_store
    from core.views.jobs import run_history

    if args.limit < 1:
        raise BadInput(f"--limit {args.limit}: give a number of runs of 1 or more")
    rows = run_history(open_store(), args.name, limit=args.limit, with_steps=args.json)
    if args.json:
        print(json.dumps(rows, indent=2, sort_keys=True, default=str))
        return 0
    for row in rows:
        took = f"{row['seconds']:.1f} s" if row["seconds"] is not None else "-"
        print(f"{row['id']}\t{row['pipeline']}\t{row['status']}\t{row['trigger']} #{row['attempt']}\t{row['scheduled_for']}\t{took}"
              f"{chr(9) + row['error'] if row['error'] else ''}")
    return 0


def _cmd_jobs_save(args: argparse.Namespace) -> int:
    # Imported here for start-up speed (see the module's docstring).
    from core.jobs.pipelines import PipelineError, save_pipeline
    from core.store import open_store

    try:
        text = Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{args.file}: cannot read the pipeline ({getattr(exc, 'strerror', None) or exc})") from None
    store = open_store()
    try:
        spec = save_pipeline(store, text, actor=config.cli_user(), source=args.file)
    except PipelineError as exc:
        raise BadInput(str(exc)) from None
    print(f"pipeline {spec.name} saved")
    return 0


def _cmd_jobs_pause(args: argparse.Namespace) -> int:
    # Imported here for start-up speed (see the module's docstring).
    from core.jobs.pipelines import PipelineError, set_paused
    from core.store import open_store

    try:
        set_paused(open_store(), args.name, args.pause, actor=config.cli_user())
    except PipelineError as exc:
        raise BadInput(str(exc)) from None
    print(f"pipeline {args.name} {'paused' if args.pause else 'resumed'}")


def _cmd_api(args: argparse.Namespace) -> int:
    """Serve the HTTP API (``core.api``) with uvicorn until stopped."""
    # Imported here for start-up speed (see the module's docstring).
    import uvicorn

    from core.api import create_app

    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="info")
    return 0


def _cmd_api_key_create(args: argparse.Namespace) -> int:
    """The new key alone on standard output (shown this once); what was made on standard error."""
    # Imported here for start-up speed (see the module's docstring).
    from core.apikeys import ApiKeyError, create_api_key
    from core.store import open_store

    try:
        view, key = create_api_key(open_store(), args.name, args.role, actor=config.cli_user())
    except ApiKeyError as exc:
        raise BadInput(str(exc)) from None
    print(key)
    print(f"API key {view.name!r} ({view.role}) made; it is shown this once and cannot be read again", file=sys.stderr)
    return 0


def _cmd_api_key_list(args: argparse.Namespace) -> int:
    """One line per key, tab-separated: name, prefix, role, state, created, last used."""
    # Imported here for start-up speed (see the module's docstring).
    from core.apikeys import list_api_keys
    from core.store import open_store

    print("name\tprefix\trole\tstate\tcreated_at\tlast_used_at")
    for key in list_api_keys(open_store()):
        used = key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else ""
        print(f"{key.name}\t{key.prefix}\t{key.role}\t{'active' if key.active else 'disabled'}\t"
              f"{key.created_at.isoformat(timespec='seconds')}\t{used}")
    return 0


def _cmd_api_key_change(args: argparse.Namespace) -> int:
    # Imported here for start-up speed (see the module's docstring).
    from core.apikeys import ApiKeyError, delete_api_key, disable_api_key
    from core.store import open_store

    change = disable_api_key if args.api_key_command == "disable" else delete_api_key
    try:
        change(open_store(), args.name, actor=config.cli_user())
    except ApiKeyError as exc:
        raise BadInput(str(exc)) from None
    print(f"API key {args.name!r} {'disabled' if change is disable_api_key else 'deleted'}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    """Run an export request in the foreground; one JSON object on standard output, nothing else.

    Exit 0 when the export is COMPLETED (made now, or reused), 1 when it FAILED (its ``error``
    says why), 2 for a request that is not valid.
    """
    # Imported here for start-up speed (see the module's docstring).
    import json

    from core.exports.requests import ExportError, ExportRequest, export_now, file_url
    from core.store import open_store

    try:
        date_from = dt.date.fromisoformat(args.date_from) if args.date_from else None
        date_to = dt.date.fromisoformat(args.date_to) if args.date_to else None
    except ValueError:
        raise BadInput(f"--from {args.date_from!r} / --to {args.date_to!r}: write dates as YYYY-MM-DD") from None
    destination = args.dest
    if not destination.lower().startswith("s3://"):
        _check_out(destination, folder=True)
        destination = str(Path(destination).absolute())
    request = ExportRequest(kind=args.kind, accounts=tuple(args.account or ()), date_from=date_from, date_to=date_to,
                            format=args.format, destination=destination)
    store = open_store()
    try:
        ticket, view = export_now(store, request, actor=config.cli_user(), force=args.refresh)
    except ExportError as exc:
        raise BadInput(str(exc)) from None
    answer = {"reference_id": view.reference_id, "status": view.status, "reused": ticket.reused, "row_count": view.row_count,
              "file_size": view.file_size, "sha256": view.sha256, "location": view.location}
    if view.request["destination"].startswith("s3://"):
        answer["file_url"] = file_url(store, view)
    if view.error:
        answer["error"] = view.error
    print(json.dumps(answer))
    return 0 if view.status == "COMPLETED" else 1


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


def _cmd_migrate(args: argparse.Namespace) -> int:
    """Bring the store's schema to the newest migration; one line on standard output with the revision."""
    # Imported here for start-up speed (see the module's docstring).
    from core.monitoring import check_store
    from core.store import open_store

    store = open_store()
    check = check_store(store)
    print(f"store ({check.database}) at revision {check.revision}, the newest")
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

    worker = commands.add_parser("worker", help="run the scheduled pipelines: one worker per store (a lease), until SIGTERM or Ctrl-C")
    worker.set_defaults(run=_cmd_worker)

    demo = commands.add_parser("demo", help="seed the demo month: books, bank and broker statements")
    demo.add_argument("--if-empty", action="store_true", help="do nothing when the store already has datasets")
    demo.set_defaults(run=_cmd_demo)

    jobs = commands.add_parser("jobs", help="pipelines: list them, run one now, their run history, save one from TOML")
    jobs_commands = jobs.add_subparsers(dest="jobs_command", required=True)
    jobs_list = jobs_commands.add_parser("list", help="every pipeline with its schedule, next run and last run")
    jobs_list.add_argument("--json", action="store_true", help="a JSON list instead of lines")
    jobs_list.set_defaults(run=_cmd_jobs_list)
    jobs_run = jobs_commands.add_parser("run", help="run a pipeline now, in the foreground; exit 1 when the run failed")
    jobs_run.add_argument("name")
    jobs_run.set_defaults(run=_cmd_jobs_run)
    jobs_history = jobs_commands.add_parser("history", help="the latest runs, newest first")
    jobs_history.add_argument("name", nargs="?", help="only this pipeline's runs")
    jobs_history.add_argument("--limit", type=int, default=20, help="how many runs (default 20)")
    jobs_history.add_argument("--json", action="store_true", help="a JSON list, each run with its steps")
    jobs_history.set_defaults(run=_cmd_jobs_history)
    jobs_save = jobs_commands.add_parser("save", help="add or replace a pipeline from a TOML file (validated first)")
    jobs_save.add_argument("file")
    jobs_save.set_defaults(run=_cmd_jobs_save)
    for verb, pause in (("pause", True), ("resume", False)):
        jobs_pause = jobs_commands.add_parser(verb, help=f"{verb} a pipeline's schedule (run now still works)")
        jobs_pause.add_argument("name")
        jobs_pause.set_defaults(run=_cmd_jobs_pause, pause=pause)

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

    api = commands.add_parser("api", help="serve the HTTP API (exports, banking, health, metrics; OpenAPI docs at /docs)")
    api.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    api.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    api.set_defaults(run=_cmd_api)

    api_key = commands.add_parser("api-key", help="keys for the HTTP API: create (shown once), list, disable, delete")
    api_key_commands = api_key.add_subparsers(dest="api_key_command", required=True)
    key_create = api_key_commands.add_parser("create", help="make a key and print it (the only time it is shown)")
    key_create.add_argument("name", help="a name to tell the key apart (the system that uses it)")
    key_create.add_argument("--role", default="viewer", choices=["viewer", "analyst", "approver"],
                            help="what the key may do (default viewer)")
    key_create.set_defaults(run=_cmd_api_key_create)
    api_key_commands.add_parser("list", help="every key: name, prefix, role, state, last used").set_defaults(run=_cmd_api_key_list)
    for verb, text in (("disable", "stop a key from working (it stays listed)"), ("delete", "remove a key")):
        changing = api_key_commands.add_parser(verb, help=text)
        changing.add_argument("name", help="the key's name")
        changing.set_defaults(run=_cmd_api_key_change)

    export = commands.add_parser("export", help="export transactions, breaks, matches, journals or statements to a folder or S3")
    export.add_argument("--kind", required=True, choices=["transactions", "breaks", "matches", "journals", "brs"])
    export.add_argument("--account", action="append", help="an account to keep (repeat for more; default all)")
    export.add_argument("--from", dest="date_from", help="first date, YYYY-MM-DD")
    export.add_argument("--to", dest="date_to", help="last date, YYYY-MM-DD")
    export.add_argument("--format", default="csv", choices=["csv", "xlsx", "parquet"])
    export.add_argument("--refresh", action="store_true", help="make a new file even though the same export exists")
    export.add_argument("--dest", required=True, help="a folder, or s3://BUCKET/PREFIX")
    export.set_defaults(run=_cmd_export)
    underwrite = commands.add_parser("underwrite", help="bank statements (PDF too) -> transactions with balances and underwriting metrics")
    underwrite.add_argument("files", nargs="+", metavar="FILE", help="statement files: PDF (text or scanned), MT940, CAMT.053, BAI2, OFX")
    underwrite.add_argument("--rules", help="underwriting rules TOML (default: core/underwriting/rules.toml)")
    underwrite.add_argument("--out", required=True, help="folder for transactions.csv and metrics.json")
    underwrite.set_defaults(run=_cmd_underwrite)

    audit = commands.add_parser("audit", help="check the audit log")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser("verify", help="walk the hash chain of the audit log and decisions; exit 1 when broken")
    verify.set_defaults(run=_cmd_audit_verify)

    # Every command migrates the store on opening it; this one does only that, once, before the
    # app, the worker and the API start side by side (the compose file's `migrate` service).
    migrate = commands.add_parser("migrate", help="bring the store's schema to the newest migration, then stop")
    migrate.set_defaults(run=_cmd_migrate)
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
