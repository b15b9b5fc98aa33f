import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.banking.alerts import list_alerts
from core.banking.rates import parse_rates
from core.banking.transfers import business_days_between, legs_from_tables, match_transfers, transfer_report
from core.ingest.datasets import import_bytes
from core.store.models import AuditEntry
from tests.matching_helpers import table

DAY = dt.date.fromisoformat


def legs(rows):
    """Rows of (id, account, date, amount[, reference[, currency[, counterparty]]])."""
    return legs_from_tables([table(rows)])


def test_business_days_skip_the_weekend():
    # Friday 2026-11-06 to Monday 2026-11-09: one business day; to Wednesday the 11th: three.
    assert business_days_between(DAY("2026-11-06"), DAY("2026-11-09")) == 1
    assert business_days_between(DAY("2026-11-06"), DAY("2026-11-11")) == 3
    assert business_days_between(DAY("2026-11-07"), DAY("2026-11-09")) == 0


def test_transfer_is_matched_across_two_own_accounts():
    found = match_transfers(legs([
        ("o1", "OPS-1", "2026-11-06", "-2500.00", "TR-77", "USD", "RES-2"),
        ("i1", "RES-2", "2026-11-09", "2500.00", "TR-77", "USD", "OPS-1"),
        ("p1", "OPS-1", "2026-11-06", "-2500.00", "INV-9", "USD", "Supplier Ltd"),  # a payment to an outsider
    ]), DAY("2026-11-30"))
    assert [(t.out.record_id, t.incoming.record_id, t.business_days, t.difference, t.rule) for t in found.transfers] == \
        [("o1", "i1", 1, Decimal(0), "same_amount")]
    assert found.in_transit == [] and found.ambiguous == []


def test_legs_further_apart_than_the_window_are_not_a_transfer():
    found = match_transfers(legs([
        ("o1", "OPS-1", "2026-11-02", "-100.00", "", "USD", "RES-2"),
        ("i1", "RES-2", "2026-11-06", "100.00", "", "USD", ""),  # 4 business days later
    ]), DAY("2026-11-06"))
    assert found.transfers == []
    assert [(x.leg.record_id, x.age, x.overdue) for x in found.in_transit] == [("o1", 4, True)]


def test_transfer_across_currencies_within_the_fx_tolerance():
    rates, errors = parse_rates("date,currency,rate\n2026-11-02,EUR,1.10\n", "USD")
    assert errors == []
    # 1000.00 USD out; 905.00 EUR in is 995.50 USD: 4.50 short, 0.45 % of 1000.00, within 1 %.
    rows = [("o1", "OPS-USD", "2026-11-03", "-1000.00", "FX1", "USD", "OPS-EUR"),
            ("i1", "OPS-EUR", "2026-11-04", "905.00", "FX1", "EUR", "")]
    found = match_transfers(legs(rows), DAY("2026-11-30"), rates=rates)
    assert [(t.out.record_id, t.incoming.record_id, t.difference, t.rule) for t in found.transfers] == \
        [("o1", "i1", Decimal("-4.5000"), "fx_tolerance")]
    # 0.4 % is too tight for that difference; without rates, two currencies never pair.
    assert match_transfers(legs(rows), DAY("2026-11-30"), rates=rates, fx_tolerance_pct=Decimal("0.4")).transfers == []
    assert match_transfers(legs(rows), DAY("2026-11-30")).transfers == []


def test_two_equally_close_in_legs_are_left_for_a_person_in_any_order():
    rows = [("o1", "OPS-1", "2026-11-03", "-700.00", "", "USD", ""),
            ("i1", "RES-2", "2026-11-04", "700.00", "", "USD", "OPS-1"),
            ("i2", "RES-3", "2026-11-04", "700.00", "", "USD", "OPS-1")]
    found = match_transfers(legs(rows), DAY("2026-11-05"))
    again = match_transfers(legs(list(reversed(rows))), DAY("2026-11-05"))
    assert found.transfers == [] and found == again
    assert {(a.leg.record_id, tuple(c.record_id for c in a.candidates)) for a in found.ambiguous} == \
        {("o1", ("i1", "i2")), ("i1", ("o1",)), ("i2", ("o1",))}
    assert found.in_transit == []


def test_the_closer_in_leg_wins_a_tie_on_amount():
    found = match_transfers(legs([("o1", "OPS-1", "2026-11-03", "-700.00", "", "USD", ""),
                                  ("i1", "RES-2", "2026-11-05", "700.00", "", "USD", "OPS-1"),
                                  ("i2", "RES-3", "2026-11-04", "700.00", "", "USD", "OPS-1")]), DAY("2026-11-05"))
    assert [(t.out.record_id, t.incoming.record_id) for t in found.transfers] == [("o1", "i2")]


@pytest.mark.parametrize(("as_of", "overdue"), [("2026-11-05", False), ("2026-11-06", False), ("2026-11-09", True)])
def test_in_transit_overdue_only_past_the_threshold(as_of, overdue):
    # Out on Tuesday the 3rd: Friday the 6th is 3 business days (at the threshold), Monday the 9th is 4.
    # RES-2 is an own account: its statement is among the records.
    found = match_transfers(legs([("o1", "OPS-1", "2026-11-03", "-50.00", "", "USD", "RES-2"),
                                  ("x1", "RES-2", "2026-11-02", "10.00", "", "USD", "Interest")]), DAY(as_of), threshold=3)
    assert [x.overdue for x in found.in_transit] == [overdue]


STATEMENT = """id,account,date,amount,currency,reference,counterparty
o1,OPS-1,2026-11-02,-1200.00,USD,TR-1,RES-2
o2,OPS-1,2026-11-03,-300.00,USD,TR-2,RES-2
i2,RES-2,2026-11-04,300.00,USD,TR-2,OPS-1
f1,OPS-1,2026-11-04,-12.00,USD,FEE,
"""


def test_transfer_in_transit_raises_its_alert_once(store):
    outcome, errors = import_bytes(store, STATEMENT.encode(), "own-accounts.csv", user="t")
    assert errors == []
    report = transfer_report(store, [outcome.dataset], DAY("2026-11-06"))
    assert [(t.out.record_id, t.incoming.record_id) for t in report.transfers] == [("o2", "i2")]
    assert [(x.leg.record_id, x.age, x.overdue) for x in report.in_transit] == [("o1", 4, True)]
    transfer_report(store, [outcome.dataset], DAY("2026-11-06"))
    transfer_report(store, [outcome.dataset], DAY("2026-11-09"))
    alerts = list_alerts(store)
    assert [(a.kind, a.account, a.period, a.subject, a.amount, a.threshold) for a in alerts] == \
        [("transfer_in_transit", "OPS-1", "2026-11-02", "o1", Decimal("-1200.00"), Decimal(3))]
    with store.session() as session:
        assert session.scalars(select(AuditEntry.action).where(AuditEntry.entity_type == "alert")).all() == ["raise_alert"]


def test_rates_file_errors_are_one_line_each():
    rates, errors = parse_rates("date,currency,rate\n2026-11-31,EUR,1.1\n2026-11-02,EURO,1.1\n2026-11-02,EUR,0\n"
                                "2026-11-02,EUR,1.1\n2026-11-02,eur,1.2\n", "USD", "rates.csv")
    assert rates is None
    assert [str(e) for e in errors] == [
        "rates.csv, row 2, column 'date': '2026-11-31' is not a date (YYYY-MM-DD)",
        "rates.csv, row 3, column 'currency': 'EURO' is not a currency code (ISO 4217)",
        "rates.csv, row 4, column 'rate': '0' is not a rate above zero",
        "rates.csv, row 6, column 'currency': EUR on 2026-11-02 is given already on row 5",
    ]


def test_a_rate_holds_until_the_next_one():
    rates, _ = parse_rates("date,currency,rate\n2026-11-02,EUR,1.10\n2026-11-05,EUR,1.20\n", "usd")
    assert [rates.rate("EUR", DAY(d)) for d in ("2026-11-01", "2026-11-04", "2026-11-05", "2026-12-01")] == \
        [None, Decimal("1.10"), Decimal("1.20"), Decimal("1.20")]
    assert rates.rate("USD", DAY("2026-11-01")) == Decimal(1)


def test_the_transit_threshold_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("RECON_TRANSFER_TRANSIT_DAYS", "5")
    rows = [("o1", "OPS-1", "2026-11-02", "-50.00", "", "USD", ""), ("x1", "RES-2", "2026-11-02", "1.00", "", "USD", "")]
    records = table(rows)
    records = records.set_column(records.column_names.index("type"), "type", [["TRANSFER", ""]])
    found = match_transfers(legs_from_tables([records]), DAY("2026-11-06"))
    assert [(x.leg.record_id, x.age, x.overdue) for x in found.in_transit] == [("o1", 4, False)]
    assert found.threshold == 5
