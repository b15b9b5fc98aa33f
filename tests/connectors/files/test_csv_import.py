"""Each CSV quirk the canonical import handles, pinned with a file the test writes."""

import datetime as dt
from decimal import Decimal

import pytest

from core.ingest.datasets import parse_source
from core.ingest.profiles import Profile, parse_profile


def canonical(data: bytes, name: str = "statement.csv", profile: Profile | None = None):
    result, errors = parse_source(data, name, profile)
    assert errors == [], errors
    return result


def rows(result):
    return result.table.to_pylist()


def test_semicolon_bom_and_decimal_comma_give_exact_amounts():
    data = "\ufeffDate;Account;Amount;Currency;Reference\n05.01.2024;DE01;1.234,56;EUR;R1\n06.01.2024;DE01;-0,07;EUR;R2\n".encode()
    result = canonical(data)
    assert [r["amount"] for r in rows(result)] == [Decimal("1234.56"), Decimal("-0.07")]
    assert rows(result)[0]["date"] == dt.date(2024, 1, 5)
    assert result.table.schema.field("amount").type.scale == 2


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_detected(delimiter):
    lines = ["date,account,amount,currency,description", "2024-03-01,A1,10.00,USD,one", "2024-03-02,A1,-2.50,USD,two"]
    data = "\n".join(line.replace(",", delimiter) for line in lines).encode()
    assert [r["amount"] for r in rows(canonical(data))] == [Decimal("10.00"), Decimal("-2.50")]


def test_quoted_fields_keep_delimiters_quotes_and_line_breaks():
    data = (
        'date,account,amount,currency,description,reference\n'
        '2024-03-01,A1,"1,500.00",USD,"Smith, John ""JJ""",R1\n'
        '2024-03-02,A1,-20.00,USD,"two\nlines",R2\n'
        '2024-03-03,A1,bad,USD,x,R3\n'
    ).encode()
    result, errors = parse_source(data, "q.csv")
    assert result is None
    assert [(e.row, e.column, e.value) for e in errors] == [(5, "amount", "bad")], "rows are numbered by the line they start on"
    good = canonical(data.rsplit(b"\n", 2)[0] + b"\n")
    assert rows(good)[0]["description"] == 'Smith, John "JJ"'
    assert rows(good)[0]["amount"] == Decimal("1500.00")
    assert rows(good)[1]["description"] == "two\nlines"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "latin-1"])
def test_encodings_are_detected(encoding):
    text = "date;account;amount;currency;description\n2024-03-01;A1;12,50;EUR;Café Müller\n"
    if encoding == "cp1252":
        text = text.replace("Café", "Café €")
    result = canonical(text.encode(encoding))
    assert rows(result)[0]["description"] == text.splitlines()[1].split(";")[-1]
    assert rows(result)[0]["amount"] == Decimal("12.50")


def test_utf16_with_byte_order_mark_is_read():
    data = "date\tamount\tcurrency\n2024-03-01\t5.00\tUSD\n".encode("utf-16")
    assert rows(canonical(data))[0]["amount"] == Decimal("5.00")


def test_thousands_separators_and_parentheses_negatives():
    data = (
        "Date,Amount,Currency\n"
        '2024-03-01,"1,234,567.89",USD\n'
        '2024-03-02,"(2,000.10)",USD\n'
        "2024-03-03,(15.00),USD\n"
        '2024-03-04,"$ 1,000",USD\n'
    ).encode()
    assert [r["amount"] for r in rows(canonical(data))] == [Decimal("1234567.89"), Decimal("-2000.10"), Decimal("-15.00"), Decimal("1000.00")]


def test_european_thousands_with_decimal_comma():
    data = 'Datum;Betrag;Währung\n01.03.2024;1.234.567,89;EUR\n02.03.2024;(2.000,10);EUR\n'.encode()
    assert [r["amount"] for r in rows(canonical(data))] == [Decimal("1234567.89"), Decimal("-2000.10")]


def test_a_decimal_comma_among_decimal_points_is_an_error_not_a_hundredfold_amount():
    data = 'Date,Amount,Currency\n2024-03-01,"$1,234.56",USD\n2024-03-02,(500.00),USD\n2024-03-03,"-€3,50",USD\n'.encode()
    result, errors = parse_source(data, "card.csv")
    assert result is None
    assert [(e.row, e.column) for e in errors] == [(4, "Amount")]
    assert "'-€3,50'" in errors[0].message and "groups of three digits" in errors[0].message


def test_indian_bank_statement_withdrawal_and_deposit_columns_with_lakh_grouping():
    data = ("Txn Date\tNarration\tChq./Ref.No.\tValue Dt\tWithdrawal Amt.\tDeposit Amt.\tClosing Balance\tAccount No\tCcy\n"
            "13/10/2026\tNEFT-ACME\tN286261\t14/10/2026\t1,00,000.00\t\t5,00,000.00\t50100\tINR\n"
            "14/10/2026\tUPI-RENT\t\t14/10/2026\t\t12,34,567.50\t17,34,567.50\t50100\tINR\n").encode()
    got = rows(canonical(data))
    assert [(r["date"], r["amount"], r["reference"], r["description"]) for r in got] == [
        (dt.date(2026, 10, 14), Decimal("-100000.00"), "N286261", "NEFT-ACME"),
        (dt.date(2026, 10, 14), Decimal("1234567.50"), "", "UPI-RENT")]
    assert [r["trade_date"] for r in got] == [dt.date(2026, 10, 13), dt.date(2026, 10, 14)]


def test_unsigned_amounts_take_their_sign_from_a_debit_credit_type_column():
    data = b"Date,Description,Amount,Transaction Type,Currency\n2026-10-01,Rent,500.00,Debit,USD\n2026-10-02,Salary,900.00,CREDIT,USD\n"
    result = canonical(data)
    assert [(r["amount"], r["type"]) for r in rows(result)] == [(Decimal("-500.00"), "Debit"), (Decimal("900.00"), "CREDIT")]
    assert ("amounts signed by column 'Transaction Type': every row there says debit or credit, and column 'Amount' "
            "holds no negative amounts") in result.warnings
    # Signed amounts are left as they are, and so are types that are not debit/credit markers.
    signed = b"Date,Amount,Type,Currency\n2026-10-01,-500.00,DEBIT,USD\n2026-10-02,900.00,DEBIT,USD\n"
    other_types = b"Date,Amount,Type,Currency\n2026-10-01,500.00,ACH_DEBIT,USD\n2026-10-02,900.00,CREDIT,USD\n"
    for text, expected in ((signed, ["-500.00", "900.00"]), (other_types, ["500.00", "900.00"])):
        result = canonical(text)
        assert [r["amount"] for r in rows(result)] == [Decimal(a) for a in expected]
        assert not any("signed by column" in w for w in result.warnings)


def test_trailing_total_and_footer_rows_are_left_out_with_a_warning():
    data = (
        "Date,Description,Amount,Currency\n"
        "2024-03-01,Rent,-1000.00,USD\n"
        "2024-03-02,Sales,2500.00,USD\n"
        ",Total,1500.00,\n"
        "\n"
        "Closing balance,,9500.00,\n"
        "Generated on 2024-03-05 by Online Banking,,,\n"
    ).encode()
    result = canonical(data)
    assert [r["description"] for r in rows(result)] == ["Rent", "Sales"]
    left_out = [w for w in result.warnings if "left out" in w]
    assert len(left_out) == 3
    assert [w.split()[1] for w in left_out] == ["4", "6", "7"]


def test_a_real_transaction_that_mentions_balance_is_kept():
    data = "Date,Description,Amount,Currency\n2024-03-01,Rent,-1000.00,USD\n2024-03-02,Balance transfer to savings,-50.00,USD\n".encode()
    assert [r["description"] for r in rows(canonical(data))] == ["Rent", "Balance transfer to savings"]


def test_title_rows_above_the_header_are_skipped_and_give_account_and_currency():
    data = (
        "Example Bank plc\n"
        "Account Number:,12-34-56 7890\n"
        "Currency:,GBP\n"
        "\n"
        "Posting Date,Description,Debit,Credit\n"
        "01/03/2024,Coffee,3.20,\n"
        "15/03/2024,Salary,,2000.00\n"
    ).encode()
    result = canonical(data)
    assert [(r["account"], r["currency"], r["amount"]) for r in rows(result)] == [
        ("12-34-56 7890", "GBP", Decimal("-3.20")),
        ("12-34-56 7890", "GBP", Decimal("2000.00")),
    ]
    assert result.header_row == 5
    assert rows(result)[1]["date"] == dt.date(2024, 3, 15)


def test_ambiguous_day_month_dates_are_read_day_first_with_a_warning():
    data = b"Date,Amount,Currency\n01/02/2024,1.00,USD\n03/04/2024,2.00,USD\n"
    result = canonical(data)
    assert [r["date"] for r in rows(result)] == [dt.date(2024, 2, 1), dt.date(2024, 4, 3)]
    assert any("month-first" in w for w in result.warnings)


def test_ambiguous_dates_take_the_reading_that_keeps_a_statement_together():
    # A US statement of early October: month-first keeps it within a week; day-first would
    # spread it from January to June.
    data = b"Date,Amount,Currency\n10/01/2026,1.00,USD\n10/02/2026,2.00,USD\n10/06/2026,3.00,USD\n"
    result = canonical(data)
    assert [r["date"] for r in rows(result)] == [dt.date(2026, 10, 1), dt.date(2026, 10, 2), dt.date(2026, 10, 6)]
    assert ("column 'Date': dates read month-first as MM/DD/YYYY (first to last 5 days); read day-first they would span "
            "151 days. Set parse.date_format in a profile if that is wrong") in result.warnings
    # The same days written day-first stay day-first.
    data = b"Date,Amount,Currency\n01/10/2026,1.00,USD\n02/10/2026,2.00,USD\n06/10/2026,3.00,USD\n"
    result = canonical(data)
    assert [r["date"] for r in rows(result)] == [dt.date(2026, 10, 1), dt.date(2026, 10, 2), dt.date(2026, 10, 6)]
    assert any("dates read day-first as DD/MM/YYYY (first to last 5 days)" in w for w in result.warnings)


def test_us_dates_are_recognised_when_a_day_is_over_twelve():
    data = b"Date,Amount,Currency\n01/02/2024,1.00,USD\n01/25/2024,2.00,USD\n"
    result = canonical(data)
    assert [r["date"] for r in rows(result)] == [dt.date(2024, 1, 2), dt.date(2024, 1, 25)]
    assert not any("month-first" in w for w in result.warnings)


def test_dates_with_times_and_month_names():
    data = b"Date,Amount,Currency\n2024-03-01T10:15:00Z,1.00,USD\n2024-03-02 23:59:59,2.00,USD\n"
    assert [r["date"] for r in rows(canonical(data))] == [dt.date(2024, 3, 1), dt.date(2024, 3, 2)]
    data = b"Date,Amount,Currency\n05-Mar-2024,1.00,USD\n17-Mar-2024,2.00,USD\n"
    assert [r["date"] for r in rows(canonical(data))] == [dt.date(2024, 3, 5), dt.date(2024, 3, 17)]


def test_other_source_columns_are_kept_as_text():
    data = b"Date,Amount,Currency,Branch,Teller\n2024-03-01,1.00,USD,Main St,007\n"
    result = canonical(data)
    assert rows(result)[0]["Branch"] == "Main St"
    assert rows(result)[0]["Teller"] == "007"


def test_ids_are_derived_stably_and_identical_rows_stay_distinct():
    data = b"Date,Amount,Currency,Description\n2024-03-01,5.00,USD,Fee\n2024-03-01,5.00,USD,Fee\n2024-03-02,7.00,USD,Other\n"
    first = [r["id"] for r in rows(canonical(data))]
    assert len(set(first)) == 3
    reordered = b"Date,Amount,Currency,Description\n2024-03-02,7.00,USD,Other\n2024-03-01,5.00,USD,Fee\n2024-03-01,5.00,USD,Fee\n"
    assert set(r["id"] for r in rows(canonical(reordered))) == set(first)


def test_source_ids_are_kept_and_must_be_unique():
    data = b"Transaction ID,Date,Amount,Currency\nT1,2024-03-01,5.00,USD\nT2,2024-03-01,6.00,USD\n"
    assert [r["id"] for r in rows(canonical(data))] == ["T1", "T2"]
    result, errors = parse_source(b"Transaction ID,Date,Amount,Currency\nT1,2024-03-01,5.00,USD\nT1,2024-03-02,6.00,USD\n", "ids.csv")
    assert result is None
    assert (errors[0].row, errors[0].column, errors[0].value) == (3, "Transaction ID", "T1")
    assert "row 2" in errors[0].message


def test_mixed_scales_share_the_largest_scale_without_rounding():
    data = b"Date,Amount,Currency\n2024-03-01,5,USD\n2024-03-01,0.125,USD\n"
    result = canonical(data)
    assert [str(r["amount"]) for r in rows(result)] == ["5.000", "0.125"]


def test_debit_credit_indicator_column_signs_unsigned_amounts():
    profile = parse_profile('[columns]\namount = "Amt"\nindicator = "DC"\n[defaults]\ncurrency = "USD"\n', "dc")
    data = b"Date,Amt,DC\n2024-03-01,10.00,D\n2024-03-02,4.00,C\n"
    assert [r["amount"] for r in rows(canonical(data, profile=profile))] == [Decimal("-10.00"), Decimal("4.00")]
