"""Account keys: one account however each side writes its identifier.

The books may write ``DE89 3704 0044 0532 0130 00`` where the bank writes
``DE89370400440532013000``, or ``4471-0092-18`` where the statement has ``4471009218``, or an
old account number with its currency after it (``4471009218-EUR``). Records are compared by
the account's key, a normal form of the text: upper case, without spaces, dashes, dots and
slashes, and, for a number that is not an IBAN, without a trailing currency code. A valid
IBAN (its mod-97 check holds) is kept whole, since some countries' IBANs end in letters.

Where no normal form can tell that two identifiers are one account (a renumbered account, a
ledger code against a bank number), an alias table maps one key to another; it is kept in the
store and edited on the Accounts page (:mod:`core.accounts`). The text as imported stays in
the data and is what the pages show: the most common spelling of a key is its label.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping

from core.domain.records import is_currency_code

__all__ = ["account_key", "account_label", "accounts_by_key", "aliases_digest", "is_iban", "resolve_account_key"]

_DROPPED = re.compile(r"[\s\-./]+")
_IBAN = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")
_CURRENCY_SUFFIX = re.compile(r"^(.*[0-9])([A-Z]{3})$")


def is_iban(key: str) -> bool:
    """Whether a text without spaces is a valid IBAN: country, check digits, and mod 97 = 1."""
    if not _IBAN.match(key):
        return False
    moved = key[4:] + key[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def account_key(text: str | None) -> str:
    """The key an account identifier is compared by; ``account_key(account_key(x)) == account_key(x)``.

    Args:
        text: the account as a file writes it; ``None`` or blank gives ``""``.

    Returns:
        Upper case without spaces, dashes, dots and slashes; a valid IBAN whole; otherwise a
        trailing ISO 4217 code after a digit is dropped (``4471009218EUR`` is ``4471009218``).
    """
    if not text:
        return ""
    key = _DROPPED.sub("", str(text).upper())
    if is_iban(key):
        return key
    suffix = _CURRENCY_SUFFIX.match(key)
    if suffix and is_currency_code(suffix.group(2)):
        return suffix.group(1)
    return key


def resolve_account_key(text: str | None, aliases: Mapping[str, str] | None = None) -> str:
    """The key of an identifier after the alias table: an alias key gives the key it stands for.

    Aliases are followed through (an alias of an alias gives the last key); a loop, which
    :func:`core.accounts.add_alias` refuses, stops where it would come round again.
    """
    key = account_key(text)
    if not aliases:
        return key
    seen = {key}
    while key in aliases and aliases[key] not in seen:
        key = aliases[key]
        seen.add(key)
    return key


def accounts_by_key(spellings: Mapping[str, int] | Iterable[str], aliases: Mapping[str, str] | None = None) -> dict[str, dict[str, int]]:
    """Group account texts by key: key -> {text as written: how many records write it so}.

    Args:
        spellings: texts with their counts, or texts (each counted once per occurrence).
    """
    counts = spellings if isinstance(spellings, Mapping) else Counter(spellings)
    grouped: dict[str, dict[str, int]] = {}
    for text, count in counts.items():
        if text is None:
            continue
        texts = grouped.setdefault(resolve_account_key(text, aliases), {})
        texts[text] = texts.get(text, 0) + int(count)
    return {key: grouped[key] for key in sorted(grouped)}


def account_label(spellings: Mapping[str, int] | Iterable[str]) -> str:
    """The text shown for an account: its most common spelling (the first in order on a tie)."""
    counts = spellings if isinstance(spellings, Mapping) else Counter(spellings)
    if not counts:
        return ""
    return min(counts, key=lambda text: (-counts[text], text))


def aliases_digest(aliases: Mapping[str, str]) -> str:
    """A short text that changes whenever the alias table does (for cache stamps)."""
    return ";".join(f"{alias}>{target}" for alias, target in sorted(aliases.items()))
