"""The ledger on SQLite and PostgreSQL: the chart, dimensions, journals that post only when they
balance (in core and in the database), immutability of posted journals, reversals, the audit."""

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from core.auth import create_user
from core.banking.ledger import (ChartRow, LedgerError, LineInput, add_dimension_value, create_journal, import_chart, journal_lines,
                                 ledger_transaction, lines_from_table, list_journals, parse_chart, post_journal, reverse_journal,
                                 trial_balance, update_gl_account)
from core.store.models import AuditEntry, Journal, JournalLine

D = Decimal
DAY = dt.date(2026, 10, 5)
CHART = [ChartRow("1000", "Bank USD", "asset", True, "4471009218"), ChartRow("6100", "Bank charges", "expense"),
         ChartRow("4000", "Sales", "income"), ChartRow("9999", "Old suspense", "asset", False)]


@pytest.fixture
def ledger(store):
    import_chart(store, CHART, actor="cli")
    add_dimension_value(store, "cost_centre", "OPS", actor="cli", name="Operations")
    return store


def fee(amount: str = "12.50", *, credit: str | None = None, dims=None) -> list[LineInput]:
    return [LineInput("6100", D(amount), D(0), "USD", dims or {}, "fee"), LineInput("1000", D(0), D(credit or amount), "usd", {}, "fee")]


def test_a_balanced_journal_posts_and_is_audited(ledger):
    journal_id = create_journal(ledger, DAY, "October fee", fee(dims={"cost_centre": "OPS"}), actor="ana")
    post_journal(ledger, journal_id, actor="ana")
    (journal,) = list_journals(ledger, statuses=["posted"])
    assert (journal.id, journal.posted_by) == (journal_id, "ana")
    assert [(x.gl_account, x.debit, x.credit, x.currency, x.dimensions) for x in journal_lines(ledger, [journal_id])] == [
        ("6100", D("12.50"), D(0), "USD", {"cost_centre": "OPS"}), ("1000", D(0), D("12.50"), "USD", {})]
    with ledger.session() as session:
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.entity_type == "journal")).all()
    assert actions == ["create_journal", "post_journal"]


def test_an_unbalanced_journal_is_refused_by_core(ledger):
    journal_id = create_journal(ledger, DAY, "typo", fee("12.50", credit="12.05"), actor="ana")
    with pytest.raises(LedgerError, match=f"journal {journal_id} does not balance: debits less credits 0.45 USD"):
        post_journal(ledger, journal_id, actor="ana")
    assert list_journals(ledger, statuses=["draft"])[0].id == journal_id


def test_balance_is_per_currency(ledger):
    lines = [LineInput("6100", D("10"), D(0), "USD"), LineInput("1000", D(0), D("10"), "EUR")]
    journal_id = create_journal(ledger, DAY, "mixed", lines, actor="ana")
    with pytest.raises(LedgerError, match="debits less credits -10.00 EUR, debits less credits 10.00 USD"):
        post_journal(ledger, journal_id, actor="ana")


def test_an_unbalanced_posted_journal_written_with_sql_is_refused_by_the_database(ledger):
    """Lines written around core: PostgreSQL's deferred trigger refuses at commit; on SQLite the
    posting transaction checks what the database's triggers queued."""
    def write_directly(session):
        session.execute(text("INSERT INTO journals (id, date, description, status, source, created_by, created_at) "
                             "VALUES (500, :day, 'direct', 'draft', 'manual', 'x', :at)"), {"day": DAY, "at": dt.datetime.now(dt.UTC)})
        for number, (debit, credit) in enumerate([("100.00", "0"), ("0", "99.00")], start=1):
            session.execute(text("INSERT INTO journal_lines (journal_id, line_no, gl_account, debit, credit, currency, dimensions, "
                                 "description) VALUES (500, :n, '1000', :debit, :credit, 'USD', '{}', '')"),
                            {"n": number, "debit": D(debit) if ledger.engine.dialect.name != "sqlite" else debit,
                             "credit": D(credit) if ledger.engine.dialect.name != "sqlite" else credit})
        session.execute(text("UPDATE journals SET status = 'posted' WHERE id = 500"))

    if ledger.engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="journal 500 does not balance in USD: debits less credits 1.00"):
            with ledger.session() as session:
                write_directly(session)
    with pytest.raises(LedgerError, match="journal 500 does not balance in USD"):
        with ledger_transaction(ledger) as session:
            write_directly(session)
    with ledger.session() as session:
        assert session.get(Journal, 500) is None


def test_a_balanced_journal_written_with_sql_passes_the_database_check(ledger):
    with ledger_transaction(ledger) as session:
        session.execute(text("INSERT INTO journals (id, date, description, status, source, created_by, created_at) "
                             "VALUES (501, :day, 'direct', 'draft', 'manual', 'x', :at)"), {"day": DAY, "at": dt.datetime.now(dt.UTC)})
        for number, (debit, credit) in enumerate([(D("7.25"), D(0)), (D(0), D("7.25"))], start=1):
            session.add(JournalLine(journal_id=501, line_no=number, gl_account="1000", debit=debit, credit=credit, currency="USD",
                                    dimensions={}, description=""))
        session.flush()
        session.execute(text("UPDATE journals SET status = 'posted' WHERE id = 501"))
    assert list_journals(ledger, statuses=["posted"])[0].id == 501


def test_a_posted_journal_never_changes(ledger):
    journal_id = create_journal(ledger, DAY, "fee", fee(), actor="ana")
    post_journal(ledger, journal_id, actor="ana")
    with pytest.raises(LedgerError, match="not a draft"):
        post_journal(ledger, journal_id, actor="ana")
    changes = [update(JournalLine).where(JournalLine.journal_id == journal_id).values(debit=D("1"), credit=D("1")),
               update(Journal).where(Journal.id == journal_id).values(description="rewritten"),
               update(Journal).where(Journal.id == journal_id).values(status="draft"),
               text(f"DELETE FROM journal_lines WHERE journal_id = {journal_id}"),
               text(f"INSERT INTO journal_lines (journal_id, line_no, gl_account, debit, credit, currency, dimensions, description) "
                    f"VALUES ({journal_id}, 3, '1000', 0, 0, 'USD', '{{}}', '')")]
    for change in changes:
        with pytest.raises(DBAPIError, match="a posted journal never changes"):
            with ledger.session() as session:
                session.execute(change)
    assert [x.debit for x in journal_lines(ledger, [journal_id])] == [D("12.50"), D(0)]


def test_a_reversal_swaps_the_lines_links_back_and_marks_the_original(ledger):
    journal_id = create_journal(ledger, DAY, "fee", fee(dims={"cost_centre": "OPS"}), actor="ana")
    post_journal(ledger, journal_id, actor="ana")
    reversal_id = reverse_journal(ledger, journal_id, actor="ben", date=DAY + dt.timedelta(days=3), reason="charged twice")
    by_id = {j.id: j for j in list_journals(ledger)}
    assert (by_id[journal_id].status, by_id[reversal_id].status, by_id[reversal_id].reverses_id) == ("reversed", "posted", journal_id)
    assert "charged twice" in by_id[reversal_id].description
    assert [(x.gl_account, x.debit, x.credit, x.dimensions) for x in journal_lines(ledger, [reversal_id])] == [
        ("6100", D(0), D("12.50"), {"cost_centre": "OPS"}), ("1000", D("12.50"), D(0), {})]
    assert all(row.balance == 0 for row in trial_balance(ledger, DAY + dt.timedelta(days=5)))
    assert {r.gl_account: r.balance for r in trial_balance(ledger, DAY)} == {"1000": D("-12.50"), "6100": D("12.50")}
    with pytest.raises(LedgerError, match="only a posted journal is reversed"):
        reverse_journal(ledger, journal_id, actor="ben")
    with ledger.session() as session:
        audit = session.execute(select(AuditEntry.action, AuditEntry.entity_id).where(AuditEntry.entity_type == "journal")
                                .order_by(AuditEntry.id)).all()
    assert audit[-2:] == [("reverse_journal", str(journal_id)), ("post_journal", str(reversal_id))]


def test_the_trial_balance_nets_to_zero_and_leaves_drafts_out(ledger):
    post_journal(ledger, create_journal(ledger, DAY, "fee", fee("12.50"), actor="ana"), actor="ana")
    sale = [LineInput("1000", D("300.10"), D(0), "USD"), LineInput("4000", D(0), D("300.10"), "USD")]
    post_journal(ledger, create_journal(ledger, DAY + dt.timedelta(days=1), "sale", sale, actor="ana"), actor="ana")
    create_journal(ledger, DAY, "draft", fee("99"), actor="ana")
    rows = trial_balance(ledger, DAY + dt.timedelta(days=1))
    assert {r.gl_account: r.balance for r in rows} == {"1000": D("287.60"), "4000": D("-300.10"), "6100": D("12.50")}
    assert sum(r.balance for r in rows) == 0
    assert {r.gl_account for r in trial_balance(ledger, DAY)} == {"1000", "6100"}


def test_a_dimension_value_not_in_the_master_list_is_refused(ledger):
    with pytest.raises(LedgerError, match="line 1: cost_centre 'SALES' is not in the cost_centre list"):
        create_journal(ledger, DAY, "fee", fee(dims={"cost_centre": "SALES"}), actor="ana")
    with pytest.raises(LedgerError, match="'colour' is not a dimension"):
        create_journal(ledger, DAY, "fee", fee(dims={"colour": "red"}), actor="ana")
    assert list_journals(ledger) == []


def test_lines_name_active_accounts_of_the_chart_and_one_side_each(ledger):
    cases = [([LineInput("7777", D(1), D(0), "USD"), LineInput("1000", D(0), D(1), "USD")], "no GL account '7777'"),
             ([LineInput("9999", D(1), D(0), "USD"), LineInput("1000", D(0), D(1), "USD")], "9999 is inactive"),
             ([LineInput("6100", D(1), D(1), "USD"), LineInput("1000", D(0), D(1), "USD")], "not both"),
             ([LineInput("6100", D(-1), D(0), "USD"), LineInput("1000", D(0), D(1), "USD")], "zero or more"),
             ([LineInput("6100", D(1), D(0), "XXQ"), LineInput("1000", D(0), D(1), "USD")], "not an ISO 4217"),
             ([LineInput("6100", D(1), D(0), "USD")], "at least two lines")]
    for lines, message in cases:
        with pytest.raises(LedgerError, match=message):
            create_journal(ledger, DAY, "x", lines, actor="ana")


def test_above_the_threshold_an_approver_other_than_the_maker_posts(ledger, monkeypatch):
    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "100.00")
    analyst = create_user(ledger, "ana", "a-long-password", "analyst")
    approver = create_user(ledger, "abe", "a-long-password", "approver")
    viewer = create_user(ledger, "vic", "a-long-password", "viewer")
    with pytest.raises(LedgerError, match="needs the analyst role"):
        create_journal(ledger, DAY, "big", fee("500.00"), actor=viewer)
    mine = create_journal(ledger, DAY, "big", fee("500.00"), actor=approver)
    with pytest.raises(LedgerError, match="someone other than its maker"):
        post_journal(ledger, mine, actor=approver)
    theirs = create_journal(ledger, DAY, "big", fee("500.00"), actor=analyst)
    with pytest.raises(LedgerError, match="an approver posts it"):
        post_journal(ledger, theirs, actor=analyst)
    post_journal(ledger, theirs, actor=approver)
    post_journal(ledger, create_journal(ledger, DAY, "small", fee("100.00"), actor=analyst), actor=analyst)
    assert len(list_journals(ledger, statuses=["posted"])) == 2


def test_the_chart_imports_from_csv_and_toml_with_every_bad_cell_named():
    rows, errors = parse_chart("code,name,type,active,bank_account\n1000,Bank,asset,true,4471-0092-18\n2000,Payables,liability,,\n",
                               "chart.csv")
    assert errors == [] and rows == [ChartRow("1000", "Bank", "asset", True, "4471009218"), ChartRow("2000", "Payables", "liability")]
    rows, errors = parse_chart("code,name,type,active\n1000,Bank,assets,true\n1000,,income,maybe\n", "chart.csv")
    assert [str(e) for e in errors] == [
        "chart.csv, row 2, column 'type': the type is one of asset, liability, equity, income, expense",
        "chart.csv, row 3, column 'code': code 1000 is already given on row 2",
        "chart.csv, row 3, column 'name': the GL account name is blank",
        "chart.csv, row 3, column 'active': write active as true or false"]
    toml = '[[accounts]]\ncode = "1000"\nname = "Bank"\ntype = "asset"\nbank_account = "DE89 3704 0044 0532 0130 00"\n' \
           '[[accounts]]\ncode = "6100"\nname = "Fees"\ntype = "expense"\nactive = false\ncolour = "red"\n'
    rows, errors = parse_chart(toml, "chart.toml")
    assert [str(e) for e in errors] == ["chart.toml, row 2, column 'colour': not a setting; the settings are code, name, type, active, "
                                        "bank_account"]
    rows, errors = parse_chart(toml.replace('colour = "red"\n', ""), "chart.toml")
    assert rows == [ChartRow("1000", "Bank", "asset", True, "DE89370400440532013000"), ChartRow("6100", "Fees", "expense", False)]
    _, errors = parse_chart("code,name,type,bank_account\n6100,Fees,expense,4471\n", "c.csv")
    assert "a bank account maps to a cash account of type asset" in str(errors[0])


def test_chart_changes_are_audited_and_a_bank_account_maps_to_one_cash_account(ledger):
    assert import_chart(ledger, CHART, actor="cli") == 0, "the same chart again changes nothing"
    import_chart(ledger, [ChartRow("1010", "Bank EUR", "asset")], actor="cli")
    with pytest.raises(LedgerError, match="already maps to GL account 1000"):
        update_gl_account(ledger, "1010", actor="cli", bank_account="4471 0092 18")
    with pytest.raises(LedgerError, match="would map to GL accounts 1000 and 1010"):
        import_chart(ledger, [ChartRow("1010", "Bank EUR", "asset", True, "4471009218")], actor="cli")
    update_gl_account(ledger, "6100", actor="cli", name="Bank fees", active=False)
    with ledger.session() as session:
        audit = session.execute(select(AuditEntry.action, AuditEntry.entity_id).where(AuditEntry.entity_type == "gl_account")
                                .order_by(AuditEntry.id)).all()
    assert audit[-1] == ("update_gl_account", "6100") and len(audit) == 6


def test_lines_typed_in_a_grid_are_read_exactly_with_every_bad_cell_named():
    rows = [{"gl_account": "6100", "debit": "12.50", "credit": "", "currency": "usd", "dimensions": "cost_centre=OPS, project=P-7",
             "description": "fee"},
            {"gl_account": "", "debit": None, "credit": "", "currency": "", "dimensions": "", "description": ""},
            {"gl_account": "1000", "debit": "", "credit": "12.50", "currency": "USD", "dimensions": "", "description": ""}]
    lines, errors = lines_from_table(rows)
    assert errors == []
    assert lines == [LineInput("6100", D("12.50"), D(0), "usd", {"cost_centre": "OPS", "project": "P-7"}, "fee"),
                     LineInput("1000", D(0), D("12.50"), "USD", {}, "")]
    _, errors = lines_from_table([{"gl_account": "6100", "debit": "12,5O", "credit": "", "dimensions": "OPS"}])
    assert [(e.row, e.column) for e in errors] == [(1, "debit"), (1, "dimensions")]
