"""Pipelines as TOML: what a valid one gives, every refusal on one readable line, and keeping
them in the store (versions, pause and resume, audited)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.jobs.pipelines import PipelineError, Schedule, list_pipelines, parse_pipeline, save_pipeline, set_paused
from core.store.models import AuditEntry

FULL = '''
name = "daily-bank"
description = "The bank's statement of the day against the books"

[schedule]
cron = "0 6 * * 1-5"
timezone = "Europe/Amsterdam"

[retry]
max_attempts = 4
backoff_seconds = 30

[[steps]]
kind = "fetch"
source = "sftp"
host = "sftp.bank.example"
username = "recon"
password_env = "BANK_SFTP_PASSWORD"
known_hosts = "keys/known_hosts"
remote_dir = "/out"
pattern = "*.sta"

[[steps]]
kind = "import"
profile = "first_national_usd"

[[steps]]
kind = "reconcile"
books = "3f2a9c01"
statement = "fetched:*.sta"
accounts = ["NL91ABNA0417164300"]
rules = "default"

[[steps]]
kind = "post"
rules = "posting/bank.toml"

[[steps]]
kind = "export"
folder = "exports/daily"
format = "xlsx"

[[steps]]
kind = "notify"
when = "failure"
alert = true
webhook = "https://hooks.example.org/recon"
secret_env = "RECON_HOOK_SECRET"
'''


def refusal(text: str) -> str:
    with pytest.raises(PipelineError) as caught:
        parse_pipeline(text, source="daily.toml")
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_full_pipeline_gives_its_schedule_retry_policy_and_steps_in_order():
    spec = parse_pipeline(FULL, source="daily.toml")
    assert spec.name == "daily-bank"
    assert spec.schedule == Schedule(cron="0 6 * * 1-5", every_seconds=None, timezone="Europe/Amsterdam")
    assert (spec.max_attempts, spec.backoff_seconds) == (4, 30)
    assert [s.kind for s in spec.steps] == ["fetch", "import", "reconcile", "post", "export", "notify"]
    assert spec.steps[0].password_env == "BANK_SFTP_PASSWORD" and spec.steps[2].accounts == ("NL91ABNA0417164300",)


def test_a_pipeline_without_schedule_or_retry_runs_by_hand_with_three_attempts_a_minute_apart():
    spec = parse_pipeline('name = "by-hand"\n[[steps]]\nkind = "notify"\nalert = true\n', source="x.toml")
    assert spec.schedule is None
    assert (spec.max_attempts, spec.backoff_seconds) == (3, 60)


def test_an_interval_schedule_defaults_to_utc():
    spec = parse_pipeline('name = "often"\n[schedule]\nevery_seconds = 5\n[[steps]]\nkind = "notify"\nalert = true\n', source="x.toml")
    assert spec.schedule == Schedule(cron=None, every_seconds=5, timezone="UTC")


@pytest.mark.parametrize(("change", "expected"), [
    (('cron = "0 6 * * 1-5"', 'cron = "0 25 * * *"'),
     "daily.toml: pipeline daily-bank: schedule: cron: '0 25 * * *' is not a five-field cron"),
    (('cron = "0 6 * * 1-5"', 'cron = "0 6 * *"'), "is not a five-field cron expression"),
    (('cron = "0 6 * * 1-5"', 'cron = "0 6 * * 1-5"\nevery_seconds = 60'), "schedule: exactly one of cron and every_seconds"),
    (('timezone = "Europe/Amsterdam"', 'timezone = "Europe/Atlantis"'),
     "schedule.timezone: 'Europe/Atlantis' is not a known time zone"),
    (('max_attempts = 4', 'max_attempts = 0'), "retry.max_attempts: Input should be greater than or equal to 1"),
    (('description =', 'owner = "ops"\ndescription ='), "pipeline daily-bank: owner: not a setting"),
    (('remote_dir = "/out"', 'remote_dir = "/out"\npassword = "hunter2"'),
     "step 1 (fetch).password: not a setting of a fetch step; its settings are kind, source, pattern, if_nothing_new, host, port"),
    (('remote_dir = "/out"', 'remote_dir = "/out"\nfolder = "inbox"'), "step 1 (fetch): folder: not a setting of a fetch from sftp"),
    (('known_hosts = "keys/known_hosts"\n', ''), "step 1 (fetch): a fetch from sftp needs known_hosts"),
    (('kind = "import"', 'kind = "load"'), "step 2 (load).kind: one of fetch, import, reconcile, post, export, holdings, notify"),
    (('books = "3f2a9c01"', 'books = "last week"'),
     "step 3 (reconcile).books: a dataset id (six or more of its first characters), fetched"),
    (('format = "xlsx"', 'format = "pdf"'), "step 5 (export).format: Input should be 'csv', 'xlsx' or 'parquet'"),
    (('secret_env = "RECON_HOOK_SECRET"', 'secret = "abc"'), "step 6 (notify).secret: not a setting of a notify step"),
    (('webhook = "https://hooks.example.org/recon"', 'webhook = "ftp://hooks.example.org/recon"'), "step 6 (notify).webhook"),
])
def test_a_wrong_setting_is_refused_naming_pipeline_step_and_setting(change, expected):
    old, new = change
    assert old in FULL
    assert expected in refusal(FULL.replace(old, new, 1))


def test_steps_that_need_an_earlier_step_are_refused_without_it():
    text = 'name = "p"\n[[steps]]\nkind = "import"\n[[steps]]\nkind = "export"\nfolder = "out"\n'
    message = refusal(text)
    assert "step 1 (import): needs a fetch step before it" in message
    assert "step 2 (export): needs a reconcile step before it" in message


def test_every_problem_is_reported_at_once():
    message = refusal(FULL.replace('format = "xlsx"', 'format = "pdf"').replace('kind = "import"', 'kind = "import"\nprofiles = "x"'))
    assert "step 2 (import).profiles" in message and "step 5 (export).format" in message


def test_text_that_is_not_toml_is_refused_as_such():
    assert refusal("name = ").startswith("daily.toml: not valid TOML (")


def test_a_pipeline_with_no_steps_or_a_bad_name_is_refused():
    message = refusal('name = "two words"\nsteps = []\n')
    assert "name: letters, digits, _ . and - only" in message and "steps:" in message


def test_saving_raises_the_version_keeps_the_paused_state_and_is_audited(store):
    save_pipeline(store, FULL, actor="ana")
    set_paused(store, "daily-bank", True, actor="ben")
    save_pipeline(store, FULL.replace("max_attempts = 4", "max_attempts = 2"), actor="ana")
    [stored] = list_pipelines(store)
    assert (stored.version, stored.paused, stored.spec.max_attempts, stored.updated_by) == (3, True, 2, "ana")
    set_paused(store, "daily-bank", False, actor="ben")
    assert list_pipelines(store)[0].paused is False
    with store.session() as session:
        actions = [(a.actor, a.action, a.entity_id) for a in session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "pipeline")
                                                                             .order_by(AuditEntry.id))]
    assert actions == [("ana", "save_pipeline", "daily-bank"), ("ben", "pause_pipeline", "daily-bank"),
                       ("ana", "save_pipeline", "daily-bank"), ("ben", "resume_pipeline", "daily-bank")]


def test_an_invalid_pipeline_is_not_saved(store):
    with pytest.raises(PipelineError):
        save_pipeline(store, FULL.replace('format = "xlsx"', 'format = "pdf"'), actor="ana")
    assert list_pipelines(store) == []


def test_pausing_an_unknown_pipeline_is_refused(store):
    with pytest.raises(PipelineError, match="pipeline nightly: no pipeline has that name"):
        set_paused(store, "nightly", True, actor="ana")


@pytest.mark.parametrize(("weekdays", "fires_on"), [
    ("1-5", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
    ("0", ["Sun"]), ("7", ["Sun"]), ("5-7", ["Fri", "Sat", "Sun"]), ("*/2", ["Sun", "Tue", "Thu", "Sat"]),
    ("mon,wed", ["Mon", "Wed"]), ("*", ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]),
])
def test_days_of_the_week_are_read_as_crontab_reads_them(weekdays, fires_on):
    import datetime as dt

    from core.jobs.pipelines import cron_trigger

    trigger = cron_trigger(f"0 6 * * {weekdays}", "Europe/Amsterdam")
    moment, days = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC), set()  # a Saturday
    for _ in range(7):
        moment = trigger.get_next_fire_time(None, moment + dt.timedelta(minutes=1))
        assert (moment.hour, moment.minute) == (6, 0)
        days.add(moment.strftime("%a"))
    assert days == set(fires_on)


def test_a_day_of_the_week_that_is_not_one_is_refused():
    assert "day of week '8': '8' is not a day (0-7 or sun-sat)" in refusal(FULL.replace('"0 6 * * 1-5"', '"0 6 * * 8"'))
