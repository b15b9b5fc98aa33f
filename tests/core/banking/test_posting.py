"""Posting bank records by posting rules: rules validated, records covered or listed with the
reason, each record posted once (in core and by the unique index), and ``python -m core gl``."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from core.banking.ledger import ChartRow, LedgerError, add_dimension_value, import_chart, journal_lines, list_journals, trial_balance
from core.banking.posting import PostingRuleError, parse_posting_rules, post_records, rule_for
from core.store.models import AuditEntry
from tests.core.test_cli import run_cli

D = Decimal
RULES = """
name = "bank"

[[rules]]
name = "fees"
description = "(?i)fee"
sign = "out"
account = "6100"
dimensions = { cost_centre = "FIN" }

[[rules]]
name = "returns"
type = "return"
account = "1200"

[[rules]]
name = "receipts"
sign = "in"
reference = "^INV"
counterparty = "(?i)acme"
account = "1200"
"""
CHART = [ChartRow("1000", "Bank USD", "asset", True, "4471009218"), ChartRow("1200", "Receivables", "asset"),
         ChartRow("6100", "Bank charges", "expense")]


def record(record_id, amount, *, account="4471-0092-18", description="", reference="", counterparty=None, type=None):
    return {"id": record_id, "account": account, "date": dt.date(2026, 10, 5), "amount": D(amount), "currency": "USD",
            "description": description, "reference": reference, "counterparty": counterparty, "type": type}


RECORDS = [record("r1", "-2.50", description="Monthly FEE"), record("r2", "120.00", reference="INV-9", counterparty="ACME Ltd"),
           record("r3", "-40.00", type="RETURN", description="returned cheque"), record("r4", "75.00", reference="X-1"),
           record("r5", "-9.00", account="9999 0000"), record("r6", "2.50", description="fee refund")]


@pytest.fixture
def ledger(store):
    import_chart(store, CHART, actor="cli")
    add_dimension_value(store, "cost_centre", "FIN", actor="cli")
    return store


def test_rules_pick_the_first_that_covers_a_record():
    rules = parse_posting_rules(RULES)
    assert [getattr(rule_for(r, rules), "name", None) for r in RECORDS] == ["fees", "receipts", "returns", None, None, None]


@pytest.mark.parametrize("toml, message", [
    ('[[rules]]\nname = "a"\naccount = "1"\ncolor = "red"\n', "<p>: rule 1 (a).color: not a setting; the settings are name, description"),
    ('[[rules]]\nname = "a"\naccount = "1"\ndescription = "(unclosed"\n', "rule 1 (a).description: not a regular expression"),
    ('[[rules]]\nname = "a"\naccount = "1"\nsign = "up"\n', "rule 1 (a).sign: Input should be 'in', 'out' or 'any'"),
    ('[[rules]]\nname = "a"\n', "rule 1 (a).account: Field required"),
    ('name = "x"\n', "<p>: rules: Field required"),
    ('[[rules]\n', "<p>: not valid TOML"),
])
def test_a_bad_posting_rule_is_named_in_one_line(toml, message):
    with pytest.raises(PostingRuleError) as caught:
        parse_posting_rules(toml, "<p>")
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_posting_posts_covered_records_lists_the_rest_and_posts_each_once(ledger):
    rules = parse_posting_rules(RULES)
    outcome = post_records(ledger, "d" * 64, RECORDS, rules, actor="cli")
    assert (outcome.posted, outcome.drafts, outcome.already) == (3, 0, 0)
    assert [(u.record_id, u.reason) for u in outcome.uncovered] == [
        ("r4", "no posting rule covers it"),
        ("r5", "no GL cash account for bank account 99990000: map it in the chart of accounts"),
        ("r6", "no posting rule covers it")]
    journals = list_journals(ledger, statuses=["posted"])
    by_record = {j.record_id: j.id for j in journals}
    fee_lines = journal_lines(ledger, [by_record["r1"]])
    assert [(x.gl_account, x.debit, x.credit, x.dimensions) for x in fee_lines] == [
        ("1000", D(0), D("2.50"), {"cost_centre": "FIN"}), ("6100", D("2.50"), D(0), {"cost_centre": "FIN"})]
    assert {r.gl_account: r.balance for r in trial_balance(ledger, dt.date(2026, 10, 31))} == {
        "1000": D("77.50"), "1200": D("-80.00"), "6100": D("2.50")}

    again = post_records(ledger, "d" * 64, RECORDS, rules, actor="cli")
    assert (again.posted, again.already, len(again.uncovered)) == (0, 3, 3)
    assert len(list_journals(ledger)) == 3
    with ledger.session() as session:
        assert session.scalars(select(AuditEntry.action).where(AuditEntry.entity_type == "dataset")).all() == ["post_bank_records"]


def test_the_database_refuses_a_record_posted_twice(ledger):
    post_records(ledger, "d" * 64, RECORDS[:1], parse_posting_rules(RULES), actor="cli")
    with pytest.raises(IntegrityError):
        with ledger.session() as session:
            session.execute(text("INSERT INTO journals (date, description, status, source, dataset_id, record_id, created_by, created_at) "
                                 "VALUES (:day, 'again', 'draft', 'bank', :d, 'r1', 'x', :at)"),
                            {"day": dt.date(2026, 10, 5), "d": "d" * 64, "at": dt.datetime.now(dt.UTC)})


def test_above_the_threshold_a_record_waits_as_a_draft(ledger, monkeypatch):
    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "100.00")
    outcome = post_records(ledger, "d" * 64, RECORDS[:2], parse_posting_rules(RULES), actor="cli")
    assert (outcome.posted, outcome.drafts) == (1, 1)
    assert [j.record_id for j in list_journals(ledger, statuses=["draft"])] == ["r2"]


def test_a_rule_naming_what_the_ledger_lacks_is_refused_before_anything_posts(ledger):
    wrong_account = parse_posting_rules(RULES.replace('account = "6100"', 'account = "6999"'))
    with pytest.raises(LedgerError, match="posting rule fees: GL account '6999' is not an active account of the chart"):
        post_records(ledger, "d" * 64, RECORDS, wrong_account, actor="cli")
    wrong_value = parse_posting_rules(RULES.replace('"FIN"', '"SALES"'))
    with pytest.raises(LedgerError, match="posting rule fees: cost_centre 'SALES' is not in the cost_centre list"):
        post_records(ledger, "d" * 64, RECORDS, wrong_value, actor="cli")
    assert list_journals(ledger) == []


def test_the_gl_commands_import_the_chart_post_a_file_once_and_print_the_trial_balance(tmp_path):
    data = tmp_path / "data"
    (tmp_path / "chart.csv").write_text("code,name,type,active,bank_account\n1000,Bank USD,asset,true,4471-0092-18\n"
                                        "1200,Receivables,asset,true,\n6100,Bank charges,expense,true,\n")
    (tmp_path / "rules.toml").write_text(RULES.replace('dimensions = { cost_centre = "FIN" }\n', ""))
    (tmp_path / "bank.csv").write_text("id,account,date,amount,currency,reference,description\n"
                                       "q1,4471-0092-18,2026-10-05,-2.50,USD,,Account fee\n"
                                       "q2,4471-0092-18,2026-10-06,75.00,USD,X-1,unknown receipt\n")
    result = run_cli("gl", "chart", "import", str(tmp_path / "chart.csv"), data_dir=data)
    assert result.returncode == 0, result.stderr
    assert "3 account(s) read, 3 added or changed" in result.stdout
    for attempt in (1, 2):
        result = run_cli("gl", "post", "--dataset", str(tmp_path / "bank.csv"), "--rules", str(tmp_path / "rules.toml"), data_dir=data)
        assert result.returncode == 0, result.stderr
        assert result.stdout == "not posted: record q2 (4471-0092-18, 2026-10-06, 75.00): no posting rule covers it\n"
        assert f"posted {1 if attempt == 1 else 0} journal(s)" in result.stderr
        assert f"{attempt - 1} record(s) posted before" in result.stderr
    result = run_cli("gl", "trial-balance", "--as-of", "2026-10-31", data_dir=data)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["gl_account"], r["balance"]) for r in rows] == [("1000", "-2.50"), ("6100", "2.50")]


def test_the_gl_commands_exit_2_on_bad_input(tmp_path):
    data = tmp_path / "data"
    (tmp_path / "chart.csv").write_text("code,name,type\n1000,Bank,cash\n")
    result = run_cli("gl", "chart", "import", str(tmp_path / "chart.csv"), data_dir=data)
    assert result.returncode == 2
    assert f"{tmp_path / 'chart.csv'}, row 2, column 'type': the type is one of" in result.stderr
    (tmp_path / "rules.toml").write_text('[[rules]]\nname = "a"\naccount = "1"\nsign = "up"\n')
    result = run_cli("gl", "post", "--dataset", "abcdef", "--rules", str(tmp_path / "rules.toml"), data_dir=data)
    assert result.returncode == 2 and "rule 1 (a).sign" in result.stderr
    result = run_cli("gl", "post", "--dataset", "abcdef", "--rules", "posting/bank.toml", data_dir=data)
    assert result.returncode == 2 and "abcdef: no such file, and no dataset has that id" in result.stderr
    result = run_cli("gl", "trial-balance", "--as-of", "31/10/2026", data_dir=data)
    assert result.returncode == 2 and "YYYY-MM-DD" in result.stderr


def test_records_find_their_cash_account_through_the_alias_table(ledger):
    renumbered = [record("r1", "-2.50", account="OLD 77", description="fee")]
    outcome = post_records(ledger, "d" * 64, renumbered, parse_posting_rules(RULES), actor="cli", aliases={"OLD77": "4471009218"})
    assert (outcome.posted, outcome.uncovered) == (1, [])


def test_a_journal_leads_back_to_the_bank_record_it_was_posted_from(ledger):
    from core.banking.ledger import LineInput, create_journal, reverse_journal
    from core.banking.posting import posted_records
    from core.ingest.datasets import import_bytes

    bank = import_bytes(ledger, b"id,account,date,amount,currency,description\nr1,4471-0092-18,2026-10-05,-2.50,USD,Monthly FEE\n"
                                b"r2,4471-0092-18,2026-10-06,-7.00,USD,wire fee\n", "bank.csv")[0].dataset
    post_records(ledger, bank.id, [record("r1", "-2.50", description="Monthly FEE")], parse_posting_rules(RULES), actor="cli")
    posted = list_journals(ledger)[0].id
    reversal = reverse_journal(ledger, posted, actor="cli", reason="posted twice")
    manual = create_journal(ledger, dt.date(2026, 10, 7), "by hand", [LineInput("6100", D("1.00"), D(0), "USD"),
                                                                     LineInput("1000", D(0), D("1.00"), "USD")], actor="cli")
    found = posted_records(ledger, [posted, reversal, manual])
    assert set(found) == {posted, reversal}  # a manual journal has no bank record
    assert (found[posted].dataset_name, found[posted].record_id) == ("bank.csv", "r1")
    assert (found[posted].record["amount"], found[posted].record["description"]) == (D("-2.50"), "Monthly FEE")
    assert found[reversal]._replace(journal_id=posted) == found[posted]  # a reversal leads to the record of what it reverses


def test_a_reference_the_description_holds_already_is_not_repeated(ledger):
    rules = parse_posting_rules(RULES)
    post_records(ledger, "d" * 64, [record("r1", "-2.50", description="FEE ref F-9", reference="F-9"),
                                    record("r2", "-3.50", description="Monthly FEE", reference="F-10")], rules, actor="cli")
    assert sorted(j.description for j in list_journals(ledger)) == ["FEE ref F-9", "Monthly FEE · F-10"]
