"""Statements imported one file at a time continue each other, whichever way the format dates
the opening balance."""

from core.ingest.datasets import import_bytes

ACCOUNT = "NL91ABNA0417164300"


def mt940_day(number: int, opening_day: str, opening: str, amount: str, closing_day: str, closing: str) -> bytes:
    """One daily MT940 statement; the bank dates ``:60F:`` with the previous statement's closing day."""
    sign = "DR" if amount.startswith("-") else "CR"
    return (f":20:DAY{number}\n:25:{ACCOUNT}\n:28C:{number:05d}/001\n:60F:C{opening_day}EUR{opening}\n"
            f":61:{closing_day}{closing_day[2:]}{sign}{amount.lstrip('-')}NTRFREF-{number}//B{number}\n:86:Day {number}\n"
            f":62F:C{closing_day}EUR{closing}\n-\n").encode()


def test_a_chain_of_daily_mt940_files_dated_from_the_previous_closing_imports(store):
    days = [mt940_day(1, "261001", "100,00", "10,00", "261002", "110,00"),
            mt940_day(2, "261002", "110,00", "-5,00", "261005", "105,00"),
            mt940_day(3, "261005", "105,00", "1,50", "261006", "106,50"),
            mt940_day(4, "261006", "106,50", "2,00", "261007", "108,50")]
    for number, data in enumerate(days, start=1):
        outcome, errors = import_bytes(store, data, f"day{number}.sta")
        assert errors == [], [str(e) for e in errors]


def test_a_missing_day_in_the_chain_is_still_refused(store):
    assert import_bytes(store, mt940_day(1, "261001", "100,00", "10,00", "261002", "110,00"), "day1.sta")[1] == []
    assert import_bytes(store, mt940_day(2, "261002", "110,00", "-5,00", "261005", "105,00"), "day2.sta")[1] == []
    # Day 3 (105.00 -> 106.50) never came: day 4 opens at 106.50.
    outcome, errors = import_bytes(store, mt940_day(4, "261006", "106,50", "2,00", "261007", "108,50"), "day4.sta")
    assert outcome is None
    assert len(errors) == 1 and "opening balance 106.50 does not continue the closing balance 105.00" in errors[0].message
