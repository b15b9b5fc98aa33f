"""``python -m core brs`` as scripts call it: the contract's files, the bank's closing balance, bad input."""

import csv
import json
from decimal import Decimal

from tests.core.test_cli import run_cli
from tests.statement_samples import MT940

IBAN = "DE89370400440532013000"
# Against the sample MT940 (statement 00012 to 3 October closing 1,100.25; 00013 to 5 October
# closing 1,099.75 after two 0.25 charges): two records the bank shows, a cheque it does not,
# and a receipt after the date.
BOOKS = ("id,account,date,amount,currency,reference\n"
         f"b1,{IBAN},2026-10-02,-50.00,EUR,INV-1\n"
         f"b2,{IBAN},2026-10-03,150.25,EUR,PAY-77\n"
         f"b3,{IBAN},2026-10-05,-80.00,EUR,CHQ-12\n"
         f"b4,{IBAN},2026-10-09,30.00,EUR,\n")


def brs_files(tmp_path, *options, books=BOOKS, statement=MT940, name="statement.sta"):
    (tmp_path / "books.csv").write_text(books)
    (tmp_path / name).write_bytes(statement)
    result = run_cli("brs", "--internal", str(tmp_path / "books.csv"), "--external", str(tmp_path / name), *options,
                     "--out", str(tmp_path / "out"), data_dir=tmp_path / "data")
    return result


def lines(tmp_path) -> dict[tuple[str, str], str]:
    return {(r["account"], r["line"]): r["amount"] for r in csv.DictReader((tmp_path / "out" / "brs.csv").open(encoding="utf-8"))}


def test_brs_takes_the_mt940_closing_balance_and_writes_the_contract_files(tmp_path):
    """As of 5 October, book opening 1,000.00.

        bank closing  = 1099.75 (statement 00013)           adjusted bank = 1099.75 - 80.00 = 1019.75
        book balance  = 1000 - 50 + 150.25 - 80 = 1020.25    adjusted book = 1020.25 - 0.25 - 0.25 = 1019.75
    """
    result = brs_files(tmp_path, "--as-of", "2026-10-05", "--book-opening", f"{IBAN}=1000.00")
    assert result.returncode == 0, result.stderr
    assert "unexplained difference: none" in result.stdout
    out = tmp_path / "out"
    assert (out / "brs.csv").read_text(encoding="utf-8").splitlines()[0] == "account,line,amount"
    assert lines(tmp_path) == {
        (IBAN, "bank_closing_balance"): "1099.75", (IBAN, "outstanding_payments"): "-80.00",
        (IBAN, "deposits_in_transit"): "0.00", (IBAN, "adjusted_bank_balance"): "1019.75",
        (IBAN, "book_balance"): "1020.25", (IBAN, "bank_credits_not_in_books"): "0.00",
        (IBAN, "bank_debits_not_in_books"): "-0.50", (IBAN, "differences_in_matched_items"): "0.00",
        (IBAN, "adjusted_book_balance"): "1019.75", (IBAN, "unexplained_difference"): "0.00"}
    items = list(csv.DictReader((out / "brs_items.csv").open(encoding="utf-8")))
    assert list(items[0]) == ["account", "line", "side", "record_id", "date", "amount", "reference"]
    assert [(i["line"], i["record_id"], i["amount"]) for i in items if i["line"] == "outstanding_payments"] == [
        ("outstanding_payments", "b3", "-80.00")]
    assert sorted(i["amount"] for i in items if i["line"] == "bank_debits_not_in_books") == ["-0.25", "-0.25"]
    assert "b4" not in {i["record_id"] for i in items}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["accounts"][IBAN]["bank_closing"]["source"] == "statement 00013/001 closing balance on 2026-10-05"
    assert summary["accounts"][IBAN]["matched_groups"] == {"confirmed": 2, "proposed": 0}
    assert summary["records_after_as_of"] == {"internal": 1, "external": 0}
    assert isinstance(summary["run"], int)


def test_an_earlier_date_takes_the_earlier_statement(tmp_path):
    """As of 4 October: statement 00012 closes at 1,100.25 on 3 October; the charges (5 October) and b3 are out."""
    result = brs_files(tmp_path, "--as-of", "2026-10-04", "--book-opening", f"{IBAN}=1000.00")
    assert result.returncode == 0, result.stderr
    found = lines(tmp_path)
    assert found[(IBAN, "bank_closing_balance")] == "1100.25" and found[(IBAN, "book_balance")] == "1100.25"
    assert found[(IBAN, "bank_debits_not_in_books")] == "0.00" and found[(IBAN, "unexplained_difference")] == "0.00"


def test_bank_closing_given_replaces_the_statements(tmp_path):
    result = brs_files(tmp_path, "--as-of", "2026-10-05", "--book-opening", f"{IBAN}=1000.00", "--bank-closing", f"{IBAN}=1099.00")
    assert result.returncode == 0, result.stderr
    assert lines(tmp_path)[(IBAN, "unexplained_difference")] == "-0.75"
    assert f"{IBAN} -0.75" in result.stdout
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["accounts"][IBAN]["bank_closing"]["source"] == "given"


BANK_CSV = ("id,account,date,amount,currency,reference\n"
            "s1,A,2026-10-02,100.00,USD,INV-1\n"
            "s2,B,2026-10-02,-20.00,USD,\n")
BOOKS_CSV = ("id,account,date,amount,currency,reference\n"
             "b1,A,2026-10-01,100.00,USD,INV-1\n"
             "b2,B,2026-10-03,-20.00,USD,\n")


def test_a_canonical_csv_without_a_bank_closing_is_refused_and_the_folder_left_as_it_was(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "brs.csv").write_text("earlier\n")
    result = brs_files(tmp_path, "--as-of", "2026-10-31", "--bank-closing", "A=100.00", books=BOOKS_CSV,
                       statement=BANK_CSV.encode(), name="bank.csv")
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: bank.csv, column 'closing balance': account 'B': the statement gives no closing balance "
                                     "on or before 2026-10-31; give the bank's closing balance (--bank-closing B=AMOUNT)")
    assert [p.name for p in out.iterdir()] == ["brs.csv"] and (out / "brs.csv").read_text() == "earlier\n"
    assert not list((tmp_path / "data").glob("runs/*")), "a refused statement saves no run"

    result = brs_files(tmp_path, "--as-of", "2026-10-31", "--bank-closing", "A=100.00", "--bank-closing", "B=-20", books=BOOKS_CSV,
                       statement=BANK_CSV.encode(), name="bank.csv")
    assert result.returncode == 0, result.stderr
    found = lines(tmp_path)
    assert [a for a, line in found if line == "unexplained_difference"] == ["A", "B"]
    assert found[("B", "bank_closing_balance")] == "-20.00" and found[("B", "unexplained_difference")] == "0.00"
    assert sum(Decimal(v) for (_, line), v in found.items() if line == "unexplained_difference") == 0
    assert len(list((tmp_path / "data").glob("runs/*"))) == 1


def test_bad_options_exit_2_with_one_line(tmp_path):
    for options, expected in (
            (("--as-of", "31/10/2026"), "--as-of '31/10/2026': write the date as YYYY-MM-DD"),
            (("--as-of", "2026-10-31", "--book-opening", "A"), "--book-opening 'A': write it as ACCOUNT=AMOUNT"),
            (("--as-of", "2026-10-31", "--bank-closing", "A=1,000.00"), "--bank-closing 'A=1,000.00': '1,000.00' is not a plain decimal"),
            (("--as-of", "2026-10-31", "--bank-closing", "A=1", "--bank-closing", "A=2"), "account 'A' is given twice"),
            (("--as-of", "2026-10-31", "--bank-closing", "A=1", "--bank-closing", "B=1", "--book-opening", "Z=5"),
             "books.csv, column 'book opening': book opening given for account 'Z', which neither file holds")):
        result = brs_files(tmp_path, *options, books=BOOKS_CSV, statement=BANK_CSV.encode(), name="bank.csv")
        assert result.returncode == 2, options
        assert expected in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr


def test_spellings_of_one_account_are_one_statement(tmp_path):
    """Books writing the IBAN in groups of four, and a book opening given that way, make one statement with the MT940's account."""
    spaced = "DE89 3704 0044 0532 0130 00"
    result = brs_files(tmp_path, "--as-of", "2026-10-05", "--book-opening", f"{spaced}=1000.00",
                       books=BOOKS.replace(f"b1,{IBAN}", f"b1,{spaced}").replace(f"b3,{IBAN}", f"b3,{spaced}"))
    assert result.returncode == 0, result.stderr
    found = lines(tmp_path)
    assert {account for account, _ in found} == {IBAN}
    assert found[(IBAN, "book_balance")] == "1020.25" and found[(IBAN, "unexplained_difference")] == "0.00"
    items = list(csv.DictReader((tmp_path / "out" / "brs_items.csv").open(encoding="utf-8")))
    assert {i["account"] for i in items} == {IBAN}
