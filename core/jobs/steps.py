"""The steps of a pipeline: each takes the run's context and its settings and returns its outputs.

A step returns ``(message, outputs)``: one line for the step log, and lists to add to the run's
outputs (``fetched`` files, ``datasets``, reconciliation ``runs``, ``holdings_runs``, ``files``
written, ``posted``, ``alerts``, webhook ``deliveries``), which later steps read. A step that
cannot do its work raises :class:`StepFailed` with one readable line; :class:`StopRun` ends
the run early as a success (nothing new was fetched).

Paths: the folders and files a pipeline takes in or writes out as data (an inbox, an export
folder, holdings files, an SFTP key and known_hosts file) are relative to the data folder; rule sets and posting rules are
relative to the project folder (a rule set may also be named, ``default``). Absolute paths are
used as given.

A fetched file is *processed* once it is imported (or, in a pipeline without an import step
after the fetch, once fetched): its SHA-256 goes into ``fetched_files`` and an inbox file moves
to ``processed/`` beside it. A file whose SHA-256 is there already is skipped by every later
fetch, whatever its name.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import zoneinfo
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy import select

from core import config
from core.atomic import publish, temporary_path
from core.jobs.pipelines import (ExportStep, FetchStep, HoldingsStep, ImportStep, NotifyStep, PipelineSpec, PostStep, ReconcileStep,
                                 Schedule)
from core.store import Store
from core.store.models import DatasetRecord, FetchedFile

__all__ = ["RunContext", "StepFailed", "StopRun", "run_step"]


class StepFailed(RuntimeError):
    """A step could not do its work; the message is one line for the run's error. ``outputs``:
    what it produced all the same (the deliveries of a webhook that was refused)."""

    def __init__(self, message: str, outputs: dict[str, list] | None = None):
        super().__init__(message)
        self.outputs = outputs or {}


class StopRun(Exception):  # noqa: N818 (not an error: the run ends as a success)
    """Nothing for the later steps to do: the run ends, succeeded, and they are skipped."""


@dataclass
class RunContext:
    """What a step knows of its run: the store, the pipeline, who runs it, and what the steps
    before it produced (``outputs``, lists by kind, JSON-ready)."""

    store: Store
    run_id: int
    pipeline: PipelineSpec
    actor: str
    scheduled_for: dt.datetime
    attempt: int = 1
    position: int = 1  # the step being run, from 1
    outputs: dict[str, list] = field(default_factory=dict)
    failure: str | None = None  # the error of an earlier step, for a notify step run after it


def run_step(context: RunContext, step) -> tuple[str, dict[str, list]]:
    """Do one step; see the module docstring for what it returns and raises."""
    return _STEPS[step.kind](context, step)


def _data_path(store: Store, text: str) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else store.data_dir / path


def _project_path(text: str) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else config.PROJECT_ROOT / path


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


# -- fetch ------------------------------------------------------------------------------------

def fetch(context: RunContext, step: FetchStep) -> tuple[str, dict]:
    """Bring in the source's files not processed before; see ``FetchStep`` for the settings."""
    store = context.store
    with store.session() as session:
        seen = set(session.scalars(select(FetchedFile.sha256)))
    target = store.data_dir / "fetched" / context.pipeline.name / str(context.run_id)
    if step.source == "inbox":
        items, skipped, where = _fetch_inbox(store, step, seen)
    elif step.source == "sftp":
        items, skipped, where = _fetch_sftp(store, step, target, seen)
    else:
        items, skipped, where = _fetch_s3(step, target, seen)
    later = context.pipeline.steps[context.position:]
    if not any(s.kind == "import" for s in later):
        _mark_processed(store, items)
    message = f"{_plural(len(items), 'new file')} from {where}" + (f" ({skipped} processed before, skipped)" if skipped else "")
    if not items and step.if_nothing_new == "stop":
        raise StopRun(f"{message}: nothing new, the later steps are skipped")
    return message, {"fetched": items}


def _fetch_inbox(store: Store, step: FetchStep, seen: set[str]) -> tuple[list[dict], int, str]:
    folder = _data_path(store, step.folder)
    if not folder.is_dir():
        raise StepFailed(f"inbox {folder}: no such folder")
    items, skipped = [], 0
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and fnmatch.fnmatch(p.name, step.pattern)):
        digest = _sha256(path)
        if digest in seen:
            _move_to_processed(path)  # the same content came in before: out of the way, as processed
            skipped += 1
            continue
        seen.add(digest)
        items.append({"name": path.name, "path": str(path), "sha256": digest, "size": path.stat().st_size, "source": f"inbox:{path}",
                      "inbox": True})
    return items, skipped, f"inbox {folder}"


def _fetch_sftp(store: Store, step: FetchStep, target: Path, seen: set[str]) -> tuple[list[dict], int, str]:
    from connectors.sources.sftp import SftpError, SftpSource, fetch_files

    username = step.username or _secret(step.username_env, "the SFTP user name")
    password = _secret(step.password_env, "the SFTP password") if step.password_env else None
    source = SftpSource(step.host, step.port, username, step.remote_dir, step.pattern, password=password,
                        client_keys=(str(_data_path(store, step.key_file)),) if step.key_file else (),
                        known_hosts=str(_data_path(store, step.known_hosts)))
    try:
        fetched = fetch_files(source, target, already_seen=seen)
    except SftpError as exc:
        raise StepFailed(str(exc)) from None
    items = [{"name": f.local_path.name, "path": str(f.local_path), "sha256": f.sha256, "size": f.size,
              "source": source.describe(f.remote_path), "inbox": False} for f in fetched]
    return items, 0, f"sftp {step.host}:{step.remote_dir}"


def _fetch_s3(step: FetchStep, target: Path, seen: set[str]) -> tuple[list[dict], int, str]:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    where = f"s3://{step.bucket}/{step.prefix}"
    credentials = {}
    if step.access_key_env:
        credentials = {"aws_access_key_id": _secret(step.access_key_env, "the S3 access key"),
                       "aws_secret_access_key": _secret(step.secret_key_env, "the S3 secret key")}
    items, skipped = [], 0
    try:
        client = boto3.client("s3", endpoint_url=step.endpoint_url, region_name=step.region, **credentials)
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=step.bucket, Prefix=step.prefix):
            for entry in page.get("Contents", []):
                key = entry["Key"]
                name = key.rsplit("/", 1)[-1]
                if not name or not fnmatch.fnmatch(name, step.pattern):
                    continue
                data = client.get_object(Bucket=step.bucket, Key=key)["Body"].read()
                digest = hashlib.sha256(data).hexdigest()
                if digest in seen:
                    skipped += 1
                    continue
                seen.add(digest)
                target.mkdir(parents=True, exist_ok=True)
                local = target / name
                if local.exists():  # the same name under another part of the prefix
                    local = target / f"{local.stem}-{digest[:8]}{local.suffix}"
                temporary = temporary_path(local)
                temporary.write_bytes(data)
                publish(temporary, local)
                items.append({"name": name, "path": str(local), "sha256": digest, "size": len(data), "source": f"s3://{step.bucket}/{key}",
                              "inbox": False})
    except (BotoCoreError, ClientError) as exc:
        raise StepFailed(f"{where}: {' '.join(str(exc).split())}") from None
    return items, skipped, where


def _secret(variable: str, what: str) -> str:
    value = config.named_secret(variable)
    if value is None:
        raise StepFailed(f"the environment variable {variable} ({what}) is not set")
    return value


def _move_to_processed(path: Path) -> Path:
    processed = path.parent / "processed"
    processed.mkdir(exist_ok=True)
    target = processed / path.name
    if target.exists():
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        target = processed / f"{path.stem}-{stamp}{path.suffix}"
    path.replace(target)
    return target


def _mark_processed(store: Store, items: list[dict]) -> None:
    """Record the files' hashes (so no later fetch takes them again) and move inbox files to processed/."""
    if not items:
        return
    with store.session() as session:
        known = set(session.scalars(select(FetchedFile.sha256).where(FetchedFile.sha256.in_([i["sha256"] for i in items]))))
        for item in items:
            if item["sha256"] not in known:
                known.add(item["sha256"])
                session.add(FetchedFile(sha256=item["sha256"], source=item["source"][:255], local_path=item["path"], size=item["size"]))
    for item in items:
        if item.get("inbox") and Path(item["path"]).is_file():
            item["path"] = str(_move_to_processed(Path(item["path"])))


# -- import -----------------------------------------------------------------------------------

def import_fetched(context: RunContext, step: ImportStep) -> tuple[str, dict]:
    """Import the fetched files matching ``pattern``; the first bad file fails the step."""
    from core.ingest.datasets import import_file

    items = [i for i in context.outputs.get("fetched", []) if fnmatch.fnmatch(i["name"], step.pattern)]
    datasets, new = [], 0
    for item in items:
        outcome, errors = import_file(context.store, item["path"], step.profile, user=context.actor,
                                      accept_unbalanced=step.accept_unbalanced)
        if errors:
            more = f" (and {_plural(len(errors) - 1, 'more problem')})" if len(errors) > 1 else ""
            raise StepFailed(f"{errors[0]}{more}")
        new += outcome.created
        datasets.append({"id": outcome.dataset.id, "name": item["name"], "rows": outcome.dataset.row_count, "new": outcome.created})
    _mark_processed(context.store, items)
    if not items:
        return "no fetched file to import", {}
    return f"{_plural(len(datasets), 'file')} imported ({new} new, {len(datasets) - new} imported before)", {"datasets": datasets}


# -- reconcile --------------------------------------------------------------------------------

def _datasets(context: RunContext, wanted: str, setting: str) -> list[DatasetRecord]:
    """The datasets a setting names: this run's imports (``fetched``, ``fetched:GLOB``) or one by id."""
    with context.store.session() as session:
        if wanted.startswith("fetched"):
            pattern = wanted.partition(":")[2] or "*"
            imported = sorted(context.outputs.get("datasets", []), key=lambda d: d["name"])
            ids = [d["id"] for d in imported if fnmatch.fnmatch(d["name"], pattern)]
            found = {d.id: d for d in session.scalars(select(DatasetRecord).where(DatasetRecord.id.in_(ids)))}
            records = [found[i] for i in dict.fromkeys(ids) if i in found]
            if not records:
                raise StepFailed(f"{setting}: no dataset imported by this run matches {wanted}")
            return records
        records = list(session.scalars(select(DatasetRecord).where(DatasetRecord.id.startswith(wanted))))
    if len(records) != 1:
        raise StepFailed(f"{setting}: {'several datasets have' if records else 'no dataset has'} an id starting {wanted}")
    return records


def _rule_set(text: str | None):
    from core.matching.rules import RuleSetError, default_rules_path, load_rules, rules_dir

    path = default_rules_path() if text is None else rules_dir() / f"{text}.toml" if "/" not in text and not text.endswith(".toml") \
        else _project_path(text)
    try:
        return load_rules(path), path.read_text(encoding="utf-8")
    except RuleSetError as exc:
        raise StepFailed(str(exc)) from None


def reconcile(context: RunContext, step: ReconcileStep) -> tuple[str, dict]:
    """Reconcile books against statements, with carry-forward; one run per pair."""
    from core.runs.reconcile import reconcile_datasets
    from core.runs.scope import RunRefused

    books, statements = _datasets(context, step.books, "books"), _datasets(context, step.statement, "statement")
    if len(books) > 1 and len(statements) > 1:
        raise StepFailed(f"books ({len(books)} datasets) and statement ({len(statements)}) are both several: "
                         "name one side by id or narrow its pattern")
    rules, rules_text = _rule_set(step.rules)
    runs, lines = [], []
    for internal in books:
        for external in statements:
            try:
                outcome = reconcile_datasets(context.store, internal, external, rules, rules_text,
                                             accounts=list(step.accounts) if step.accounts else None, user=context.actor)
            except RunRefused as exc:
                raise StepFailed(str(exc)) from None
            summary = outcome.result.summary
            runs.append(outcome.run.id)
            lines.append(f"run {outcome.run.id}: {_plural(summary['groups']['total'], 'group')}, "
                         f"{summary['sides']['internal']['open']} + {summary['sides']['external']['open']} open")
    return "; ".join(lines), {"runs": runs}


# -- post -------------------------------------------------------------------------------------

def post(context: RunContext, step: PostStep) -> tuple[str, dict]:
    """Post the datasets' records to the ledger by the posting rules; each record once."""
    from core.accounts import load_aliases
    from core.banking.ledger import LedgerError
    from core.banking.posting import PostingRuleError, load_posting_rules, post_records
    from core.ingest.datasets import load_dataset_table

    try:
        rules = load_posting_rules(_project_path(step.rules))
    except PostingRuleError as exc:
        raise StepFailed(str(exc)) from None
    aliases = load_aliases(context.store)
    posted, lines = [], []
    for record in _datasets(context, step.datasets, "datasets"):
        try:
            outcome = post_records(context.store, record.id, load_dataset_table(context.store, record).to_pylist(), rules,
                                   actor=context.actor, aliases=aliases)
        except LedgerError as exc:
            raise StepFailed(str(exc)) from None
        posted.append({"dataset": record.id, "posted": outcome.posted, "drafts": outcome.drafts, "already": outcome.already,
                       "uncovered": len(outcome.uncovered)})
        lines.append(f"{record.name}: {outcome.posted} posted, {outcome.drafts} drafts, {outcome.already} posted before, "
                     f"{len(outcome.uncovered)} not covered")
    return "; ".join(lines), {"posted": posted}


# -- export -----------------------------------------------------------------------------------

def export(context: RunContext, step: ExportStep) -> tuple[str, dict]:
    """Export the breaks and matches of each reconciliation of this run through the export
    service (``core.exports``), to ``folder``: the same file and its record (rows, bytes,
    SHA-256) as an export asked for on the page or over the API. A retry of the run asks again
    and gets the same export, or rebuilds a failed one; an export that fails fails the step.
    """
    # Imported here: a pipeline that exports nothing never loads the export files' code.
    from core.exports.requests import ExportError, ExportRequest, export_or_fail

    runs = context.outputs.get("runs", [])
    if not runs:
        raise StepFailed("no reconciliation run of this run to export")
    destination = step.folder if step.folder.lower().startswith("s3://") else str(_data_path(context.store, step.folder))
    files, exports = [], []
    for run_id in runs:
        for kind in ("breaks", "matches"):
            request = ExportRequest(kind=kind, format=step.format, destination=destination, run_id=run_id)
            try:
                view = export_or_fail(context.store, request, actor=context.actor, worker=f"pipeline-run:{context.run_id}")
            except ExportError as exc:
                raise StepFailed(f"{kind} of run {run_id}: {exc}") from None
            files.append(view.location)
            exports.append(view.reference_id)
    return f"{_plural(len(files), 'file')} exported to {step.folder}", {"files": files, "exports": exports}


# -- holdings ---------------------------------------------------------------------------------

def _files(context: RunContext, wanted: str, setting: str) -> list[Path]:
    if wanted.startswith("fetched:"):
        paths = [Path(i["path"]) for i in context.outputs.get("fetched", []) if fnmatch.fnmatch(i["name"], wanted.partition(":")[2])]
        if not paths:
            raise StepFailed(f"{setting}: no file fetched by this run matches {wanted}")
        return paths
    return [_data_path(context.store, wanted)]


def _as_of(context: RunContext, text: str) -> dt.date:
    if text not in ("today", "yesterday"):
        return dt.date.fromisoformat(text)
    schedule = context.pipeline.schedule or Schedule(None, None, "UTC")
    today = context.scheduled_for.astimezone(zoneinfo.ZoneInfo(schedule.timezone)).date()
    return today if text == "today" else today - dt.timedelta(days=1)


def holdings(context: RunContext, step: HoldingsStep) -> tuple[str, dict]:
    """Reconcile the books' holdings against the registrars' files as of the day."""
    from core.holdings.compare import DEFAULT_TOLERANCE
    from core.holdings.service import read_source_files, run_holdings

    books = _files(context, step.books, "books")
    if len(books) != 1:
        raise StepFailed(f"books: {step.books} matches {len(books)} files; it must name one")
    registrars = [path for wanted in step.registrars for path in _files(context, wanted, "registrars")]
    sources, errors = read_source_files(books + registrars)
    if errors:
        raise StepFailed(str(errors[0]))
    try:
        tolerance = Decimal(step.tolerance) if step.tolerance is not None else DEFAULT_TOLERANCE
    except InvalidOperation:
        raise StepFailed(f"tolerance: {step.tolerance!r} is not a number") from None
    as_of = _as_of(context, step.as_of)
    outcome = run_holdings(context.store, sources[0], sources[1:], as_of, tolerance, user=context.actor)
    if outcome.errors:
        more = f" (and {_plural(len(outcome.errors) - 1, 'more problem')})" if len(outcome.errors) > 1 else ""
        raise StepFailed(f"{outcome.errors[0]}{more}")
    counts: dict[str, int] = {}
    for row in outcome.rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    figures = ", ".join(f"{n} {status.replace('_', '-')}" for status, n in sorted(counts.items())) or "no positions"
    return f"holdings run {outcome.run.id} as of {as_of}: {figures}", {"holdings_runs": [outcome.run.id]}


# -- notify -----------------------------------------------------------------------------------

def notify(context: RunContext, step: NotifyStep) -> tuple[str, dict]:
    """Raise an in-app alert and/or deliver a signed webhook saying how the run went."""
    from core.banking.alerts import AlertDraft, raise_alerts
    from core.jobs.notify import deliver_webhook, event_body

    failed = context.failure is not None
    event = "pipeline.run.failed" if failed else "pipeline.run.succeeded"
    will_retry = failed and context.attempt < context.pipeline.max_attempts
    outputs: dict[str, list] = {}
    lines = []
    if step.alert:
        text = (f"pipeline {context.pipeline.name}, run {context.run_id} (attempt {context.attempt}) failed: {context.failure}"
                + ("; it will be retried" if will_retry else "") if failed
                else f"pipeline {context.pipeline.name}, run {context.run_id} succeeded")
        draft = AlertDraft("pipeline_failed" if failed else "pipeline_succeeded", context.pipeline.name,
                           context.scheduled_for.date().isoformat(), f"run {context.run_id}", Decimal(0), Decimal(0), text)
        alerts = raise_alerts(context.store, [draft], actor=context.actor)
        outputs["alerts"] = [a.id for a in alerts]
        lines.append(f"alert {alerts[0].id} raised" if alerts else "alert raised before")
    if step.webhook is not None:
        secret = _secret(step.secret_env, "the webhook's secret")
        produced = {key: values for key, values in context.outputs.items()
                    if key in ("datasets", "runs", "holdings_runs", "files", "posted")}
        body = event_body(event, {"pipeline": context.pipeline.name, "run_id": context.run_id, "attempt": context.attempt,
                                  "scheduled_for": context.scheduled_for.isoformat(), "status": "failed" if failed else "succeeded",
                                  "error": context.failure, "will_retry": will_retry, "outputs": produced})
        rows = deliver_webhook(context.store, step.webhook, event, body, secret, run_id=context.run_id)
        outputs["deliveries"] = [row.id for row in rows]
        last = rows[-1]
        if not last.delivered:
            raise StepFailed(f"webhook {step.webhook}: not delivered after {_plural(len(rows), 'attempt')} ({last.error})", outputs)
        lines.append(f"webhook delivered to {step.webhook} ({_plural(len(rows), 'attempt')})")
    return "; ".join(lines), outputs


_STEPS = {"fetch": fetch, "import": import_fetched, "reconcile": reconcile, "post": post, "export": export, "holdings": holdings,
          "notify": notify}
