"""Cash position per bank account and currency from the stored statements, per dimension from the
ledger's cash accounts, in one reporting currency; and the dimension x month pivot."""

import datetime as dt
from decimal import Decimal

from core.banking.cash import NO_VALUE, cash_position, dimension_flows, dimension_pivot, flow_lines, position_by_dimension
from core.banking.ledger import ChartRow, LineInput, add_dimension_value, create_journal, import_chart, post_journal, reverse_journal
from core.banking.rates import parse_rates
from core.ingest.datasets import import_bytes
from tests.statement_samples import MT940

# A second account in GBP: opens at 500.00 on 1 Oct, +20.00 on the 2nd, -5.50 on the 4th, closes 514.50 on the 4th.
GBP = b""":20:GBPSTMT
:25:GB29NWBK60161331926819
:28C:00001/001
:60F:C261001GBP500,00
:61:2610021002CR20,00NTRFREF-1//G1
:86:Receipt
:61:2610041004DR5,50NCHGNONREF//G2
:86:Fee
:62F:C261004GBP514,50
-
"""
EUR_ACCOUNT, GBP_ACCOUNT = "DE89370400440532013000", "GB29NWBK60161331926819"


def imported(store):
    for data, name in ((MT940, "eur.sta"), (GBP, "gbp.sta")):
        outcome = import_bytes(store, data, name)
        assert not getattr(outcome, "errors", None), outcome
    return store


def by_account(positions):
    return {(p.account, p.currency): p for p in positions}


def test_position_takes_the_latest_closing_and_the_records_after_it(store):
    imported(store)
    # 2 Oct: no statement has ended; EUR opens 1000.00 (on 1 Oct) -50.00 on the 2nd; GBP 500.00 +20.00.
    positions, errors = cash_position(store, dt.date(2026, 10, 2))
    assert errors == []
    found = by_account(positions)
    assert found[(EUR_ACCOUNT, "EUR")].balance == Decimal("950.00")
    assert found[(EUR_ACCOUNT, "EUR")].opening == Decimal("1000.00")
    assert found[(EUR_ACCOUNT, "EUR")].opening_date == dt.date(2026, 9, 30)
    assert found[(GBP_ACCOUNT, "GBP")].balance == Decimal("520.00")
    # 4 Oct: EUR's first statement closed 1100.25 on the 3rd, nothing after it by the 4th (its charges are on the 5th).
    found = by_account(cash_position(store, dt.date(2026, 10, 4))[0])
    assert found[(EUR_ACCOUNT, "EUR")].balance == Decimal("1100.25")
    assert found[(EUR_ACCOUNT, "EUR")].movement == 0
    assert "closing balance on 2026-10-03" in found[(EUR_ACCOUNT, "EUR")].source
    assert found[(GBP_ACCOUNT, "GBP")].balance == Decimal("514.50")
    assert found[(EUR_ACCOUNT, "EUR")].reporting is None
    # Before any statement starts, there is no position.
    assert cash_position(store, dt.date(2026, 9, 1)) == ([], [])


def test_position_in_a_reporting_currency_and_a_missing_rate(store):
    imported(store)
    rates, errors = parse_rates("date,currency,rate\n2026-10-01,EUR,1.10\n2026-10-01,GBP,1.25\n2026-10-05,GBP,9\n", "USD")
    assert errors == []
    found = by_account(cash_position(store, dt.date(2026, 10, 4), rates)[0])
    assert found[(EUR_ACCOUNT, "EUR")].reporting == Decimal("1210.2750")  # 1100.25 x 1.10
    assert found[(GBP_ACCOUNT, "GBP")].reporting == Decimal("643.1250")  # 514.50 x 1.25, not the rate of the 5th
    only_eur, _ = parse_rates("date,currency,rate\n2026-10-01,EUR,1.10\n", "USD")
    positions, errors = cash_position(store, dt.date(2026, 10, 4), only_eur)
    assert positions is None
    assert [e.message for e in errors] == ["no rate for GBP in USD on or before 2026-10-04: add one to the rates file"]


def ledger(store):
    import_chart(store, [ChartRow("1000", "Bank EUR", "asset", True, EUR_ACCOUNT), ChartRow("4000", "Sales", "income"),
                         ChartRow("6000", "Costs", "expense")], actor="tester")
    for value in ("OPS", "SALES"):
        add_dimension_value(store, "cost_centre", value, actor="tester")

    def book(day, amount, centre, counter="4000"):
        dims = {"cost_centre": centre} if centre else {}
        debit, credit = (amount, Decimal(0)) if amount > 0 else (Decimal(0), -amount)
        journal = create_journal(store, day, "test", [LineInput("1000", debit, credit, "EUR", dims, "cash"),
                                                      LineInput(counter, credit, debit, "EUR", dims, "counter")], actor="tester")
        post_journal(store, journal, actor="tester")
        return journal

    book(dt.date(2026, 9, 20), Decimal("100.00"), "SALES")
    book(dt.date(2026, 10, 3), Decimal("40.00"), "SALES")
    book(dt.date(2026, 10, 9), Decimal("-15.25"), "OPS", "6000")
    book(dt.date(2026, 11, 2), Decimal("-4.75"), "OPS", "6000")
    book(dt.date(2026, 11, 5), Decimal("7.00"), None)
    wrong = book(dt.date(2026, 11, 6), Decimal("999.00"), "OPS")
    reverse_journal(store, wrong, actor="tester")
    # A draft never counts.
    create_journal(store, dt.date(2026, 10, 10), "draft", [LineInput("1000", Decimal(1), Decimal(0), "EUR", {}, ""),
                                                           LineInput("4000", Decimal(0), Decimal(1), "EUR", {}, "")], actor="tester")


def test_position_by_dimension_with_the_opening_before_the_period(store):
    ledger(store)
    rows, errors = position_by_dimension(store, "cost_centre", dt.date(2026, 10, 1), dt.date(2026, 11, 30))
    assert errors == []
    found = {r.value: (r.opening, r.movement, r.closing) for r in rows}
    assert found == {"SALES": (Decimal("100.00"), Decimal("40.00"), Decimal("140.00")),
                     "OPS": (Decimal(0), Decimal("-20.00"), Decimal("-20.00")),  # the 999.00 and its reversal cancel
                     NO_VALUE: (Decimal(0), Decimal("7.00"), Decimal("7.00"))}
    rates, _ = parse_rates("date,currency,rate\n2026-11-01,GBP,1.25\n", "USD")
    assert position_by_dimension(store, "cost_centre", dt.date(2026, 10, 1), dt.date(2026, 11, 30), rates)[0] is None


def test_dimension_by_month_pivot_and_its_drill_down(store):
    ledger(store)
    flows = dimension_flows(store, "cost_centre", dt.date(2026, 10, 1), dt.date(2026, 11, 30))
    months, rows = dimension_pivot(flows)
    assert months == ["2026-10", "2026-11"]
    assert {(v, c): cells for v, c, cells in rows} == {
        ("OPS", "EUR"): {"2026-10": Decimal("-15.25"), "2026-11": Decimal("-4.75")},
        ("SALES", "EUR"): {"2026-10": Decimal("40.00")},
        (NO_VALUE, "EUR"): {"2026-11": Decimal("7.00")},
    }
    cell = flow_lines(flows, "OPS", "2026-11")
    assert sorted(cell["amount"].to_pylist()) == [Decimal("-999"), Decimal("-4.75"), Decimal("999")]
    assert set(cell["gl_account"].to_pylist()) == {"1000"}
    # With every account, each journal nets to zero in the month.
    every = dimension_pivot(dimension_flows(store, "cost_centre", dt.date(2026, 10, 1), dt.date(2026, 11, 30), cash_only=False))[1]
    assert all(amount == 0 for _, _, cells in every for amount in cells.values())


def _mt940(number: str, opening: tuple[str, str], lines: list[tuple[str, str, str]], closing: tuple[str, str]) -> bytes:
    entries = "".join(f":61:{day}{day[2:]}{sign}{amount}NTRFREF-{number}-{n}//{number}{n}\n:86:Entry {n}\n"
                      for n, (day, sign, amount) in enumerate(lines))
    return (f":20:{number}\n:25:{EUR_ACCOUNT}\n:28C:{number}/001\n:60F:C{opening[0]}EUR{opening[1]}\n"
            f"{entries}:62F:C{closing[0]}EUR{closing[1]}\n-\n").encode()


def test_days_two_statements_cover_are_counted_from_one_of_them(store):
    imported(store)
    # The bank also sends a weekly statement (6-9 Oct) and a monthly one (the whole of October, in
    # another file): both hold the 6th's +10.00 and the 8th's +5.00.
    weekly = _mt940("00014", ("261005", "1099,75"), [("261006", "CR", "10,00"), ("261008", "CR", "5,00")], ("261009", "1114,75"))
    monthly = _mt940("00100", ("260930", "1000,00"),
                     [("261002", "DR", "50,00"), ("261003", "CR", "150,25"), ("261005", "DR", "0,25"), ("261005", "DR", "0,25"),
                      ("261006", "CR", "10,00"), ("261008", "CR", "5,00"), ("261020", "CR", "1,00")], ("261031", "1115,75"))
    for data, name in ((weekly, "weekly.sta"), (monthly, "monthly.sta")):
        outcome = import_bytes(store, data, name)
        assert not getattr(outcome, "errors", None), outcome
    # On the 8th: the daily statement's closing on the 5th (1099.75), then the 6th and the 8th once.
    eur = by_account(cash_position(store, dt.date(2026, 10, 8))[0])[(EUR_ACCOUNT, "EUR")]
    assert (eur.opening, eur.movement, eur.balance) == (Decimal("1099.75"), Decimal("15.00"), Decimal("1114.75"))
    # On the 25th: the weekly closing (1114.75 on the 9th), then the monthly's 20th.
    eur = by_account(cash_position(store, dt.date(2026, 10, 25))[0])[(EUR_ACCOUNT, "EUR")]
    assert (eur.opening, eur.movement, eur.balance) == (Decimal("1114.75"), Decimal("1.00"), Decimal("1115.75"))
