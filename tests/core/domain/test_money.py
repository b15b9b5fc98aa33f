from decimal import Decimal
from typing import NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.domain.money import (Amount, AmountError, CurrencyError, add, decimal_from_spreadsheet, infer_decimal_separator, neg, parse_amount,
                               sub, sum_amounts, totals_per_currency)
from core.review import net_difference, net_difference_per_currency


@pytest.mark.parametrize(
    ("text", "decimal", "expected"),
    [
        ("1234.56", ".", "1234.56"),
        ("1,234.56", ".", "1234.56"),
        ("1.234,56", ",", "1234.56"),
        ("1 234,56", ",", "1234.56"),
        ("1\u00a0234,56", ",", "1234.56"),
        ("1'234.56", ".", "1234.56"),
        ("(1,234.56)", ".", "-1234.56"),
        ("( 12.00 )", ".", "-12.00"),
        ("-12.30", ".", "-12.30"),
        ("12.30-", ".", "-12.30"),
        ("+5", ".", "5"),
        ("$1,000.00", ".", "1000.00"),
        ("-$1,000.00", ".", "-1000.00"),
        ("€ 12,50", ",", "12.50"),
        ("USD 99.99", ".", "99.99"),
        ("99.99 EUR", ".", "99.99"),
        ("250.00 CR", ".", "250.00"),
        ("250.00 DR", ".", "-250.00"),
        ("1,23,456.78", ".", "123456.78"),
        (".50", ".", "0.50"),
    ],
)
def test_parse_amount_reads_the_ways_statements_print_amounts(text, decimal, expected):
    value = parse_amount(text, decimal)
    assert value == Decimal(expected)
    assert str(value) == expected


@pytest.mark.parametrize("text", ["abc", "12.3.4x", "1,5e3x", "--5", "12..5", "N/A", "#VALUE!"])
def test_parse_amount_refuses_text_that_is_not_a_number(text):
    with pytest.raises(AmountError):
        parse_amount(text, ".")


@pytest.mark.parametrize(
    ("text", "decimal"),
    [("3,50", "."), ("-€3,50", "."), ("1,2,3", "."), ("1,2345.00", "."), (",500", "."), ("1.5", ","), ("12.34,56", ","),
     ("1 23,00", ","), ("1,234 567.00", "."), ("1.234,567.8", ","), ("1,234.567,8", "."), ("1,23,45.00", "."), ("1'23.00", ".")],
)
def test_a_thousands_separator_that_does_not_separate_thousands_is_refused(text, decimal):
    # Dropping the separator would read 3,50 as 350: an error, never a wrong amount.
    with pytest.raises(AmountError, match="groups of three digits"):
        parse_amount(text, decimal)


@pytest.mark.parametrize(
    ("text", "decimal", "expected"),
    [("12,34,567.50", ".", "1234567.50"), ("1,00,000", ".", "100000"), ("1.000.000", ",", "1000000"), ("1 000 000,5", ",", "1000000.5"),
     ("1'000'000", ".", "1000000"), ("999", ".", "999"), ("1,234", ".", "1234")],
)
def test_thousands_in_groups_of_three_or_indian_lakhs_are_read(text, decimal, expected):
    assert parse_amount(text, decimal) == Decimal(expected)


def test_scientific_notation_is_refused_because_digits_were_lost():
    with pytest.raises(AmountError, match="scientific"):
        parse_amount("1.23457E+11", ".")


def test_huge_numbers_and_too_many_decimals_are_refused():
    from core.domain.money import check_amount

    with pytest.raises(AmountError, match="too large"):
        parse_amount("12345678901234567890", ".")
    with pytest.raises(AmountError, match="too large"):
        check_amount(Decimal("1E+308"))
    with pytest.raises(AmountError, match="finite"):
        check_amount(Decimal("NaN"))
    check_amount(Decimal("999999999999.999999"))
    with pytest.raises(AmountError, match="decimal places"):
        parse_amount("1.1234567", ".")


def test_blank_is_no_amount():
    assert parse_amount("  ", ".") is None


@given(st.decimals(min_value=Decimal("-999999999999"), max_value=Decimal("999999999999"), places=2, allow_nan=False, allow_infinity=False),
       st.sampled_from([".", ","]), st.booleans(), st.booleans())
def test_formatted_amounts_parse_back_exactly(value, decimal, grouped, parentheses):
    text = f"{abs(value):,.2f}" if grouped else f"{abs(value):.2f}"
    if decimal == ",":
        text = text.replace(",", "X").replace(".", ",").replace("X", ".")
    if value < 0:
        text = f"({text})" if parentheses else f"-{text}"
    assert parse_amount(text, decimal) == value


@pytest.mark.parametrize(
    ("values", "hint", "expected"),
    [
        (["1.234,56", "12,00"], ".", (",", False)),
        (["1,234.56", "12.00"], ",", (".", False)),
        (["12,5", "3"], ".", (",", False)),
        (["1,234,567", "12"], ".", (".", False)),
        (["1,234"], ",", (",", True)),
        (["1,234"], ".", (".", True)),
    ],
)
def test_decimal_separator_is_decided_from_the_whole_column(values, hint, expected):
    assert infer_decimal_separator(values, hint) == expected


def test_spreadsheet_numbers_keep_the_digits_the_spreadsheet_shows():
    assert decimal_from_spreadsheet(0.1 + 0.2) == Decimal("0.3")
    assert str(decimal_from_spreadsheet(1234.5)) == "1234.5"
    assert str(decimal_from_spreadsheet(100.0)) == "100"
    assert decimal_from_spreadsheet(-98765.43) == Decimal("-98765.43")
    assert decimal_from_spreadsheet(7) == Decimal(7)


def test_amounts_of_one_currency_add_and_subtract_exactly():
    usd = Amount(Decimal("0.10"), "USD")
    assert add(usd, Amount(Decimal("0.20"), "USD")) == Amount(Decimal("0.30"), "USD")
    assert sub(usd, Amount(Decimal("0.30"), "USD")) == Amount(Decimal("-0.20"), "USD")
    assert neg(usd) == Amount(Decimal("-0.10"), "USD")
    assert sum_amounts([usd] * 3) == Amount(Decimal("0.30"), "USD")
    assert sum_amounts([], "EUR") == Amount(Decimal(0), "EUR")


@pytest.mark.parametrize("combine", [add, sub])
def test_an_amount_of_another_currency_is_refused(combine):
    with pytest.raises(CurrencyError, match="12.50 USD and 3.00 EUR"):
        combine(Amount(Decimal("12.50"), "USD"), Amount(Decimal("3.00"), "EUR"))


def test_a_sum_refuses_a_second_currency_and_an_empty_sum_needs_its_currency():
    with pytest.raises(CurrencyError):
        sum_amounts([Amount(Decimal(1), "USD"), Amount(Decimal(1), "EUR")])
    with pytest.raises(CurrencyError):
        sum_amounts([Amount(Decimal(1), "USD")], "EUR")
    with pytest.raises(CurrencyError, match="needs its currency"):
        sum_amounts([])


def test_totals_per_currency_keep_each_currency_apart_in_alphabetical_order():
    amounts = [Amount(Decimal("1.10"), "USD"), Amount(Decimal("2.00"), "EUR"), Amount(Decimal("-0.10"), "USD")]
    assert list(totals_per_currency(amounts).items()) == [("EUR", Amount(Decimal("2.00"), "EUR")), ("USD", Amount(Decimal("1.00"), "USD"))]


class _Record(NamedTuple):
    side: str
    amount: Decimal
    currency: str


def test_net_difference_refuses_records_in_two_currencies_and_nets_each_currency_on_its_own():
    records = [_Record("internal", Decimal("100.00"), "USD"), _Record("external", Decimal("98.50"), "USD"),
               _Record("external", Decimal("40.00"), "EUR")]
    assert net_difference(records[:2]) == Decimal("-1.50")
    with pytest.raises(CurrencyError, match="different currencies"):
        net_difference(records)
    assert net_difference_per_currency(records) == {"EUR": Decimal("40.00"), "USD": Decimal("-1.50")}
