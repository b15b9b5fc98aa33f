"""Pipelines as data: a named list of steps, a schedule and a retry policy, written in TOML.

A pipeline fetches files, imports them, reconciles, posts, exports, compares holdings and
tells people, in the order its steps are written::

    name = "daily-bank"
    description = "The bank's statement of the day against the books"

    [schedule]                      # leave out to run by hand only
    cron = "0 6 * * 1-5"            # five fields; or every_seconds = 3600 (exactly one of the two)
    timezone = "Europe/Amsterdam"   # an IANA name; default "UTC"

    [retry]
    max_attempts = 3                # 1: no retry; default 3
    backoff_seconds = 60            # the first retry after this, doubled each time; default 60

    [[steps]]
    kind = "fetch"
    source = "inbox"                # inbox | sftp | s3
    folder = "inbox/bank"           # relative to the data folder; files go to processed/ once imported
    pattern = "*.sta"

    [[steps]]
    kind = "import"                 # every file fetched by this run (those matching pattern)

    [[steps]]
    kind = "reconcile"
    books = "3f2a9c..."             # a dataset id (or its first characters), or "fetched"
    statement = "fetched"           # "fetched": what this run imported; "fetched:GLOB" by file name
    rules = "rules/default.toml"

    [[steps]]
    kind = "notify"
    when = "always"                 # success | failure | always
    alert = true                    # an in-app alert
    webhook = "https://example.org/hooks/recon"
    secret_env = "RECON_HOOK_SECRET"   # the environment variable holding the signing secret

Each step's settings are listed on its model below (``FetchStep`` ... ``NotifyStep``). A
setting that is not one of them is refused, and so is a setting of another fetch source (a
``host`` on an inbox fetch). Secrets are never written in a pipeline: a pipeline names the
environment variables that hold them (``password_env``, ``secret_env``, ...).

A pipeline is validated like a rule set: every problem on one line, naming the pipeline, the
step by number and kind, and the setting. Cron expressions are read as crontab reads them (days of
the week 0 or 7 Sunday, 1 Monday, ...) and checked by APScheduler's ``CronTrigger``
(:func:`cron_trigger`, which the worker schedules with), time zones by ``zoneinfo``.

Pipelines are kept in the store (``pipelines``): their TOML as saved, paused or not, and a
version raised by every save and every pause or resume, each audited, so a worker sees an
edit without a restart.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
import zoneinfo
from dataclasses import dataclass
from typing import Annotated, Literal, NamedTuple

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import select

from core.domain.validation import problems
from core.store import Store, record_audit
from core.store.models import Pipeline, utc_now

__all__ = ["ExportStep", "FetchStep", "HoldingsStep", "ImportStep", "NotifyStep", "PipelineError", "PipelineSpec", "PostStep",
           "ReconcileStep", "Schedule", "Step", "StoredPipeline", "cron_trigger", "get_pipeline", "list_pipelines", "parse_pipeline",
           "save_pipeline", "set_paused"]

NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"
ENV_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# "fetched", "fetched:GLOB", or a dataset id (or the first six or more of its hex digits).
DATASET_PATTERN = re.compile(r"^(fetched(:.+)?|[0-9a-f]{6,64})$")


def _a_dataset(value: str) -> str:
    if not DATASET_PATTERN.fullmatch(value):
        raise ValueError("a dataset id (six or more of its first characters), fetched, or fetched:GLOB")
    return value


Datasets = Annotated[str, AfterValidator(_a_dataset)]


class PipelineError(ValueError):
    """A pipeline is not valid, or not known; one readable line naming the pipeline, step and setting."""


@dataclass(frozen=True)
class Schedule:
    """When a pipeline runs: a five-field cron expression or an interval (exactly one), in a time zone."""

    cron: str | None
    every_seconds: int | None
    timezone: str = "UTC"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Each fetch source's own settings, and those it cannot do without.
_SOURCE_SETTINGS = {"inbox": {"folder"},
                    "sftp": {"host", "port", "username", "username_env", "password_env", "key_file", "known_hosts", "remote_dir"},
                    "s3": {"bucket", "prefix", "endpoint_url", "region", "access_key_env", "secret_key_env"}}
_SOURCE_REQUIRED = {"inbox": ("folder",), "sftp": ("host", "known_hosts"), "s3": ("bucket",)}


class FetchStep(_Strict):
    """Bring files in. Each file is known by its SHA-256: a file processed before is skipped.

    ``source = "inbox"``: ``folder`` (relative to the data folder, or absolute); a file is moved
    to ``folder/processed/`` once it is imported. ``source = "sftp"``: ``host``, ``port``,
    ``username`` (or ``username_env``), ``password_env`` and/or ``key_file``, ``known_hosts`` (the
    server's host key is checked against it; required), ``remote_dir``. ``source = "s3"``:
    ``bucket``, ``prefix``, ``endpoint_url``, ``region``, ``access_key_env`` and
    ``secret_key_env`` (boto3's own credential chain when left out). ``pattern`` (a file-name
    glob, default ``*``) for all three. ``if_nothing_new``: ``stop`` (the run succeeds and the
    later steps are skipped; the default) or ``continue``.
    """

    kind: Literal["fetch"]
    source: Literal["inbox", "sftp", "s3"]
    pattern: str = Field(default="*", min_length=1)
    if_nothing_new: Literal["stop", "continue"] = "stop"
    folder: str | None = Field(default=None, min_length=1)
    host: str | None = Field(default=None, min_length=1)
    port: int = Field(default=22, ge=1, le=65535)
    username: str | None = Field(default=None, min_length=1)
    username_env: str | None = Field(default=None, pattern=ENV_PATTERN)
    password_env: str | None = Field(default=None, pattern=ENV_PATTERN)
    key_file: str | None = Field(default=None, min_length=1)
    known_hosts: str | None = Field(default=None, min_length=1)
    remote_dir: str = "."
    bucket: str | None = Field(default=None, min_length=3, max_length=63)
    prefix: str = ""
    endpoint_url: str | None = Field(default=None, pattern=r"^https?://")
    region: str | None = None
    access_key_env: str | None = Field(default=None, pattern=ENV_PATTERN)
    secret_key_env: str | None = Field(default=None, pattern=ENV_PATTERN)

    @model_validator(mode="after")
    def _settings_of_its_source(self) -> FetchStep:
        others = sorted((self.model_fields_set & set().union(*_SOURCE_SETTINGS.values())) - _SOURCE_SETTINGS[self.source])
        if others:
            raise ValueError(f"{', '.join(others)}: not a setting of a fetch from {self.source}")
        missing = [name for name in _SOURCE_REQUIRED[self.source] if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a fetch from {self.source} needs {' and '.join(missing)}")
        if self.source == "sftp" and (self.username is None) == (self.username_env is None):
            raise ValueError("an sftp fetch needs exactly one of username and username_env")
        if self.source == "sftp" and self.password_env is None and self.key_file is None:
            raise ValueError("an sftp fetch needs password_env or key_file")
        if (self.access_key_env is None) != (self.secret_key_env is None):
            raise ValueError("access_key_env and secret_key_env go together")
        return self


class ImportStep(_Strict):
    """Import the files fetched by this run (those matching ``pattern``) as datasets, with
    ``profile`` (a profile name or path) or automatic mapping. A bad file fails the step with
    its first finding; nothing of that file is stored. A statement that does not add up is
    refused unless ``accept_unbalanced = true``."""

    kind: Literal["import"]
    pattern: str = Field(default="*", min_length=1)
    profile: str | None = Field(default=None, min_length=1)
    accept_unbalanced: bool = False


class ReconcileStep(_Strict):
    """Reconcile ``books`` against ``statement``, with carry-forward as the Reconcile page does it.

    Each side is a dataset id (or its first six or more characters), ``fetched`` (every dataset
    this run imported) or ``fetched:GLOB`` (those whose file name matches). When one side is
    several datasets, each is reconciled in turn against the other side, oldest file name first.
    ``accounts``: only these accounts (all when left out); ``rules``: a rule-set file (the
    default rule set when left out).
    """

    kind: Literal["reconcile"]
    books: Datasets
    statement: Datasets
    accounts: tuple[str, ...] | None = None
    rules: str | None = Field(default=None, min_length=1)


class PostStep(_Strict):
    """Post records to the ledger by the posting rules in ``rules`` (a file). ``datasets``:
    ``fetched`` (the default), ``fetched:GLOB`` or a dataset id. Posting is idempotent."""

    kind: Literal["post"]
    rules: str = Field(min_length=1)
    datasets: Datasets = "fetched"


class ExportStep(_Strict):
    """Export the breaks and the matches of the reconciliations of this run (the export
    service's files, ``breaks_REFERENCE.csv`` and ``matches_REFERENCE.csv``) to ``folder``:
    relative to the data folder, absolute, or ``s3://bucket/prefix``; as ``csv``, ``xlsx`` or
    ``parquet``."""

    kind: Literal["export"]
    folder: str = Field(min_length=1)
    format: Literal["csv", "xlsx", "parquet"] = "csv"


class HoldingsStep(_Strict):
    """Reconcile holdings: ``books`` (a file path, or ``fetched:GLOB``) against ``registrars``
    (file paths or ``fetched:GLOB`` patterns), as of ``as_of`` (``today``, ``yesterday`` in the
    schedule's time zone, or a date), with ``tolerance`` in units."""

    kind: Literal["holdings"]
    books: str = Field(min_length=1)
    registrars: tuple[str, ...] = Field(min_length=1)
    as_of: str = "yesterday"
    tolerance: str | None = None

    @field_validator("as_of")
    @classmethod
    def _a_day(cls, value: str) -> str:
        if value not in ("today", "yesterday"):
            try:
                dt.date.fromisoformat(value)
            except ValueError:
                raise ValueError("today, yesterday or a date YYYY-MM-DD") from None
        return value

    @field_validator("tolerance")
    @classmethod
    def _a_number(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d+(\.\d+)?", value):
            raise ValueError("a number of units, written as text (\"0.001\")")
        return value


class NotifyStep(_Strict):
    """Tell people how the run went: an in-app alert (``alert = true``) and/or a signed webhook
    (``webhook`` URL, ``secret_env`` naming the environment variable with the signing secret).
    ``when``: ``success`` (only when every earlier step succeeded), ``failure`` (only after a
    step failed) or ``always`` (the default). Unlike other steps, a notify step for failure
    runs after a failed step."""

    kind: Literal["notify"]
    when: Literal["success", "failure", "always"] = "always"
    alert: bool = False
    webhook: str | None = Field(default=None, pattern=r"^https?://")
    secret_env: str | None = Field(default=None, pattern=ENV_PATTERN)

    @model_validator(mode="after")
    def _something_to_send(self) -> NotifyStep:
        if not self.alert and self.webhook is None:
            raise ValueError("a notify step needs alert = true or a webhook")
        if (self.webhook is None) != (self.secret_env is None):
            raise ValueError("webhook and secret_env go together (a webhook is always signed)")
        return self


_STEP_MODELS = {model.model_fields["kind"].annotation.__args__[0]: model
                for model in (FetchStep, ImportStep, ReconcileStep, PostStep, ExportStep, HoldingsStep, NotifyStep)}
Step = Annotated[FetchStep | ImportStep | ReconcileStep | PostStep | ExportStep | HoldingsStep | NotifyStep, Field(discriminator="kind")]


class _ScheduleSection(_Strict):
    cron: str | None = Field(default=None, min_length=1)
    every_seconds: int | None = Field(default=None, ge=1)
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a known time zone (an IANA name such as Europe/Amsterdam)") from None
        return value

    @model_validator(mode="after")
    def _one_way(self) -> _ScheduleSection:
        if (self.cron is None) == (self.every_seconds is None):
            raise ValueError("exactly one of cron and every_seconds")
        if self.cron is not None:
            try:
                cron_trigger(self.cron, self.timezone)
            except ValueError as exc:
                raise ValueError(f"cron: {self.cron!r} is not a five-field cron expression ({exc})") from None
        return self


_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _crontab_weekdays(field: str) -> str:
    """A crontab day-of-week field (0 or 7 Sunday, 1 Monday ... 6 Saturday, names, ranges, steps)
    as the list of day names APScheduler reads the same way.

    APScheduler 3 numbers days from Monday (0) and reads ``1-5`` as Tuesday to Saturday: its
    own warning says so. Names mean the same to both, so the field goes over as names.
    """
    if field == "*":
        return field
    days: set[int] = set()
    for part in field.lower().split(","):
        span, _, step_text = part.partition("/")
        if step_text and not step_text.isdigit():
            raise ValueError(f"day of week {field!r}: {step_text!r} is not a step")
        step = int(step_text or 1)
        if span == "*":
            first, last = 0, 6
        else:
            first_text, _, last_text = span.partition("-")
            first = _weekday_number(first_text, field)
            last = _weekday_number(last_text, field) if last_text else (6 if step_text else first)
            if last_text and last == 0 and first > 0:  # 5-7: Friday to Sunday
                last = 7
        if last < first or step < 1:
            raise ValueError(f"day of week {field!r}: {part!r} is not a range")
        days.update(day % 7 for day in range(first, last + 1, step))
    return ",".join(_WEEKDAYS[day] for day in sorted(days))


def _weekday_number(text: str, field: str) -> int:
    if text in _WEEKDAYS:
        return _WEEKDAYS.index(text)
    if text.isdigit() and int(text) <= 7:
        return int(text) if text != "7" else 7
    raise ValueError(f"day of week {field!r}: {text!r} is not a day (0-7 or sun-sat)")


def cron_trigger(cron: str, timezone: str):
    """APScheduler's trigger for a five-field crontab expression, the days of the week read as
    crontab reads them (0 or 7 Sunday). The worker schedules with this, never ``from_crontab``
    directly.

    Raises:
        ValueError: not a five-field crontab expression.
    """
    from apscheduler.triggers.cron import CronTrigger

    fields = cron.split()
    if len(fields) != 5:
        raise ValueError(f"wrong number of fields; got {len(fields)}, expected 5")
    minute, hour, day, month, weekdays = fields
    return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=_crontab_weekdays(weekdays),
                       timezone=zoneinfo.ZoneInfo(timezone))


class _RetrySection(_Strict):
    max_attempts: int = Field(default=3, ge=1, le=20)
    backoff_seconds: float = Field(default=60, ge=0, le=86_400)


class _PipelineFile(_Strict):
    name: str = Field(min_length=1, max_length=64)
    description: str = ""
    schedule: _ScheduleSection | None = None
    retry: _RetrySection = _RetrySection()
    steps: tuple[Step, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _steps_in_order(self) -> _PipelineFile:
        """A step that works on what an earlier step produced needs that step before it."""
        found = []
        for number, step in enumerate(self.steps, start=1):
            before = {s.kind for s in self.steps[:number - 1]}
            uses_fetched = [value for value in _dataset_settings(step) if value.startswith("fetched")]
            if step.kind == "import" and "fetch" not in before:
                found.append(f"step {number} (import): needs a fetch step before it (it imports the files fetched)")
            elif step.kind in ("reconcile", "post") and uses_fetched and "import" not in before:
                found.append(f"step {number} ({step.kind}): {uses_fetched[0]} needs an import step before it")
            elif step.kind == "holdings" and uses_fetched and "fetch" not in before:
                found.append(f"step {number} (holdings): {uses_fetched[0]} needs a fetch step before it")
            elif step.kind == "export" and "reconcile" not in before:
                found.append(f"step {number} (export): needs a reconcile step before it (it writes that run's breaks and matches)")
        if found:
            raise ValueError("; ".join(found))
        return self

    @field_validator("name")
    @classmethod
    def _a_plain_name(cls, value: str) -> str:
        if not re.fullmatch(NAME_PATTERN, value):
            raise ValueError("letters, digits, _ . and - only")
        return value


@dataclass(frozen=True)
class PipelineSpec:
    """A valid pipeline. ``schedule`` is ``None`` for a pipeline run by hand only."""

    name: str
    description: str
    schedule: Schedule | None
    max_attempts: int
    backoff_seconds: float
    steps: tuple[FetchStep | ImportStep | ReconcileStep | PostStep | ExportStep | HoldingsStep | NotifyStep, ...]


class StoredPipeline(NamedTuple):
    name: str
    version: int
    paused: bool
    spec: PipelineSpec
    definition: str
    updated_by: str
    updated_at: dt.datetime


def parse_pipeline(text: str, *, source: str) -> PipelineSpec:
    """Validate a pipeline's TOML.

    Args:
        source: how messages name the text (a file name, ``<page>``).

    Raises:
        PipelineError: one line naming the source, the pipeline, each step at fault (by number
            and kind) and the setting.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PipelineError(f"{source}: not valid TOML ({exc})") from None
    try:
        found = _PipelineFile.model_validate(raw)
    except ValidationError as exc:
        name = raw.get("name") if isinstance(raw.get("name"), str) else "?"
        raise PipelineError(f"{source}: pipeline {name}: " + "; ".join(_problem_lines(exc, raw))) from None
    schedule = None
    if found.schedule is not None:
        schedule = Schedule(found.schedule.cron, found.schedule.every_seconds, found.schedule.timezone)
    return PipelineSpec(found.name, found.description, schedule, found.retry.max_attempts, found.retry.backoff_seconds, found.steps)


def _problem_lines(exc: ValidationError, raw: dict) -> list[str]:
    lines = []
    steps = raw.get("steps") if isinstance(raw.get("steps"), list) else []
    for location, message in problems(exc, _PipelineFile):
        if len(location) >= 2 and location[0] == "steps" and isinstance(location[1], int):
            index = location[1]
            step = steps[index] if index < len(steps) and isinstance(steps[index], dict) else {}
            rest = location[2:]
            if rest and rest[0] == step.get("kind"):  # the discriminated union puts the kind in the location
                rest = rest[1:]
            if not rest and message.startswith("Input tag"):
                rest, message = ["kind"], "one of fetch, import, reconcile, post, export, holdings, notify"
            elif message == "Extra inputs are not permitted" and step.get("kind") in _STEP_MODELS:
                message = f"not a setting of a {step['kind']} step; its settings are {', '.join(_settings_of(step))}"
            location = [f"step {index + 1} ({step.get('kind', '?')})"] + rest
        lines.append(f"{'.'.join(str(p) for p in location)}: {message}" if location else message)
    return lines


def _dataset_settings(step) -> list[str]:
    """The settings of a step that name datasets or files (``fetched...``, an id, a path)."""
    if step.kind == "reconcile":
        return [step.books, step.statement]
    if step.kind == "post":
        return [step.datasets]
    if step.kind == "holdings":
        return [step.books, *step.registrars]
    return []


def _settings_of(step: dict) -> list[str]:
    """The settings a step of its kind (and, for a fetch, of its source) may have."""
    names = list(_STEP_MODELS[step["kind"]].model_fields)
    source = step.get("source")
    if step["kind"] == "fetch" and source in _SOURCE_SETTINGS:
        others = set().union(*_SOURCE_SETTINGS.values()) - _SOURCE_SETTINGS[source]
        names = [name for name in names if name not in others]
    return names


def _stored(row: Pipeline) -> StoredPipeline:
    return StoredPipeline(row.name, row.version, row.paused, parse_pipeline(row.definition, source=f"pipeline {row.name} (stored)"),
                          row.definition, row.updated_by, row.updated_at)


def save_pipeline(store: Store, text: str, *, actor: str, source: str = "<pipeline>") -> PipelineSpec:
    """Validate and keep a pipeline, new or edited (by its name); its version goes up by one, audited.

    A pipeline saved again keeps its paused state. ``source`` names the text in messages.

    Raises:
        PipelineError: the text is not a valid pipeline; nothing is saved.
    """
    spec = parse_pipeline(text, source=source)
    with store.session(serialised=True) as session:
        row = session.get(Pipeline, spec.name, with_for_update=True)
        before = None if row is None else {"version": row.version, "paused": row.paused, "definition": row.definition}
        if row is None:
            row = Pipeline(name=spec.name, definition=text, paused=False, version=0, updated_by=actor)
            session.add(row)
        row.definition, row.version, row.updated_by, row.updated_at = text, row.version + 1, actor, utc_now()
        record_audit(session, actor, "save_pipeline", "pipeline", spec.name, before,
                     {"version": row.version, "paused": row.paused, "definition": text})
    return spec


def set_paused(store: Store, name: str, paused: bool, *, actor: str) -> None:
    """Pause (no scheduled runs; run now still works) or resume a pipeline; version + 1, audited.

    Raises:
        PipelineError: no pipeline has that name.
    """
    with store.session(serialised=True) as session:
        row = session.get(Pipeline, name, with_for_update=True)
        if row is None:
            raise PipelineError(f"pipeline {name}: no pipeline has that name")
        before = {"version": row.version, "paused": row.paused}
        row.paused, row.version, row.updated_by, row.updated_at = paused, row.version + 1, actor, utc_now()
        record_audit(session, actor, "pause_pipeline" if paused else "resume_pipeline", "pipeline", name, before,
                     {"version": row.version, "paused": paused})


def list_pipelines(store: Store) -> list[StoredPipeline]:
    """Every stored pipeline by name, each with its spec as parsed from its saved TOML."""
    with store.session() as session:
        rows = list(session.scalars(select(Pipeline).order_by(Pipeline.name)))
    return [_stored(row) for row in rows]


def get_pipeline(store: Store, name: str) -> StoredPipeline:
    """One stored pipeline.

    Raises:
        PipelineError: no pipeline has that name.
    """
    with store.session() as session:
        row = session.get(Pipeline, name)
    if row is None:
        raise PipelineError(f"pipeline {name}: no pipeline has that name")
    return _stored(row)
