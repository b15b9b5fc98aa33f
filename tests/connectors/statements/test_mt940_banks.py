"""MT940 as banks write it: pages, reversals, bank layouts of :61:, and what is not a statement."""

from decimal import Decimal

import pytest

from core.ingest.datasets import parse_source


def _amounts(data: bytes, name: str = "bank.sta"):
    result, errors = parse_source(data, name)
    assert errors == [], errors
    return [r["amount"] for r in result.table.to_pylist()], result


PAGES = b""":20:PAGES
:25:DE12500105170648489890
:28C:7/1
:60F:C261001EUR100,00
:61:2610011001C25,00NTRFNONREF//P1
:62M:C261001EUR125,00
:20:PAGES
:25:DE12500105170648489890
:28C:7/2
:60M:C261001EUR125,00
:61:2610011001D5,00NTRFNONREF//P2
:62F:C261001EUR120,00
"""


def test_a_statement_over_two_pages_is_one_statement():
    amounts, result = _amounts(PAGES)
    assert amounts == [Decimal("25.00"), Decimal("-5.00")]
    assert {r["statement"] for r in result.table.to_pylist()} == {"7/1"}


def test_a_page_that_does_not_continue_the_previous_one_is_refused():
    result, errors = parse_source(PAGES.replace(b":60M:C261001EUR125,00", b":60M:C261001EUR130,00"), "bank.sta")
    assert result is None and "does not continue the previous page" in errors[0].message and errors[0].column == ":60M:"


def test_a_balance_without_its_currency_is_refused_naming_it():
    result, errors = parse_source(PAGES.replace(b":62M:C261001EUR125,00", b":62M:C261001125,00"), "bank.sta")
    assert result is None and ":62M: balance has no currency code" in errors[0].message and errors[0].row == 6


def test_a_reversed_credit_is_money_out_and_a_reversed_debit_money_in():
    data = b""":20:REV
:25:NL01BANK0123456789
:28C:3/1
:60F:C261002EUR50,00
:61:2610021002RC10,00NTRFNONREF//R1
:61:2610021002RD4,00NTRFNONREF//R2
:62F:C261002EUR44,00
"""
    assert _amounts(data)[0] == [Decimal("-10.00"), Decimal("4.00")]


def test_an_eighteen_character_customer_reference_is_read_with_the_banks_layout():
    data = b"""{1:F01BANKNL2AXXXX0000000000}{2:O940BANKNL2AXXXXN}{3:}{4:
:20:0000000000
:25:NL02BANK0987654321
:28C:1/1
:60F:C261003EUR80,00
:61:2610031003D12,50NTRFNL99OTHR0123456789
a shop name
:86:NL99OTHR0123456789 a shop name
:62F:C261003EUR67,50
-}{5:}
"""
    amounts, result = _amounts(data)
    assert amounts == [Decimal("-12.50")] and any("layout" in w for w in result.warnings)


def test_entry_lines_without_a_type_code_are_each_one_entry():
    data = b""":20:NOTYPE
:25:0123456789
:28C:4/1
:60F:C261004NGN1000,00
:61:2610041004CN300,00//X1
:86:first
:61:2610041004DN120,50//X2
:86:second
:61:2610041004DN79,50//X3
:62F:C261004NGN1100,00
"""
    assert _amounts(data)[0] == [Decimal("300.00"), Decimal("-120.50"), Decimal("-79.50")]


def test_a_statement_in_a_withdrawn_currency_is_read():
    data = b""":20:OLD
:25:1234567
:28:1/1
:60F:C010315DEM10,00
:61:010316C5,00NTRFNONREF
:62F:C010316DEM15,00
"""
    assert _amounts(data)[0] == [Decimal("5.00")]


def test_an_mt942_interim_report_is_refused_by_name():
    data = b""":20:INTERIM
:25:PL00111122223333444455556666
:28C:1/1
:34F:PLN0
:13D:2610051200+0100
:61:2610051005CN1,00NTRFNONREF
:90C:1PLN1,00
"""
    result, errors = parse_source(data, "interim.txt")
    assert result is None and "MT942 interim report, not a statement" in errors[0].message


def test_swift_lines_without_a_statement_header_are_refused_as_a_fragment():
    result, errors = parse_source(b":61:2610061006CR\n30,00NTRFNONREF\n:86:some text\n", "piece.txt")
    assert result is None and "not a whole MT940 statement" in errors[0].message


def test_a_line_shaped_as_a_tag_before_the_statement_refuses_the_file():
    data = b":9999:\n" + ONE
    result, errors = parse_source(data, "odd.940")
    assert result is None and ":9999: is not an MT940 tag" in errors[0].message and errors[0].row == 1


def test_a_field_the_library_cannot_read_is_named_in_words_not_by_its_objects():
    result, errors = parse_source(PAGES.replace(b":61:2610011001C25,00NTRFNONREF//P1", b":61:26XX1001C25,00NTRF"), "bad.sta")
    assert result is None
    assert "object at 0x" not in errors[0].message and ":61:" in errors[0].message


ONE = b""":20:ONE
:25:DE12500105170648489890
:28C:7/1
:60F:C261001EUR100,00
:61:2610011001C25,00NTRFNONREF//P1
:62F:C261001EUR125,00
"""


@pytest.mark.parametrize("number, shown", [(b":28C:7/\n1", "7/1"), (b":28C:", ""), (b":28C:/1", "1"), (b":28C: 7 / 1", "7/1")],
                         ids=["wrapped", "empty", "no statement number", "blanks"])
def test_a_statement_number_written_loosely_is_read(number, shown):
    amounts, result = _amounts(ONE.replace(b":28C:7/1", number))
    assert amounts == [Decimal("25.00")] and {r["statement"] for r in result.table.to_pylist()} == {shown}


def test_a_reference_given_in_the_narrative_and_the_counterpartys_iban_are_read_apart():
    data = b""":20:SUBFIELDS
:25:12345678/7654321
:28C:9
:60F:C261007EUR10,00
:61:2610071007C2,50NCOLKREF+//BANKREF1
:86:171?00SEPA LASTSCHRIFT?20KREF+ORDER-2026-0042?21SVWZ+Invoice 42
?30GENODEF1XXX?31DE02120300000000202051?32Erika Beispiel
:62F:C261007EUR12,50
"""
    _, result = _amounts(data)
    row = result.table.to_pylist()[0]
    assert (row["reference"], row["counterparty"]) == ("ORDER-2026-0042", "Erika Beispiel")
