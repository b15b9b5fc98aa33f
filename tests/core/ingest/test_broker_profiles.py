"""Broker profiles: Clear Street's published trade file, and the editable defaults for the others."""

import datetime as dt
from decimal import Decimal

import pytest

from core.ingest.datasets import parse_source
from core.ingest.profiles import ProfileError, load_profile, parse_profile

CLEAR_STREET_TRADES = (
    "timestamp,type,client_trade_id,date,instrument.identifier_type,instrument.identifier,instrument.country,"
    "instrument.currency,account_id,capacity,quantity,price,side.direction,fees.commission,settlement.currency\n"
    "1582706171,bilateral_trade,5110654-B,20200221,ticker,UVXY,USA,USD,100018,agency,100,17.180000,buy,0.000000,USD\n"
    "1582706336,allocation_trade,5110665-S,20200221,ticker,UVXY,USA,USD,100018,agency,200,17.145000,sell,0.640000,USD\n"
    "1582706337,exchange_trade,5110666-B,20200224,ticker,OIH,USA,USD,100018,agency,3,9.605,buy,1.00,USD\n"
).encode()


def test_clear_street_trade_file_gives_exact_cash_amounts():
    result, errors = parse_source(CLEAR_STREET_TRADES, "trades.csv", load_profile("clear_street_trades"))
    assert errors == []
    rows = result.table.to_pylist()
    assert [(r["id"], r["account"], r["date"], r["amount"], r["currency"], r["description"]) for r in rows] == [
        ("5110654-B", "100018", dt.date(2020, 2, 21), Decimal("-1718.00"), "USD", "UVXY"),
        ("5110665-S", "100018", dt.date(2020, 2, 21), Decimal("3428.36"), "USD", "UVXY"),
        ("5110666-B", "100018", dt.date(2020, 2, 24), Decimal("-29.82"), "USD", "OIH"),
    ]
    assert rows[0]["quantity"] == "100" and rows[0]["price"] == "17.180000", "source columns are kept"


def test_a_trade_side_that_is_neither_buy_nor_sell_is_named():
    bad = CLEAR_STREET_TRADES.replace(b",buy,0.000000", b",hold,0.000000")
    result, errors = parse_source(bad, "trades.csv", load_profile("clear_street_trades"))
    assert result is None and (errors[0].row, errors[0].column) == (2, "side.direction")


def test_a_computed_amount_needs_all_its_columns():
    with pytest.raises(ProfileError, match="quantity, price and direction together"):
        parse_profile('[amount]\nquantity = "qty"\n', "p")
    with pytest.raises(ProfileError, match="replaces the amount columns"):
        parse_profile('[columns]\namount = "Amount"\n[amount]\nquantity = "q"\nprice = "p"\ndirection = "d"\n', "p")


@pytest.mark.parametrize(
    ("profile", "text", "expected"),
    [
        ("clear_street_journals", "journal_id,account_id,settle_date,entry_date,net_amount,currency,reference,description,entry_type\n"
         "J1,100018,2026-10-02,2026-10-01,-25000.00,USD,WIRE-9,Wire out,JNL\n", [("J1", Decimal("-25000.00"), dt.date(2026, 10, 2))]),
        ("standard_chartered_custody_cash", "Account No,Value Date,Booking Date,Transaction Ref,Narrative,Debit Amount,Credit Amount,Ccy\n"
         "SC-001,02/10/2026,01/10/2026,T1,Coupon,,\"1,250.00\",USD\nSC-001,03/10/2026,03/10/2026,T2,Fee,15.00,,USD\n",
         [(None, Decimal("1250.00"), dt.date(2026, 10, 2)), (None, Decimal("-15.00"), dt.date(2026, 10, 3))]),
        ("gtn_cash_activity", "Account,Settlement Date,Trade Date,Transaction Type,Reference,Description,Net Amount,Currency\n"
         "GTN-7,2026-10-05,2026-10-01,SELL,R1,Sale of 2222.SR,10500.75,SAR\n", [(None, Decimal("10500.75"), dt.date(2026, 10, 5))]),
        ("riyad_capital_cash_activity", "Portfolio,RC-1\nCurrency,SAR\nTxn Date,Transaction Type,Details,Reference No,Amount,Dr/Cr\n"
         "05/10/2026,Transfer Out,Payment,P1,\"2,000.00\",DR\n", [(None, Decimal("-2000.00"), dt.date(2026, 10, 5))]),
    ],
)
def test_broker_profiles_read_their_layouts(profile, text, expected):
    result, errors = parse_source(text.encode(), f"{profile}.csv", load_profile(profile))
    assert errors == [], errors
    rows = result.table.to_pylist()
    assert [(r["id"] if e[0] else None, r["amount"], r["date"]) for r, e in zip(rows, expected)] == expected
