"""Underwriting metrics on a month computed by hand.

April 2026 (30 days), opening balance 1,000.00. End-of-day balances:
1: 3000.00; 2: 2850.00; 3-5: 2300.00; 6: 2150.00; 7: 2000.00; 8-9: 1850.00; 10-13: 2450.00;
14: -150.00; 15-16: -185.00; 17-19: -620.00; 20-23: 180.00; 24-27: 480.00; 28-30: 399.99.
Sum 31,859.97 / 30 = 1,061.999 -> 1,062.00 (half-up). Negative days: 14-19, six.
Deposits 2000 + 1000 + 800 + 300 = 4,100.00 (4); true revenue less the transfer from savings
(1000) and the refund (300) = 2,800.00. NSF: two fee lines. Advances: RAPID FUNDING 150.00
daily (2, 3, 6, 7, 8 April), NORTHSTAR CAPITAL 400.00 weekly (3, 10, 17 April); holdback
(750 + 1200) / 2800 = 0.6964.
"""

import datetime as dt
from decimal import Decimal

import pytest

from core.underwriting.metrics import (
    BalancedRow,
    Period,
    RulesError,
    load_rules,
    metrics,
    monthly_metrics,
)

D = Decimal
APRIL = Period(dt.date(2026, 4, 1), dt.date(2026, 4, 30), D("1000.00"))
_ROWS = [
    ("dep1", 1, "2000.00", "3000.00", "Card sales settlement"),
    ("r1", 2, "-150.00", "2850.00", "ACH DEBIT RAPID FUNDING LLC REF 100231"),
    ("r2", 3, "-150.00", "2700.00", "ACH DEBIT RAPID FUNDING LLC REF 100232"),
    ("n1", 3, "-400.00", "2300.00", "NORTHSTAR CAPITAL WEEKLY 7781"),
    ("r3", 6, "-150.00", "2150.00", "ACH DEBIT RAPID FUNDING LLC REF 100233"),
    ("r4", 7, "-150.00", "2000.00", "ACH DEBIT RAPID FUNDING LLC REF 100234"),
    ("r5", 8, "-150.00", "1850.00", "ACH DEBIT RAPID FUNDING LLC REF 100235"),
    ("n2", 10, "-400.00", "1450.00", "NORTHSTAR CAPITAL WEEKLY 7782"),
    ("t1", 10, "1000.00", "2450.00", "Transfer from savings account 4455"),
    ("rent", 14, "-2600.00", "-150.00", "Rent payment April"),
    ("nsf1", 15, "-35.00", "-185.00", "NSF fee returned item"),
    ("n3", 17, "-400.00", "-585.00", "NORTHSTAR CAPITAL WEEKLY 7783"),
    ("nsf2", 17, "-35.00", "-620.00", "Insufficient funds fee"),
    ("dep2", 20, "800.00", "180.00", "Mobile deposit Greenway Grocers"),
    ("ref1", 24, "300.00", "480.00", "Refund Office Supplies Co"),
    ("util", 28, "-80.01", "399.99", "Utility bill"),
]
ROWS = [BalancedRow(i, dt.date(2026, 4, day), D(a), D(b), text) for i, day, a, b, text in _ROWS]


@pytest.fixture(scope="module")
def april():
    return metrics(ROWS, APRIL, load_rules())


def test_average_daily_balance_is_the_mean_of_every_calendar_day_rounded_half_up(april):
    assert april["average_daily_balance"] == "1062.00"


def test_negative_balance_days_count_days_ending_below_zero(april):
    assert april["negative_balance_days"] == 6
    assert april["rows"]["negative_balance_days"] == ["rent", "nsf1", "nsf2"]


def test_deposits_and_true_revenue_leave_out_the_transfer_and_the_refund(april):
    assert (april["total_deposits"], april["deposit_count"]) == ("4100.00", 4)
    assert april["true_revenue"] == "2800.00"
    assert april["rows"]["true_revenue"] == ["dep1", "dep2"]
    assert april["rows"]["excluded_from_revenue"] == {"transfer between own accounts": ["t1"], "refund or reversal": ["ref1"]}


def test_nsf_events_are_fee_lines(april):
    assert april["nsf_count"] == 2 and april["rows"]["nsf"] == ["nsf1", "nsf2"]


def test_two_advance_positions_are_found_with_frequency_amount_and_dates(april):
    assert [(p["counterparty"], p["frequency"], p["amount"], p["first"], p["last"], p["count"]) for p in april["mca_positions"]] == [
        ("ACH DEBIT RAPID FUNDING LLC REF", "daily", "150.00", "2026-04-02", "2026-04-08", 5),
        ("NORTHSTAR CAPITAL WEEKLY", "weekly", "400.00", "2026-04-03", "2026-04-17", 3),
    ]
    assert april["mca_positions"][1]["row_ids"] == ["n1", "n2", "n3"]
    assert april["holdback"] == "0.6964"


def test_a_day_before_the_first_row_keeps_the_opening_balance():
    late = [r._replace(date=r.date + dt.timedelta(days=1)) for r in ROWS[:1]]
    figures = metrics(late, Period(APRIL.start, dt.date(2026, 4, 2), APRIL.opening), load_rules())
    assert figures["average_daily_balance"] == "2000.00"  # (1000 + 3000) / 2


def test_months_are_clipped_to_the_period_and_open_with_the_day_before():
    rows = ROWS + [BalancedRow("may1", dt.date(2026, 5, 2), D("100.01"), D("500.00"), "Card sales settlement")]
    period = Period(dt.date(2026, 4, 1), dt.date(2026, 5, 3), D("1000.00"))
    months = monthly_metrics(rows, period, load_rules())
    assert [m["month"] for m in months] == ["2026-04", "2026-05"]
    assert months[0]["average_daily_balance"] == "1062.00"
    assert months[1]["period"] == {"start": "2026-05-01", "end": "2026-05-03", "opening_balance": "399.99"}
    assert months[1]["average_daily_balance"] == "466.66"  # (399.99 + 500 + 500) / 3 = 466.663
    assert months[1]["total_deposits"] == "100.01"


def test_a_rules_file_with_a_bad_pattern_is_refused(tmp_path):
    bad = tmp_path / "rules.toml"
    bad.write_text('[[exclude]]\nname = "x"\nmatches = ["(unclosed"]\n')
    with pytest.raises(RulesError, match="unclosed"):
        load_rules(bad)
