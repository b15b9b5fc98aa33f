import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest

from core.banking.variance import (dimension_columns, month_end, parse_budget, previous_month, unexplained_by_month, variance_alerts,
                                   variance_report)
from tests.matching_helpers import run, table


def with_cost_centres(rows, centres):
    records = table(rows)
    return records.append_column("cost_centre", pa.array(centres, pa.string()))


def test_movements_against_the_month_before():
    report, errors = variance_report(table([("a", "OPS-1", "2026-09-03", "10000.00"), ("b", "OPS-1", "2026-10-07", "12000.00"),
                                            ("c", "OPS-1", "2026-10-20", "-500.50"), ("d", "OPS-1", "2026-12-01", "1.00")]))
    assert errors == []
    assert [(r.account, r.month, r.movement, r.previous, r.change) for r in report.rows] == [
        ("OPS-1", "2026-09", Decimal("10000.00"), None, None),
        ("OPS-1", "2026-10", Decimal("11499.50"), Decimal("10000.00"), Decimal("1499.50")),
        ("OPS-1", "2026-11", Decimal(0), Decimal("11499.50"), Decimal("-11499.50")),  # a month without records moved nothing
        ("OPS-1", "2026-12", Decimal("1.00"), Decimal(0), Decimal("1.00")),
    ]
    assert [(a.kind, a.period, a.amount) for a in variance_alerts(report)] == [("variance_previous", "2026-11", Decimal("-11499.50"))]


@pytest.mark.parametrize(("october", "alerted"), [("14999.99", False), ("15000.00", False), ("15000.01", True)])
def test_variance_alert_only_above_the_threshold(october, alerted):
    # The month before moved 10,000.00: a change of 4,999.99 / 5,000.00 / 5,000.01 against 5,000.00.
    report, _ = variance_report(table([("a", "OPS-1", "2026-09-03", "10000.00"), ("b", "OPS-1", "2026-10-07", october)]))
    assert report.variance_threshold == Decimal("5000.00")
    assert [a.kind for a in variance_alerts(report)] == (["variance_previous"] if alerted else [])


def test_thresholds_are_read_from_the_environment_as_exact_decimals(monkeypatch):
    monkeypatch.setenv("RECON_VARIANCE_ALERT_THRESHOLD", "100.10")
    monkeypatch.setenv("RECON_RECONCILIATION_THRESHOLD", "0.5")
    report, _ = variance_report(table([("a", "OPS-1", "2026-09-03", "0.00"), ("b", "OPS-1", "2026-10-07", "100.11")]))
    assert (report.variance_threshold, report.reconciliation_threshold) == (Decimal("100.10"), Decimal("0.5"))
    assert [a.amount for a in variance_alerts(report)] == [Decimal("100.11")]
    monkeypatch.setenv("RECON_VARIANCE_ALERT_THRESHOLD", "lots")
    with pytest.raises(ValueError, match="RECON_VARIANCE_ALERT_THRESHOLD='lots' is not an amount"):
        variance_report(table([("a", "OPS-1", "2026-09-03", "0.00")]))


@pytest.mark.parametrize(("closing", "alerted"), [("1099.99", False), ("1100.00", False), ("1100.01", True)])
def test_unexplained_difference_alert_only_above_the_reconciliation_threshold(closing, alerted):
    books = [("b1", "OPS-1", "2026-10-05", "100.00")]
    result = run(books, [("s1", "OPS-1", "2026-10-05", "100.00")])
    # The bank says 1,100.00 (give or take a cent); the books hold 100.00: 1,000.00 unexplained, the threshold.
    unexplained, errors = unexplained_by_month(result, ["2026-10"], bank_closings={"OPS-1": Decimal(closing)})
    assert errors == []
    assert unexplained == {("OPS1", "2026-10"): Decimal(closing) - Decimal("100.00")}
    report, _ = variance_report(table(books), unexplained=unexplained)
    assert report.rows[0].unexplained == Decimal(closing) - Decimal("100.00")
    assert [a.kind for a in variance_alerts(report)] == (["unexplained_difference"] if alerted else [])


def test_unexplained_difference_needs_a_bank_balance():
    result = run([("b1", "OPS-1", "2026-10-05", "100.00")], [])
    found, errors = unexplained_by_month(result, ["2026-10"])
    assert found == {}
    assert [e.message.split(":")[0] for e in errors] == ["as of 2026-10-31"]


def test_movements_against_the_budget_per_account_and_dimension():
    budget, errors = parse_budget("account,dimension,month,amount\nOPS-1,,2026-10,9000.00\nOPS 1,CC-9,2026-10,-2000\n"
                                  "RES-2,,2026-10,50.00\n")
    assert errors == []
    records = with_cost_centres([("a", "OPS-1", "2026-10-07", "15000.00"), ("b", "OPS-1", "2026-10-09", "-1500.00")], ["CC-1", "CC-9"])
    assert dimension_columns(records) == ["cost_centre"]
    report, errors = variance_report(records, budget=budget, dimension="cost_centre")
    assert errors == []
    assert [(r.account, r.dimension, r.month, r.movement, r.budget, r.budget_variance) for r in report.rows] == [
        ("OPS-1", "", "2026-10", Decimal("13500.00"), Decimal("9000.00"), Decimal("4500.00")),
        ("OPS-1", "CC-9", "2026-10", Decimal("-1500.00"), Decimal("-2000"), Decimal("500.00")),
        ("RES-2", "", "2026-10", Decimal(0), Decimal("50.00"), Decimal("-50.00")),  # budgeted, no records
    ]
    assert report.heatmap == [("OPS-1", "CC-1", "2026-10", Decimal("15000.00")), ("OPS-1", "CC-9", "2026-10", Decimal("-1500.00"))]
    assert variance_alerts(report) == []
    over, _ = parse_budget("account,month,amount\nOPS-1,2026-10,8499.99\n")
    report, _ = variance_report(records, budget=over)
    assert [(a.kind, a.amount) for a in variance_alerts(report)] == [("variance_budget", Decimal("5000.01"))]


def test_budget_file_errors_are_one_line_each_and_all_found():
    budget, errors = parse_budget("account,dimension,month,amount\n,,2026-10,1\nOPS-1,,2026-13,1\nOPS-1,,2026-10,12.5x\n"
                                  "OPS-1,,2026-11,10\nops 1,,2026-11,20\n", "budget.csv")
    assert budget is None
    assert [str(e) for e in errors] == [
        "budget.csv, row 2, column 'account': the account is blank",
        "budget.csv, row 3, column 'month': '2026-13' is not a month (YYYY-MM)",
        "budget.csv, row 4, column 'amount': '12.5x' is not an amount",
        "budget.csv, row 6, column 'month': ops 1 2026-11 is budgeted already on row 5",
    ]


def test_budget_file_without_its_columns_is_refused():
    budget, errors = parse_budget("acct,period,value\nOPS-1,2026-10,1\n", "budget.csv")
    assert budget is None
    assert [e.column for e in errors] == ["account", "month", "amount"]
    assert str(errors[0]) == "budget.csv, row 1, column 'account': the budget has no 'account' column (columns: account, " \
                             "dimension (optional), month, amount)"


def test_a_budget_with_dimensions_needs_the_dimension_column():
    budget, _ = parse_budget("account,dimension,month,amount\nOPS-1,CC-1,2026-10,1\n")
    report, errors = variance_report(table([("a", "OPS-1", "2026-10-07", "1.00")]), budget=budget)
    assert report is None and "choose the records' dimension column" in errors[0].message
    _, errors = variance_report(table([("a", "OPS-1", "2026-10-07", "1.00")]), dimension="project")
    assert str(errors[0]) == "records, column 'project': the records have no 'project' column"


def test_an_account_in_two_currencies_is_refused():
    report, errors = variance_report(table([("a", "OPS-1", "2026-10-07", "1.00", "", "USD"),
                                            ("b", "OPS-1", "2026-10-08", "1.00", "", "EUR")]))
    assert report is None
    assert errors[0].message == "account 'OPS-1' holds records in EUR and USD: a variance is of one currency"


def test_month_end_and_the_month_before():
    assert month_end("2028-02") == dt.date(2028, 2, 29) and previous_month("2026-01") == "2025-12"
