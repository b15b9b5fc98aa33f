"""BAI2 records joined as the specification says: continuations, defaulted fields, records on one line."""

from decimal import Decimal

from core.ingest.datasets import parse_source

# A summary's type code ends a record with a slash; its amount comes on the 88 record.
SPLIT_SUMMARY = b"""01,SENDER,RECEIVER,261030,0800,1,,,2/
02,RECEIVER,SENDER,1,261030,,USD,2/
03,5550001111,USD,010,100000,,,100,25000,,,400,5000,,,015/
88,120000,,/
16,175,25000,S,,10000,15000,REF1,CUST1,Deposit/
16,475,5000,,REF2,,Payment out
88,second line of text
49,280000,6/
98,280000,1,8/
99,280000,1,10/
"""


def _rows(data: bytes):
    result, errors = parse_source(data, "bank.bai")
    assert errors == [], errors
    return result.table.to_pylist()


def test_a_continuation_after_a_slash_starts_a_new_field_and_empty_availability_is_zero():
    rows = _rows(SPLIT_SUMMARY)
    assert [r["amount"] for r in rows] == [Decimal("250.00"), Decimal("-50.00")]
    assert rows[1]["description"] == "Payment out second line of text"


def test_several_records_on_one_line_are_read_one_by_one():
    one_line = SPLIT_SUMMARY.replace(b"2/\n02,", b"2/02,", 1)
    assert [r["amount"] for r in _rows(one_line)] == [Decimal("250.00"), Decimal("-50.00")]


def test_a_wrong_record_count_is_still_refused_once_continuations_are_joined():
    result, errors = parse_source(SPLIT_SUMMARY.replace(b"49,280000,6/", b"49,280000,5/"), "bank.bai")
    assert result is None and "account trailer (49) counts 1 record(s) fewer than the file holds" in errors[0].message


def test_a_file_header_with_a_four_digit_year_is_read():
    assert len(_rows(SPLIT_SUMMARY.replace(b",261030,0800,", b",20261030,0800,", 1))) == 2


def test_records_without_a_file_header_are_refused_as_bai2_not_as_a_table():
    result, errors = parse_source(b"00,0004,1/2/345,06/0321,0829,001,80,1,2/\n", "bank.txt")
    assert result is None and "BAI2" in errors[0].message and "header row" not in errors[0].message


def test_an_amount_under_a_type_code_that_is_neither_credit_nor_debit_is_refused():
    # No balances to check it against: only the type code tells the direction.
    data = b"""01,SENDER,RECEIVER,261030,0800,1,,,2/
02,RECEIVER,SENDER,1,261030,,USD,2/
03,5550001111,USD/
16,890,25000,,REF1,,Information only
49,25000,3/
98,25000,1,5/
99,25000,1,7/
"""
    result, errors = parse_source(data, "bank.bai")
    assert result is None and "neither credit nor debit" in errors[0].message and errors[0].value == "890"


def test_a_summary_with_availability_amounts_ends_its_record_before_a_continuation():
    data = b"""01,SENDER,RECEIVER,261030,0800,1,,,2/
02,RECEIVER,SENDER,1,261030,,USD,2/
03,5550001111,USD,010,100000,,S,40000,30000,30000,/
88,015,125000,,/
16,175,25000,,REF1,,Deposit
49,250000,4/
98,250000,1,6/
99,250000,1,8/
"""
    rows = _rows(data)
    assert [r["amount"] for r in rows] == [Decimal("250.00")]


def test_empty_availability_amounts_of_a_summary_are_defaulted():
    data = b"""01,SENDER,RECEIVER,261030,0800,1,,,2/
02,RECEIVER,SENDER,1,261030,,USD,2/
03,5550001111,USD,010,100000,,S,,,,015,125000,,/
16,175,25000,S,,,,REF1,,Deposit
49,250000,3/
98,250000,1,5/
99,250000,1,7/
"""
    assert [r["amount"] for r in _rows(data)] == [Decimal("250.00")]
