"""Command line: ``python -m core COMMAND``. The contract scripts rely on (ARCHITECTURE.md).

Exit codes: 0 done, 2 bad input (the message names file, row and column), 1 an unexpected
failure (set ``RECON_DEBUG=1`` to see its traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

__all__ = ["main"]

EXIT_BAD_INPUT = 2


class BadInput(Exception):
    """Raised inside a command to stop with exit code 2 and this message."""


def _cmd_import(args: argparse.Namespace) -> int:
    from core.datasets import import_file
    from core.exports import write_canonical_csv
    from core.records import format_errors
    from core.store import open_store

    store = open_store()
    outcome, errors = import_file(store, args.file, args.profile, user=os.environ.get("RECON_USER", "cli"))
    if errors:
        raise BadInput(format_errors(errors, limit=200))
    record = outcome.dataset
    span = f"{record.date_from} to {record.date_to}" if record.date_from else "no dates"
    verb = "imported" if outcome.created else "already imported"
    report = sys.stderr if args.out is None else sys.stdout
    print(f"{verb}: {Path(args.file).name} -> dataset {record.id[:12]} ({record.row_count} rows, "
          f"{record.account_count} account(s), {span})", file=report)
    for warning in outcome.warnings:
        print(f"warning: {warning}", file=report)
    if args.out is None:
        write_canonical_csv(outcome.table, sys.stdout)
    else:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w", newline="", encoding="utf-8") as handle:
            write_canonical_csv(outcome.table, handle)
        print(f"wrote {args.out}", file=report)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from core.demo import seed_demo
    from core.store import open_store

    store = open_store()
    summary = seed_demo(store, only_if_empty=args.if_empty)
    print(summary)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Recon Workbench command line")
    commands = parser.add_subparsers(dest="command", required=True)

    imp = commands.add_parser("import", help="import a statement or ledger file as a dataset")
    imp.add_argument("file", help="CSV or XLSX; the format is detected from the content")
    imp.add_argument("--profile", help="mapping profile name (see profiles/) or path to a .toml file")
    imp.add_argument("--out", help="write the canonical rows to this CSV (default: standard output)")
    imp.set_defaults(run=_cmd_import)

    demo = commands.add_parser("demo", help="seed the demo month: books, bank and broker statements")
    demo.add_argument("--if-empty", action="store_true", help="do nothing when the store already has datasets")
    demo.set_defaults(run=_cmd_demo)
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
        if os.environ.get("RECON_DEBUG"):
            traceback.print_exc()
        print(f"error: unexpected failure: {type(exc).__name__}: {exc} (set RECON_DEBUG=1 for details)", file=sys.stderr)
        return 1
