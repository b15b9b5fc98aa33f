"""Money in each currency's own form, readable grids and the totals under them."""

from decimal import Decimal

import pandas as pd

from core.views.format import currency_places, format_money, grid_totals, money_format, readable_grid


def test_money_is_written_in_its_currencys_form_with_thousands_separators():
    assert format_money(Decimal("1234567"), "JPY") == "1,234,567"
    assert format_money(Decimal("-1234.5"), "EUR") == "-1,234.50"
    assert format_money(Decimal("1234.5"), "KWD") == "1,234.500"
    assert format_money(None, "EUR") == ""


def test_display_never_drops_a_digit_the_store_holds():
    assert format_money(Decimal("0.125"), "USD") == "0.125"
    assert format_money(Decimal("10.50"), "JPY") == "10.5"


def test_an_unknown_or_blank_currency_shows_two_places():
    assert currency_places("XYZ") == 2 and currency_places("") == 2 and currency_places("jpy") == 0
    assert money_format(["JPY"]) == "%,.0f" and money_format(["JPY", "EUR"]) == "%,.2f" and money_format([]) == "%,.2f"


def test_totals_are_count_money_in_money_out_and_net_per_currency():
    frame = pd.DataFrame({"amount": [Decimal("100.00"), Decimal("-40.25"), Decimal("1500"), Decimal("-2500"), Decimal("0.10")],
                          "currency": ["USD", "USD", "JPY", "JPY", "USD"]})
    totals = grid_totals(frame)
    assert totals.to_dict("records") == [
        {"currency": "JPY", "count": 2, "money_in": "1,500", "money_out": "2,500", "net": "-1,000"},
        {"currency": "USD", "count": 3, "money_in": "100.10", "money_out": "40.25", "net": "59.85"},
    ]


def test_totals_of_an_empty_grid_are_zero():
    totals = grid_totals(pd.DataFrame({"amount": [], "currency": []}))
    assert totals.loc[0, "count"] == 0 and totals.loc[0, "net"] == "0.00"


def test_a_grid_of_one_currency_formats_its_number_column_in_that_currencys_form():
    frame = pd.DataFrame({"id": [1, 2], "amount": [Decimal("1500"), Decimal("-20")], "currency": ["JPY", "JPY"],
                          "resolution": [None, "timing"]})
    grid = readable_grid(frame, {"id": "Break", "amount": "Amount", "resolution": "Resolution"}, money={"amount": "currency"})
    assert grid.titles == {"id": "Break", "amount": "Amount", "resolution": "Resolution"}
    assert grid.number_formats == {"amount": "%,.0f"}
    assert grid.frame["resolution"].tolist() == ["", "timing"]
    assert grid.frame["amount"].tolist() == [Decimal("1500"), Decimal("-20")]


def test_a_grid_mixing_currency_forms_shows_each_amount_in_its_own_form_beside_the_number():
    frame = pd.DataFrame({"amount": [Decimal("1500"), Decimal("-20.5")], "currency": ["JPY", "EUR"]})
    grid = readable_grid(frame, {"amount": "Amount", "currency": "Currency"}, money={"amount": "currency"})
    assert list(grid.titles.items()) == [("amount_text", "Amount"), ("amount", "Amount (number)"), ("currency", "Currency")]
    assert grid.frame["amount_text"].tolist() == ["1,500", "-20.50"]
