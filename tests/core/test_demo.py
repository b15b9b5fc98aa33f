"""The demo month: deterministic files, every source imports through its profile, real breaks."""

import hashlib
from decimal import Decimal

from core.demo import DEMO_ACCOUNTS, demo_files, seed_demo
from core.ingest.datasets import list_datasets, load_dataset_table


def digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p, _ in demo_files(folder)}


def test_demo_files_are_byte_identical_every_time(tmp_path):
    assert digests(tmp_path / "a") == digests(tmp_path / "b")


def test_demo_seeds_books_and_a_statement_per_account_in_different_layouts(store):
    seed_demo(store)
    datasets = {d.name: d for d in list_datasets(store)}
    assert len(datasets) == 1 + len(DEMO_ACCOUNTS)
    assert {d.format for d in datasets.values()} == {"csv", "xlsx"}
    books = load_dataset_table(store, datasets["general_ledger_cash_2026-10.csv"]).to_pylist()
    assert {r["account"] for r in books} == {a.account for a in DEMO_ACCOUNTS}
    for account in DEMO_ACCOUNTS:
        statement = load_dataset_table(store, datasets[account.file_name]).to_pylist()
        assert {(r["account"], r["currency"]) for r in statement} == {(account.account, account.currency)}
        book_amounts = sorted(r["amount"] for r in books if r["account"] == account.account)
        bank_amounts = sorted(r["amount"] for r in statement)
        matched = set(book_amounts) & set(bank_amounts)
        assert len(matched) >= 30, "most items should agree"
        assert set(book_amounts) - set(bank_amounts), "books hold items the bank does not (breaks)"
        assert set(bank_amounts) - set(book_amounts), "the bank holds items the books do not (breaks)"
        assert all(isinstance(a, Decimal) for a in bank_amounts)


def test_seeding_twice_adds_nothing(store):
    seed_demo(store)
    before = [(d.id, d.row_count) for d in list_datasets(store)]
    summary = seed_demo(store)
    assert summary.count("already there") == len(before) + len(DEMO_ACCOUNTS) + 2  # users, files, runs, the pipeline
    assert [(d.id, d.row_count) for d in list_datasets(store)] == before


def test_demo_runs_leave_the_usual_breaks_open_per_account(store):
    from sqlalchemy import select

    from core.store.models import Break, MatchGroup, Run

    seed_demo(store)
    with store.session() as session:
        runs = session.scalars(select(Run)).all()
        assert len(runs) == len(DEMO_ACCOUNTS)
        for run in runs:
            breaks = session.scalars(select(Break).where(Break.run_id == run.id)).all()
            assert {b.account for b in breaks} == set(run.accounts)
            descriptions = " ".join(b.description for b in breaks).upper()
            assert "MAINTENANCE FEE" in descriptions and "INTEREST" in descriptions, "bank charges are not in the books"
            assert sum(b.reference.startswith("CHQ-") for b in breaks) == 2, "outstanding cheques"
            assert any(b.reason == "possible_duplicate" for b in breaks), "the line the bank booked twice"
        proposed = session.scalars(select(MatchGroup.rule)).all()
        assert "fee_deducted" in proposed


def test_demo_posts_the_statements_to_a_mapped_chart_and_every_journal_balances(store):
    from core.banking.ledger import cash_accounts_by_bank_key, journal_lines, list_dimension_values, list_journals
    from core.demo import DEMO_CHART

    seed_demo(store)
    cash = cash_accounts_by_bank_key(store)
    assert len(set(cash.values()) & {code for code, *_ in DEMO_CHART}) == len(DEMO_ACCOUNTS), "each bank account has its GL cash account"
    assert {"FIN", "OPS", "SALES", "TREASURY"} <= set(list_dimension_values(store)["cost_centre"])
    journals = list_journals(store)
    statement_rows = sum(d.row_count for d in list_datasets(store) if d.name != "general_ledger_cash_2026-10.csv")
    assert len(journals) == statement_rows, "every statement record is posted once"
    totals = {}
    for line in journal_lines(store, [j.id for j in journals]):
        debit, credit = totals.get((line.journal_id, line.currency), (Decimal(0), Decimal(0)))
        totals[line.journal_id, line.currency] = (debit + line.debit, credit + line.credit)
    assert totals and all(debit == credit and debit > 0 for debit, credit in totals.values())
    assert any(j.status == "posted" for j in journals)


def test_demo_brs_closes_to_zero_on_three_accounts_and_the_fourth_difference_raises_an_alert(store):
    from sqlalchemy import select

    from core.banking.alerts import list_alerts
    from core.banking.saved import saved_run_reconciliation
    from core.demo import DEMO_UNEXPLAINED, MONTH_END
    from core.store.models import Run

    seed_demo(store)
    with store.session() as session:
        runs = {run.accounts[0]: run.id for run in session.scalars(select(Run))}
    differences = {}
    for account, run_id in runs.items():
        brs, errors = saved_run_reconciliation(store, run_id, MONTH_END)
        assert errors == []
        differences[account] = brs.line(brs.lines[0].account, "unexplained_difference")
    (odd, expected), = DEMO_UNEXPLAINED.items()
    assert differences.pop(odd) == expected != 0
    assert len(differences) == 3 and set(differences.values()) == {Decimal(0)}
    alerts = list_alerts(store)
    assert [(a.kind, a.amount) for a in alerts] == [("unexplained_difference", expected)]
    assert seed_demo(store) and len(list_alerts(store)) == 1, "seeding again raises nothing new"


def test_demo_transfer_between_own_accounts_is_paired_within_two_business_days(store):
    from core.banking.transfers import business_days_between, transfer_report
    from core.banking.variance import statement_side_datasets
    from core.demo import DEMO_TRANSFER, MONTH_END

    seed_demo(store)
    report = transfer_report(store, statement_side_datasets(store), MONTH_END)
    source, target, amount, _ = DEMO_TRANSFER
    assert [(t.out.account, t.incoming.account, t.out.amount, t.incoming.amount) for t in report.transfers] == \
        [(source, target, -amount, amount)]
    assert 1 <= business_days_between(report.transfers[0].out.date, report.transfers[0].incoming.date) <= 2
    assert report.in_transit == []


def test_the_demo_pipeline_reconciles_the_inbox_statement_once(store):
    from sqlalchemy import func, select

    from core.demo import DEMO_PIPELINE
    from core.jobs.pipelines import get_pipeline
    from core.jobs.runs import run_now, run_steps_of
    from core.store.models import Run

    seed_demo(store)
    spec = get_pipeline(store, DEMO_PIPELINE).spec
    assert (spec.schedule.cron, spec.schedule.timezone) == ("30 7 * * *", "America/New_York")
    assert [s.kind for s in spec.steps] == ["fetch", "import", "reconcile", "notify"]
    assert [p.name for p in (store.data_dir / "inbox").iterdir()] == [DEMO_ACCOUNTS[0].file_name]
    first = run_now(store, DEMO_PIPELINE, actor="analyst")
    assert first.status == "succeeded", first.error
    statement = {d.name: d.id for d in list_datasets(store)}[DEMO_ACCOUNTS[0].file_name]
    assert [d["id"] for d in first.outputs["datasets"]] == [statement] and len(first.outputs["runs"]) == 1
    with store.session() as session:
        run = session.get(Run, first.outputs["runs"][0])
        assert (run.accounts, run.external_dataset_id) == ([DEMO_ACCOUNTS[0].account], statement)
    second = run_now(store, DEMO_PIPELINE, actor="analyst")
    assert second.status == "succeeded" and second.outputs["runs"] == []
    assert "nothing new" in run_steps_of(store, second.id)[0].message
    with store.session() as session:
        assert session.scalar(select(func.count(Run.id))) == len(DEMO_ACCOUNTS) + 1
    assert "pipeline demo-daily-bank: already there" in seed_demo(store)
