"""Each step on its own store: the inbox fetch (a file fetched twice is processed once), import,
reconcile with carry-forward, post, export, holdings and the in-app alert of notify."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.banking.ledger import ChartRow, import_chart
from core.exports.requests import get_export
from core.jobs.pipelines import save_pipeline
from core.jobs.runs import list_runs, run_now, run_steps_of
from core.store.models import Alert, Break, DatasetRecord, FetchedFile, Journal, Run
from tests.core.holdings.test_holdings import BOOKS as HOLDINGS_BOOKS
from tests.core.holdings.test_holdings import cams_transactions, kfintech_holdings
from tests.core.jobs.conftest import BANK_DAY_ONE, BANK_DAY_TWO, BOOKS, inbox_steps, pipeline_text


def count(store, model, *where):
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_a_file_fetched_twice_is_processed_once(store, books, inbox):
    save_pipeline(store, pipeline_text(steps=inbox_steps(books.id)), actor="ana")
    (inbox / "bank.csv").write_bytes(BANK_DAY_ONE)
    first = run_now(store, "daily-bank", actor="ana")
    assert first.status == "succeeded" and (inbox / "processed" / "bank.csv").is_file() and not (inbox / "bank.csv").exists()
    (inbox / "bank-sent-again.csv").write_bytes(BANK_DAY_ONE)  # the same bytes under another name
    second = run_now(store, "daily-bank", actor="ana")
    assert second.status == "succeeded"
    assert [(s.kind, s.status) for s in run_steps_of(store, second.id)] == [("fetch", "succeeded"), ("import", "skipped"),
                                                                              ("reconcile", "skipped")]
    fetch_message = run_steps_of(store, second.id)[0].message
    assert "0 new files" in fetch_message and "(1 processed before, skipped)" in fetch_message
    assert (count(store, Run), count(store, DatasetRecord), count(store, FetchedFile)) == (1, 2, 1)
    assert sorted(p.name for p in (inbox / "processed").iterdir()) == ["bank-sent-again.csv", "bank.csv"]


def test_an_inbox_that_is_missing_fails_the_fetch_naming_it(store):
    save_pipeline(store, pipeline_text(steps='[[steps]]\nkind = "fetch"\nsource = "inbox"\nfolder = "nowhere"\n'), actor="ana")
    run = run_now(store, "daily-bank", actor="ana")
    assert run.status == "failed" and run.error == f"step 1 (fetch): inbox {store.data_dir / 'nowhere'}: no such folder"


def test_reconcile_carries_forward_the_open_breaks_of_the_day_before(store, inbox):
    steps = '''[[steps]]\nkind = "fetch"\nsource = "inbox"\nfolder = "inbox/bank"\n[[steps]]\nkind = "import"
[[steps]]\nkind = "reconcile"\nbooks = "fetched:books-*"\nstatement = "fetched:bank-*"\n'''
    save_pipeline(store, pipeline_text(steps=steps), actor="ana")
    (inbox / "books-2026-11-04.csv").write_bytes(BOOKS)
    (inbox / "bank-2026-11-04.csv").write_bytes(BANK_DAY_ONE)
    first = run_now(store, "daily-bank", actor="ana")
    (inbox / "books-2026-11-05.csv").write_bytes(BOOKS.splitlines(keepends=True)[0] + b"b4,NL91ABNA0417164300,2026-11-05,60.00,EUR,INV-2\n")
    (inbox / "bank-2026-11-05.csv").write_bytes(BANK_DAY_TWO + b"s4,NL91ABNA0417164300,2026-11-05,60.00,EUR,INV-2\n")
    second = run_now(store, "daily-bank", actor="ana")
    [day_one], [day_two] = first.outputs["runs"], second.outputs["runs"]
    with store.session() as session:
        open_after_one = session.scalars(select(Break.record_id).where(Break.run_id == day_one)).all()
        open_after_two = session.scalars(select(Break.record_id).where(Break.run_id == day_two, Break.status == "open")).all()
        run_two = session.get(Run, day_two)
    assert open_after_one == ["b3"]  # the cheque the bank had not paid yet
    assert open_after_two == [] and run_two.summary["groups"]["total"] == 2  # carried forward, and paid on day two
    assert run_steps_of(store, second.id)[2].message.startswith(f"run {day_two}: 2 groups, 0 + 0 open")


def test_a_reconcile_naming_a_dataset_that_does_not_exist_fails_with_that_line(store, inbox):
    save_pipeline(store, pipeline_text(steps=inbox_steps("abcdef0123456789")), actor="ana")
    (inbox / "bank.csv").write_bytes(BANK_DAY_ONE)
    run = run_now(store, "daily-bank", actor="ana")
    assert run.error == "step 3 (reconcile): books: no dataset has an id starting abcdef012345"


def test_export_writes_the_breaks_and_matches_of_the_runs_reconciliation(store, books, inbox):
    save_pipeline(store, pipeline_text(steps=inbox_steps(books.id, '[[steps]]\nkind = "export"\nfolder = "exports/daily"\n')), actor="ana")
    (inbox / "bank.csv").write_bytes(BANK_DAY_ONE)
    run = run_now(store, "daily-bank", actor="ana")
    [run_id] = run.outputs["runs"]
    folder = store.data_dir / "exports" / "daily"
    breaks_file, matches_file = (Path(f) for f in run.outputs["files"])
    assert (breaks_file.parent, matches_file.parent) == (folder, folder)
    assert breaks_file.name.startswith("breaks_") and matches_file.name.startswith("matches_")
    assert [get_export(store, r).request["run_id"] for r in run.outputs["exports"]] == [run_id, run_id]
    breaks = list(csv.DictReader(breaks_file.open()))
    matches = list(csv.DictReader(matches_file.open()))
    assert [(b["record_id"], b["amount"]) for b in breaks] == [("b3", "-40.00")]
    assert sorted(m["record_id"] for m in matches) == ["b1", "b2", "s1", "s2"]


def test_post_posts_the_fetched_statement_once(store, inbox):
    import_chart(store, [ChartRow("1000", "Bank EUR", "asset", True, "NL91ABNA0417164300"), ChartRow("4000", "Sales", "income"),
                         ChartRow("6100", "Payments", "expense")], actor="ana")
    rules = store.data_dir / "posting.toml"
    rules.write_text('[[rules]]\nname = "in"\nsign = "in"\naccount = "4000"\n\n[[rules]]\nname = "out"\nsign = "out"\naccount = "6100"\n')
    steps = f'''[[steps]]\nkind = "fetch"\nsource = "inbox"\nfolder = "inbox/bank"\n[[steps]]\nkind = "import"\n
[[steps]]\nkind = "post"\nrules = "{rules}"\n'''
    save_pipeline(store, pipeline_text(steps=steps), actor="ana")
    (inbox / "bank.csv").write_bytes(BANK_DAY_ONE)
    run = run_now(store, "daily-bank", actor="ana")
    assert run.status == "succeeded", run.error
    assert run.outputs["posted"] == [{"dataset": run.outputs["datasets"][0]["id"], "posted": 2, "drafts": 0, "already": 0, "uncovered": 0}]
    assert count(store, Journal) == 2


def test_post_with_rules_that_cannot_be_read_fails_naming_the_file(store, inbox):
    steps = '[[steps]]\nkind = "fetch"\nsource = "inbox"\nfolder = "inbox/bank"\n[[steps]]\nkind = "import"\n' \
            '[[steps]]\nkind = "post"\nrules = "posting/missing.toml"\n'
    save_pipeline(store, pipeline_text(steps=steps), actor="ana")
    (inbox / "bank.csv").write_bytes(BANK_DAY_ONE)
    run = run_now(store, "daily-bank", actor="ana")
    assert run.status == "failed" and "posting/missing.toml: cannot read the posting rules" in run.error


def test_holdings_reconciles_the_books_against_the_fetched_registrar_files(store):
    feed = store.data_dir / "inbox" / "registrars"
    feed.mkdir(parents=True)
    cams_transactions(feed), kfintech_holdings(feed)
    (store.data_dir / "holdings").mkdir()
    (store.data_dir / "holdings" / "books.csv").write_text(HOLDINGS_BOOKS)
    steps = '''[[steps]]\nkind = "fetch"\nsource = "inbox"\nfolder = "inbox/registrars"\npattern = "*.dbf"
[[steps]]\nkind = "holdings"\nbooks = "holdings/books.csv"\nregistrars = ["fetched:*.dbf"]\nas_of = "2026-10-31"\n'''
    save_pipeline(store, pipeline_text(steps=steps), actor="ana")
    run = run_now(store, "daily-bank", actor="ana")
    assert run.status == "succeeded", run.error
    [holdings_run] = run.outputs["holdings_runs"]
    message = run_steps_of(store, run.id)[1].message
    assert message.startswith(f"holdings run {holdings_run} as of 2026-10-31: ") and "matched" in message and "mismatched" in message
    assert sorted(p.name for p in (feed / "processed").iterdir()) == ["MFSD203.dbf", "WBR2.dbf"]  # no import step: processed once fetched
    assert count(store, FetchedFile) == 2


@pytest.mark.parametrize("when", ["failure", "always"])
def test_a_notify_step_for_failure_runs_after_a_failed_step_and_raises_an_alert(store, when):
    steps = f'[[steps]]\nkind = "fetch"\nsource = "inbox"\nfolder = "nowhere"\n[[steps]]\nkind = "notify"\nwhen = "{when}"\nalert = true\n'
    save_pipeline(store, pipeline_text(steps=steps, retry="[retry]\nmax_attempts = 2\n"), actor="ana")
    run = run_now(store, "daily-bank", actor="ana")
    assert run.status == "failed" and run.error.startswith("step 1 (fetch)")
    assert [s.status for s in run_steps_of(store, run.id)] == ["failed", "succeeded"]
    with store.session() as session:
        alert = session.scalars(select(Alert)).one()
    assert (alert.kind, alert.account, alert.subject) == ("pipeline_failed", "daily-bank", f"run {run.id}")
    assert alert.message.endswith("; it will be retried") and "no such folder" in alert.message
    assert run.outputs["alerts"] == [alert.id]


def test_a_notify_step_for_failure_is_skipped_when_the_run_succeeds(store):
    steps = '[[steps]]\nkind = "notify"\nwhen = "failure"\nalert = true\n[[steps]]\nkind = "notify"\nwhen = "success"\nalert = true\n'
    save_pipeline(store, pipeline_text(steps=steps), actor="ana")
    run = run_now(store, "daily-bank", actor="ana")
    assert [s.status for s in run_steps_of(store, run.id)] == ["skipped", "succeeded"]
    with store.session() as session:
        assert session.scalars(select(Alert.kind)).all() == ["pipeline_succeeded"]


def test_today_and_yesterday_are_days_in_the_schedules_time_zone(store):
    from core.jobs.pipelines import parse_pipeline
    from core.jobs.steps import RunContext, _as_of

    text = 'name = "p"\n[schedule]\ncron = "30 0 * * *"\ntimezone = "Asia/Kolkata"\n[[steps]]\nkind = "notify"\nalert = true\n'
    spec = parse_pipeline(text, source="p.toml")
    context = RunContext(store=store, run_id=1, pipeline=spec, actor="w", scheduled_for=dt.datetime(2026, 10, 31, 19, 0, tzinfo=dt.UTC))
    assert (_as_of(context, "today"), _as_of(context, "yesterday")) == (dt.date(2026, 11, 1), dt.date(2026, 10, 31))
    assert list_runs(store) == []
