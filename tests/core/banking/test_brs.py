"""The bank reconciliation statement, worked out by hand: every kind of line, two accounts, the bank's balance."""

import datetime as dt
from decimal import Decimal
from typing import NamedTuple

import duckdb
import pyarrow as pa
import pytest

from core.banking.brs import LINES, bank_closings_from_statements, bank_reconciliation_statement
from core.matching.engine import match_tables
from core.matching.rules import load_rules
from tests.matching_helpers import run, table

AS_OF = dt.date(2026, 10, 31)

BOOKS = [
    ("b1", "CHK", "2026-10-01", "1000.00", "INV-1"),
    ("b2", "CHK", "2026-10-05", "-250.00", "CHQ-101"),
    ("b3", "CHK", "2026-10-30", "400.00", "DEP-7"),
    ("b4", "CHK", "2026-10-08", "2000.00", "WIRE-55"),
    ("b5", "CHK", "2026-10-15", "-300.00", "PAY-9"),
    ("b6", "CHK", "2026-11-03", "-75.00", "CHQ-102"),
    ("c1", "SAV", "2026-10-03", "500.00", "TR-1", "EUR"),
]
BANK = [
    ("s1", "CHK", "2026-10-02", "1000.00", "inv 1"),
    ("s4", "CHK", "2026-10-09", "1985.00", ""),
    ("s5", "CHK", "2026-10-22", "-300.00", ""),
    ("s6", "CHK", "2026-10-20", "12.50", "INTEREST"),
    ("s8", "CHK", "2026-10-31", "-20.00", "CHARGES"),
    ("s7", "CHK", "2026-11-02", "400.00", "DEP-7"),
    ("t1", "SAV", "2026-10-03", "500.00", "TR-1", "EUR"),
]


def lines_of(brs, account: str) -> dict[str, Decimal]:
    return {x.line: x.amount for x in brs.lines if x.account == account}


def test_every_kind_of_line_agrees_with_the_hand_computed_statement():
    """Default rule set; as of 2026-10-31; both accounts open at 5,000.00 in the books and at the bank for CHK.

    CHK: b1/s1 match on reference (confirmed, no difference); b2 -250.00 has no bank record
    (outstanding payment); b3 +400.00 is matched to s7 of 2 November, so on the 31st it is a
    deposit in transit and s7 is out; b4 2,000.00 against s4 1,985.00 is the fee pass's group
    (proposed, the statement 15.00 less); b5/s5 -300.00 seven days apart is a late settlement
    (proposed); s6 +12.50 interest and s8 -20.00 charges are not in the books; b6 is after the date.

        bank closing  = 5000 + 1000 + 1985 - 300 + 12.50 - 20           = 7677.50 (given)
        adjusted bank = 7677.50 - 250.00 + 400.00                        = 7827.50
        book balance  = 5000 + 1000 - 250 + 400 + 2000 - 300             = 7850.00
        adjusted book = 7850.00 + 12.50 - 20.00 + (1985 - 2000)          = 7827.50
        unexplained   = 0.00

    SAV (EUR, book opening not given so 0): c1/t1 500.00 matched; the bank says 510.00.

        adjusted bank = 510.00; adjusted book = 500.00; unexplained = 10.00
    """
    result = run(BOOKS, BANK)
    brs, errors = bank_reconciliation_statement(result, AS_OF, bank_closings={"CHK": Decimal("7677.50"), "SAV": Decimal("510.00")},
                                                book_openings={"CHK": Decimal("5000.00")})
    assert errors == []
    assert [(x.account, x.line) for x in brs.lines] == [(a, line) for a in ("CHK", "SAV") for line in LINES]
    assert lines_of(brs, "CHK") == {
        "bank_closing_balance": Decimal("7677.50"), "outstanding_payments": Decimal("-250.00"),
        "deposits_in_transit": Decimal("400.00"), "adjusted_bank_balance": Decimal("7827.50"),
        "book_balance": Decimal("7850.00"), "bank_credits_not_in_books": Decimal("12.50"),
        "bank_debits_not_in_books": Decimal("-20.00"), "differences_in_matched_items": Decimal("-15.00"),
        "adjusted_book_balance": Decimal("7827.50"), "unexplained_difference": Decimal("0.00")}
    assert lines_of(brs, "SAV")["unexplained_difference"] == Decimal("10.00")
    assert lines_of(brs, "SAV")["book_balance"] == Decimal("500.00")
    assert all(isinstance(x.amount, Decimal) and x.amount.as_tuple().exponent == -2 for x in brs.lines)

    chk = brs.summary["accounts"]["CHK"]
    assert chk["matched_groups"] == {"confirmed": 1, "proposed": 2}
    assert chk["currency"] == "USD" and brs.summary["accounts"]["SAV"]["currency"] == "EUR"
    assert brs.summary["matched_groups"] == {"confirmed": 2, "proposed": 2}
    assert brs.summary["records_after_as_of"] == {"internal": 1, "external": 1}
    assert brs.summary["groups_completed_after_as_of"] == 1


def test_every_line_drills_down_to_its_records():
    result = run(BOOKS, BANK)
    brs, _ = bank_reconciliation_statement(result, AS_OF, bank_closings={"CHK": Decimal("7677.50"), "SAV": Decimal("510.00")},
                                           book_openings={"CHK": Decimal("5000.00")})
    items = brs.items.to_pylist()
    assert set(items[0]) == {"account", "line", "side", "record_id", "date", "amount", "reference"}
    chk = {}
    for item in items:
        if item["account"] == "CHK":
            chk.setdefault(item["line"], []).append((item["side"], item["record_id"]))
    assert chk == {
        "outstanding_payments": [("internal", "b2")],
        "deposits_in_transit": [("internal", "b3")],
        "book_balance": [("internal", r) for r in ("b1", "b2", "b4", "b5", "b3")],
        "bank_credits_not_in_books": [("external", "s6")],
        "bank_debits_not_in_books": [("external", "s8")],
        "differences_in_matched_items": [("internal", "b4"), ("external", "s4")],
    }
    for account, opening in (("CHK", Decimal("5000.00")), ("SAV", Decimal(0))):
        mine = [i for i in items if i["account"] == account]
        lines = lines_of(brs, account)
        for line in ("outstanding_payments", "deposits_in_transit", "bank_credits_not_in_books", "bank_debits_not_in_books"):
            assert sum((i["amount"] for i in mine if i["line"] == line), Decimal(0)) == lines[line]
        assert opening + sum(i["amount"] for i in mine if i["line"] == "book_balance") == lines["book_balance"]
        assert sum((i["amount"] if i["side"] == "external" else -i["amount"] for i in mine
                    if i["line"] == "differences_in_matched_items"), Decimal(0)) == lines["differences_in_matched_items"]
    assert not any(i["record_id"] in ("b6", "s7") for i in items)


def test_a_later_as_of_date_clears_the_deposit_in_transit():
    """As of 2 November s7 is in and matches b3; b6 (3 November) is still out. The bank adds s7's 400.00."""
    result = run(BOOKS, BANK)
    brs, errors = bank_reconciliation_statement(result, dt.date(2026, 11, 2), bank_closings={"CHK": Decimal("8077.50"),
                                                                                             "SAV": Decimal("500")},
                                                book_openings={"CHK": Decimal("5000.00")})
    assert errors == []
    chk = lines_of(brs, "CHK")
    assert chk["deposits_in_transit"] == 0 and chk["outstanding_payments"] == Decimal("-250.00")
    assert chk["unexplained_difference"] == 0
    assert brs.summary["accounts"]["CHK"]["matched_groups"] == {"confirmed": 2, "proposed": 2}


def test_a_confirmed_group_with_a_difference_counts_like_a_proposed_one():
    """A rule set whose fee pass confirms: b4/s4 differ by 15.00 inside a confirmed group; the lines do not change."""
    rules = """
name = "confirming fees"
[[passes]]
name = "reference_and_amount"
reference = "normalised"
date_window = 5
[[passes]]
name = "fee"
amount_tolerance = "50.00"
amount_difference = "external_less"
date_window = 3
[[passes]]
name = "late"
date_window = 10
status = "proposed"
"""
    result = run(BOOKS, BANK, rules)
    brs, errors = bank_reconciliation_statement(result, AS_OF, bank_closings={"CHK": Decimal("7677.50"), "SAV": Decimal("500.00")},
                                                book_openings={"CHK": Decimal("5000.00")})
    assert errors == []
    assert brs.summary["accounts"]["CHK"]["matched_groups"] == {"confirmed": 2, "proposed": 1}
    assert lines_of(brs, "CHK")["differences_in_matched_items"] == Decimal("-15.00")
    assert lines_of(brs, "CHK")["unexplained_difference"] == 0


class Facts(NamedTuple):
    account: str
    currency: str
    number: str
    period_from: dt.date | None
    period_to: dt.date | None
    opening: Decimal | None
    closing: Decimal | None


def test_the_bank_closing_is_the_latest_statement_closing_on_or_before_the_date():
    statements = [Facts("CHK", "USD", "41", dt.date(2026, 9, 1), dt.date(2026, 9, 30), Decimal("4000"), Decimal("5000.00")),
                  Facts("CHK", "USD", "42", dt.date(2026, 10, 1), dt.date(2026, 10, 31), Decimal("5000.00"), Decimal("7677.50")),
                  Facts("CHK", "USD", "43", dt.date(2026, 11, 1), dt.date(2026, 11, 30), Decimal("7677.50"), Decimal("9000")),
                  Facts("SAV", "EUR", "7", dt.date(2026, 10, 1), dt.date(2026, 11, 30), Decimal("0"), Decimal("900"))]
    closings = bank_closings_from_statements(statements, AS_OF)
    assert closings["CHK"].amount == Decimal("7677.50") and closings["CHK"].as_at == AS_OF
    assert "statement 42" in closings["CHK"].source
    # SAV's only statement runs past the date: its opening, at the end of the day before it starts.
    assert closings["SAV"].amount == 0 and closings["SAV"].as_at == dt.date(2026, 9, 30)

    result = run(BOOKS, BANK)
    brs, errors = bank_reconciliation_statement(result, AS_OF, statements=statements, book_openings={"CHK": Decimal("5000.00")})
    assert errors == []
    assert lines_of(brs, "CHK")["bank_closing_balance"] == Decimal("7677.50")
    assert lines_of(brs, "CHK")["unexplained_difference"] == 0
    # SAV: 0 at the start plus t1 (3 October) = 500.00, rolled forward from the statement's opening.
    assert lines_of(brs, "SAV")["bank_closing_balance"] == Decimal("500.00")
    assert brs.summary["accounts"]["SAV"]["bank_closing"]["rolled_forward"] == "500.00"
    assert lines_of(brs, "SAV")["unexplained_difference"] == 0


def test_the_statement_records_after_its_closing_are_added_up_to_the_date():
    """As of 2 November, statement 42 closes on 31 October at 7,677.50; s7 (+400.00, 2 November) is added: 8,077.50."""
    statements = [Facts("CHK", "USD", "42", dt.date(2026, 10, 1), dt.date(2026, 10, 31), Decimal("5000.00"), Decimal("7677.50")),
                  Facts("SAV", "EUR", "7", dt.date(2026, 10, 1), dt.date(2026, 10, 31), Decimal("0"), Decimal("500.00"))]
    brs, errors = bank_reconciliation_statement(run(BOOKS, BANK), dt.date(2026, 11, 2), statements=statements,
                                                book_openings={"CHK": Decimal("5000.00")})
    assert errors == []
    assert lines_of(brs, "CHK")["bank_closing_balance"] == Decimal("8077.50")
    assert lines_of(brs, "CHK")["unexplained_difference"] == 0


def test_a_given_bank_closing_replaces_the_statements():
    statements = [Facts("CHK", "USD", "42", dt.date(2026, 10, 1), dt.date(2026, 10, 31), Decimal("5000.00"), Decimal("7677.50")),
                  Facts("SAV", "EUR", "7", dt.date(2026, 10, 1), dt.date(2026, 10, 31), Decimal("0"), Decimal("500.00"))]
    brs, _ = bank_reconciliation_statement(run(BOOKS, BANK), AS_OF, statements=statements, bank_closings={"CHK": Decimal("7700.00")},
                                           book_openings={"CHK": Decimal("5000.00")})
    assert lines_of(brs, "CHK")["unexplained_difference"] == Decimal("22.50")
    assert brs.summary["accounts"]["CHK"]["bank_closing"]["source"] == "given"
    assert brs.summary["accounts"]["SAV"]["bank_closing"]["source"].startswith("statement 7")


def test_an_account_without_a_bank_closing_is_refused_by_name():
    brs, errors = bank_reconciliation_statement(run(BOOKS, BANK), AS_OF, bank_closings={"CHK": Decimal("7677.50")},
                                                statement="bank.csv")
    assert brs is None
    assert [str(e) for e in errors] == [
        "bank.csv, column 'closing balance': account 'SAV': the statement gives no closing balance on or before 2026-10-31; "
        "give the bank's closing balance (--bank-closing SAV=AMOUNT)"]


def test_a_balance_given_for_an_account_neither_file_holds_is_refused():
    given = {"CHK": Decimal(1), "SAV": Decimal(1), "CHQ": Decimal(1)}
    _, errors = bank_reconciliation_statement(run(BOOKS, BANK), AS_OF, bank_closings=given, book_openings={"SVA": Decimal(1)},
                                              books="books.csv", statement="bank.csv")
    assert [str(e) for e in errors] == [
        "books.csv, column 'book opening': book opening given for account 'SVA', which neither file holds",
        "bank.csv, column 'bank closing': bank closing given for account 'CHQ', which neither file holds"]


def test_an_account_in_two_currencies_is_refused():
    books = [*BOOKS, ("c2", "SAV", "2026-10-04", "1.00", "", "USD")]
    _, errors = bank_reconciliation_statement(run(books, BANK), AS_OF, bank_closings={"CHK": Decimal(1), "SAV": Decimal(1)})
    assert len(errors) == 1 and "account 'SAV' holds records in EUR and USD" in str(errors[0])


@pytest.mark.parametrize("as_of", [dt.date(2026, 9, 30), dt.date(2026, 10, 1)])
def test_before_any_movement_the_statement_is_the_openings(as_of):
    """On 30 September nothing has moved: every line is the opening; on 1 October only b1 (1,000.00) is in the books."""
    brs, errors = bank_reconciliation_statement(run(BOOKS, BANK), as_of, bank_closings={"CHK": Decimal("5000.00")},
                                                book_openings={"CHK": Decimal("5000.00")})
    assert errors == []
    moved = Decimal("1000.00") if as_of.day == 1 else Decimal(0)
    chk = lines_of(brs, "CHK")
    assert chk["book_balance"] == 5000 + moved and chk["deposits_in_transit"] == moved and chk["unexplained_difference"] == 0
    assert "SAV" not in brs.summary["accounts"]


def test_open_items_carried_from_an_earlier_run_reconcile_but_are_not_this_periods_movements():
    """October, with September's open items carried in by the run (``carried_from`` set).

    The books closed September at 4,000.00, which holds cheques k0 (-600.00) and k1 (-90.00)
    the bank had not paid; the bank had credited 5.00 of interest (e0) the books did not hold,
    so the bank closed September at 4,000 + 600 + 90 + 5 = 4,695.00. In October the bank pays
    k0 (s9), and b1/s1 (+1,000.00) match.

        bank closing  = 4695 + 1000 - 600          = 5095.00     adjusted bank = 5095 - 90 = 5005.00
        book balance  = 4000 + 1000 (k0, k1 aside)  = 5000.00     adjusted book = 5000 + 5  = 5005.00
    """
    books = table([("b1", "CHK", "2026-10-01", "1000.00", "INV-1"), ("k0", "CHK", "2026-09-28", "-600.00", "CHQ-88"),
                   ("k1", "CHK", "2026-09-29", "-90.00", "CHQ-89")])
    bank = table([("s1", "CHK", "2026-10-02", "1000.00", "INV-1"), ("s9", "CHK", "2026-10-06", "-600.00", "CHQ-88"),
                  ("e0", "CHK", "2026-09-30", "5.00", "INT-SEP")])
    con = duckdb.connect()
    con.register("books", books.append_column("carried_from", pa.array([None, 17, 18], pa.int64())))
    con.register("bank", bank.append_column("carried_from", pa.array([None, None, 19], pa.int64())))
    result = match_tables("books", "bank", load_rules(), con)
    brs, errors = bank_reconciliation_statement(result, AS_OF, bank_closings={"CHK": Decimal("5095.00")},
                                                book_openings={"CHK": Decimal("4000.00")})
    assert errors == []
    chk = lines_of(brs, "CHK")
    assert chk["book_balance"] == Decimal("5000.00")
    assert chk["outstanding_payments"] == Decimal("-90.00") and chk["bank_credits_not_in_books"] == Decimal("5.00")
    assert chk["adjusted_bank_balance"] == chk["adjusted_book_balance"] == Decimal("5005.00")
    assert chk["unexplained_difference"] == 0
    book_items = {i["record_id"] for i in brs.items.to_pylist() if i["line"] == "book_balance"}
    assert book_items == {"b1"}
