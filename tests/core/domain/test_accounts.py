"""Account keys: the spellings of one account compare as one, the text as written is kept for display."""

import pytest

from core.domain.accounts import account_key, account_label, accounts_by_key, is_iban, resolve_account_key


@pytest.mark.parametrize(("books", "bank"), [
    ("DE89 3704 0044 0532 0130 00", "DE89370400440532013000"),
    ("de89-3704-0044-0532-0130-00", "DE89 3704 0044 0532 0130 00"),
    ("4471-0092-18", "4471009218"),
    ("4471.0092.18", "4471/0092/18"),
    ("4471009218-EUR", "4471009218"),
    ("4471009218 USD", "4471-0092-18"),
    ("4471009218EUR", "4471009218"),
])
def test_spellings_of_one_account_have_one_key(books, bank):
    assert account_key(books) == account_key(bank)


@pytest.mark.parametrize(("one", "other"), [
    ("4471009218", "4471009219"),
    ("DE89370400440532013000", "DE89370400440532013001"),
    ("4471009218", "44710092"),
])
def test_different_accounts_keep_different_keys(one, other):
    assert account_key(one) != account_key(other)


def test_a_valid_iban_is_kept_whole_even_when_it_ends_in_letters():
    mauritius = "MU17 BOMM 0101 1010 3030 0200 000M UR"
    assert is_iban(account_key(mauritius))
    assert account_key(mauritius) == "MU17BOMM0101101030300200000MUR"


def test_a_currency_suffix_after_an_iban_is_dropped():
    assert account_key("DE89 3704 0044 0532 0130 00 EUR") == "DE89370400440532013000"


def test_an_iban_with_a_wrong_check_is_not_treated_as_one():
    assert not is_iban("DE88370400440532013000")
    assert is_iban("DE89370400440532013000")
    assert is_iban("GB82WEST12345698765432")


def test_letters_that_are_not_a_currency_or_not_after_a_digit_stay():
    assert account_key("4471009218ABC") == "4471009218ABC"
    assert account_key("CASH-EUR") == "CASHEUR"
    assert account_key("CASH") == "CASH"


@pytest.mark.parametrize("text", ["DE89 3704 0044 0532 0130 00", "4471-0092-18 eur", "123EURUSD", "MU17 BOMM 0101 1010 3030 0200 000M UR",
                                  "acct.01/02", "", "  ", "DE89370400440532013000EUR"])
def test_the_key_of_a_key_is_itself(text):
    assert account_key(account_key(text)) == account_key(text)


def test_blank_and_missing_accounts_have_an_empty_key():
    assert account_key(None) == ""
    assert account_key(" \t") == ""


def test_an_alias_gives_the_key_it_stands_for_and_follows_a_chain():
    aliases = {"OLD1": "4471009218", "OLDER": "OLD1"}
    assert resolve_account_key("old-1", aliases) == "4471009218"
    assert resolve_account_key("OLDER", aliases) == "4471009218"
    assert resolve_account_key("4471-0092-18", aliases) == "4471009218"


def test_an_alias_loop_stops_instead_of_spinning():
    assert resolve_account_key("A1", {"A1": "B1", "B1": "A1"}) in {"A1", "B1"}


def test_spellings_are_grouped_by_key_and_the_most_common_is_the_label():
    grouped = accounts_by_key({"DE89 3704 0044 0532 0130 00": 5, "DE89370400440532013000": 2, "4471009218": 1, "OLD-7": 3},
                              {"OLD7": "4471009218"})
    assert grouped == {"4471009218": {"4471009218": 1, "OLD-7": 3},
                       "DE89370400440532013000": {"DE89 3704 0044 0532 0130 00": 5, "DE89370400440532013000": 2}}
    assert account_label(grouped["DE89370400440532013000"]) == "DE89 3704 0044 0532 0130 00"
    assert account_label(grouped["4471009218"]) == "OLD-7"
    assert account_label(["b", "a"]) == "a"
