"""Mapping profiles: TOML in a folder, listed and chosen by name, every key validated."""

import datetime as dt
from decimal import Decimal

import pytest

from core.ingest.datasets import parse_source
from core.ingest.profiles import ProfileError, list_profiles, load_profile, parse_profile, save_profile_text

BANK = (
    "Some Bank export\n"
    "Buchung;Wert;Text;Soll;Haben;Art\n"
    "01.02.2024;02.02.2024;Miete;1.000,00;;UEB\n"
    "03.02.2024;03.02.2024;Saldo Vortrag;;;SALDO\n"
    "05.02.2024;06.02.2024;Zahlung Kunde;;2.500,50;UEB\n"
).encode("cp1252")

PROFILE = """
description = "Some Bank"
[read]
encoding = "cp1252"
delimiter = ";"
decimal = ","
skip_rows = 1
[columns]
date = "Wert"
entry_date = "Buchung"
description = "Text"
debit = "Soll"
credit = "Haben"
type = "Art"
[parse]
date_format = "%d.%m.%Y"
entry_date_format = "%d.%m.%Y"
[defaults]
account = "DE-ACC-1"
currency = "EUR"
[[skip]]
column = "Art"
equals = ["saldo"]
"""


def test_profile_renames_merges_debit_credit_sets_defaults_and_skips_rows():
    result, errors = parse_source(BANK, "bank.csv", parse_profile(PROFILE, "somebank"))
    assert errors == []
    rows = result.table.to_pylist()
    assert [(r["date"], r["entry_date"], r["amount"], r["account"], r["currency"], r["type"]) for r in rows] == [
        (dt.date(2024, 2, 2), dt.date(2024, 2, 1), Decimal("-1000.00"), "DE-ACC-1", "EUR", "UEB"),
        (dt.date(2024, 2, 6), dt.date(2024, 2, 5), Decimal("2500.50"), "DE-ACC-1", "EUR", "UEB"),
    ]
    assert any("skip rules" in w for w in result.warnings)


def test_sign_flip_turns_the_sources_convention_around():
    profile = parse_profile('[columns]\namount = "Amt"\n[amount]\nflip_sign = true\n[defaults]\ncurrency = "USD"\n', "flip")
    result, errors = parse_source(b"Date,Amt\n2024-01-02,100.00\n2024-01-03,-5.00\n", "ledger.csv", profile)
    assert errors == []
    assert [r["amount"] for r in result.table.to_pylist()] == [Decimal("-100.00"), Decimal("5.00")]


def test_explicit_header_row_and_skip_footer():
    profile = parse_profile("[read]\nheader_row = 3\nskip_footer = 1\n", "h")
    data = b"x\ny\nDate,Amount,Currency\n2024-01-02,1.00,USD\n9999,not,footer\n"
    result, errors = parse_source(data, "h.csv", profile)
    assert errors == [] and result.table.num_rows == 1


def test_profiles_are_listed_and_chosen_by_name(tmp_path):
    save_profile_text("somebank", PROFILE, tmp_path)
    (tmp_path / "broken.toml").write_text("[columns\n")
    assert [p.name for p in list_profiles(tmp_path)] == ["somebank"]
    assert load_profile("somebank", tmp_path).columns["date"] == "Wert"
    assert load_profile(str(tmp_path / "somebank.toml")).defaults.currency == "EUR"
    with pytest.raises(ProfileError, match="no profile named 'nosuch'.*somebank"):
        load_profile("nosuch", tmp_path)


def test_shipped_profiles_all_load():
    names = [p.name for p in list_profiles()]
    assert {"first_national_usd", "hanse_bank_eur", "clear_street_cash_activity", "riyad_capital_cash"} <= set(names)
    for name in names:
        load_profile(name)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[colums]\ndate = 'D'\n", "colums"),
        ("[columns]\ndat = 'D'\n", "dat"),
        ("[columns]\namount = 'A'\ndebit = 'D'\n", "not both"),
        ("[defaults]\ncurrency = 'euro'\n", "defaults.currency"),
        ("[read]\ndecimal = ';'\n", "read.decimal"),
        ("[[skip]]\ncolumn = 'x'\nmatches = '('\n", "regular expression"),
        ("not toml at all [", "not valid TOML"),
    ],
)
def test_a_wrong_profile_is_refused_with_the_key_named(text, fragment):
    with pytest.raises(ProfileError, match="somefile"):
        parse_profile(text, "p", "somefile")
    with pytest.raises(ProfileError) as caught:
        parse_profile(text, "p", "somefile")
    assert fragment in str(caught.value)


def test_a_misspelt_setting_is_named_with_the_settings_of_its_section():
    with pytest.raises(ProfileError) as caught:
        parse_profile("[parse]\ndate_fmt = '%d'\n", "p", "somefile")
    assert str(caught.value) == ("somefile: parse.date_fmt: not a setting; the settings are date_format, trade_date_format, "
                                 "entry_date_format")


def test_saving_an_invalid_profile_writes_nothing(tmp_path):
    with pytest.raises(ProfileError):
        save_profile_text("bad", "[columns]\nnope = 'x'\n", tmp_path)
    with pytest.raises(ProfileError):
        save_profile_text("../escape", "", tmp_path)
    assert list(tmp_path.iterdir()) == []
