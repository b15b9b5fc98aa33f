"""Reconciliation runs: two datasets (or two files) and a rule set through the engine, saved.

One pipeline read top to bottom: scope and carry-forward (:mod:`.scope`), match
(:mod:`core.matching`), save (:mod:`.saving`), and for the command line its files
(:mod:`.outputs`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import threading
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import duckdb

from core import config
from core.accounts import load_aliases
from core.domain.accounts import resolve_account_key
from core.domain.findings import RowError
from core.ingest.datasets import stage_file
from core.matching.engine import MatchResult, match_tables
from core.matching.rules import RuleSet
from core.runs.saving import save_run
from core.runs.scope import (account_texts_in_scope, carry_forward_open_breaks, refuse_retired, refuse_while_decisions_wait,
                             rows_in_scope_sql)
from core.store import Store
from core.store.models import DatasetRecord, Run

__all__ = ["RunOutcome", "reconcile_datasets", "reconcile_files"]


class RunOutcome(NamedTuple):
    run: Run
    result: MatchResult


def reconcile_files(store: Store, internal: Path, external: Path, rules: RuleSet, rules_text: str, *,
                    user: str = "system", out: Path | None = None, ahead=None,
                    check: Callable[[MatchResult, DatasetRecord], list[RowError]] | None = None,
                    ) -> tuple[RunOutcome | None, list[RowError]]:
    """Import two files (or find them already imported), match them and save the run.

    This is the command line's path: both files are read once into one DuckDB database,
    the engine works on those tables, and the datasets' Parquet files are written
    alongside. Nothing of the run is saved unless both files import cleanly.

    Args:
        out: a folder for ``matches.csv``, ``breaks.csv`` and ``summary.json``, written
            alongside the saving and moved into place once the run is committed.
        ahead: a ``core.ingest.canonical_csv.ReadAhead`` of the two files, started before the
            caller's imports: the run works in its database.
        check: called with the engine's result and the statement's dataset before the run is
            saved; the errors it returns stop the run unsaved (``brs`` without a bank balance).

    Returns:
        ``(RunOutcome | None, errors)``: the errors of both files, together.
    """
    started = dt.datetime.now(dt.UTC)
    # DuckDB imports pandas the first time it is handed an Arrow table, which the engine
    # does; importing it here, while DuckDB reads the files, takes that off the critical path.
    threading.Thread(target=importlib.import_module, args=("pandas",), daemon=True).start()
    con = ahead.con if ahead is not None else duckdb.connect(config=config.duckdb_settings())
    errors: list[RowError] = []
    staged = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        digests = {"internal": pool.submit(_file_sha256, internal), "external": pool.submit(_file_sha256, external)}
        books, statement = digests["internal"].result(), digests["external"].result()
        if isinstance(books, str) and books == statement:
            same = "is the same file as" if internal.resolve() == external.resolve() else "has the same content as"
            return None, [RowError(external.name, None, None, None,
                                   f"{same} the books ({internal.name}): a file cannot be reconciled against itself")]
        for side, path in (("internal", internal), ("external", external)):
            found, problems = stage_file(store, path, digests[side], con, f"source_{side}", pool, user=user, ahead=ahead)
            errors += problems
            if found is not None:
                staged[side] = found

        def wait_until_stored() -> None:
            for found in staged.values():
                if found.pending is not None:
                    found.pending.result()

        if errors:
            wait_until_stored()
            return None, errors

        def release_sources() -> None:
            # Once the datasets are stored and the engine holds its copies, the tables go.
            wait_until_stored()
            for side in staged:
                con.execute(f"DROP TABLE source_{side}")

        result = match_tables("source_internal", "source_external", rules, con, loaded=release_sources, aliases=load_aliases(store))
    if check is not None:
        errors = check(result, staged["external"].dataset)
        if errors:
            return None, errors
    run = save_run(store, staged["internal"].dataset, staged["external"].dataset, rules, rules_text, result,
                    accounts=None, date_from=None, date_to=None, user=user, started=started, out=out)
    return RunOutcome(run, result), []


def _file_sha256(path: Path) -> str | RowError:
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as exc:
        return RowError(path.name, None, None, None, f"cannot read the file ({exc.strerror or exc})")


def reconcile_datasets(store: Store, internal: DatasetRecord, external: DatasetRecord, rules: RuleSet, rules_text: str, *,
                       accounts: list[str] | None = None, date_from: dt.date | None = None, date_to: dt.date | None = None,
                       user: str = "system") -> RunOutcome:
    """Match the books (``internal``) against a statement (``external``) and save the run.

    Args:
        accounts: only these accounts (any spelling: they are compared by key); all when ``None``.
        date_from, date_to: only records dated within (inclusive).
        rules_text: the rule set's TOML as given, kept with the run.

    Returns:
        The saved run and the engine's result.

    Raises:
        ``core.runs.scope.RunRefused`` while a decision on the accounts' breaks or groups waits
        for an approver, or when a dataset was retired: nothing is run or saved.
    """
    started = dt.datetime.now(dt.UTC)
    refuse_retired(store, (internal, external))
    con = duckdb.connect(config=config.duckdb_settings())
    aliases = load_aliases(store)
    keys = sorted({resolve_account_key(a, aliases) for a in accounts}) if accounts else None
    texts = account_texts_in_scope(store, (internal, external), keys, con, aliases)
    refuse_while_decisions_wait(store, internal, external, keys, con, aliases)
    previous = carry_forward_open_breaks(store, internal, external, keys, con, aliases)
    result = match_tables(rows_in_scope_sql(store, internal, texts, date_from, date_to, "internal"),
                          rows_in_scope_sql(store, external, texts, date_from, date_to, "external"), rules, con, aliases=aliases)
    run = save_run(store, internal, external, rules, rules_text, result, accounts=accounts, date_from=date_from,
                    date_to=date_to, user=user, started=started, previous=previous)
    return RunOutcome(run, result)

