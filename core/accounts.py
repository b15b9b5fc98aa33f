"""The account alias table and the accounts the datasets hold.

An alias says that one account key is another (``core.domain.accounts``): an account
renumbered, or written under a ledger code in the books and a bank number at the bank. The
engine, carry-forward, the filters and the summaries compare records by the key after the
aliases. Adding or removing an alias changes what matches what, so it needs the approver role
and is written to the audit log; anyone signed in may read the table.
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

import duckdb
from sqlalchemy import select

from core.auth import Account, acting_user
from core.domain.accounts import account_key, account_label, accounts_by_key, resolve_account_key
from core.runs.folder import sql_path
from core.store import Store, record_audit, serialised_change
from core.store.models import AccountAlias, DatasetRecord

__all__ = ["ALIAS_ROLE", "AccountAliasError", "KnownAccount", "add_alias", "known_accounts", "list_aliases", "load_aliases",
           "remove_alias", "spellings_of_keys"]

ALIAS_ROLE = "approver"
_KEY_LENGTH = 128


class AccountAliasError(ValueError):
    """An alias that cannot be added or removed; the message says why."""


class KnownAccount(NamedTuple):
    """One account as the datasets write it: its key, label and every spelling with its count."""

    key: str
    label: str
    spellings: dict[str, int]


def load_aliases(store: Store) -> dict[str, str]:
    """The alias table: alias key -> target key."""
    with store.session() as session:
        return dict(session.execute(select(AccountAlias.alias_key, AccountAlias.target_key)).all())


def spellings_of_keys(texts, keys, aliases: dict[str, str] | None = None) -> list[str]:
    """Those of ``texts`` (account texts as written) whose key after the aliases is one of ``keys``."""
    wanted = set(keys)
    return sorted({t for t in texts if t is not None and resolve_account_key(t, aliases) in wanted})


def list_aliases(store: Store) -> list[AccountAlias]:
    """Every alias with who added it, when and why, in order of alias key."""
    with store.session() as session:
        return list(session.scalars(select(AccountAlias).order_by(AccountAlias.alias_key)))


def add_alias(store: Store, alias: str, target: str, *, actor: Account, note: str = "") -> AccountAlias:
    """Record that the account ``alias`` is the account ``target``.

    Both are reduced to their keys first, so any spelling may be typed.

    Raises:
        ``AccountAliasError`` for a blank or over-long key, an alias of itself, an alias already
        there, a loop (the target already stands for the alias), a target no dataset holds (a
        typing slip would otherwise join nothing), an alias that would join records in different
        currencies, or an actor without the approver role.
    """
    alias_key, target_key = account_key(alias), account_key(target)
    for name, key in (("alias", alias_key), ("target", target_key)):
        if not key:
            raise AccountAliasError(f"the {name} account is blank: type an account number")
        if len(key) > _KEY_LENGTH:
            raise AccountAliasError(f"the {name} account {key[:20]}... is longer than {_KEY_LENGTH} characters")
    if alias_key == target_key:
        raise AccountAliasError(f"{alias!r} and {target!r} are already one account ({alias_key}): no alias is needed")
    with serialised_change(store, AccountAliasError, same="the same alias", kind="aliases") as session:
        by = acting_user(session, actor, ALIAS_ROLE, AccountAliasError).username
        aliases = dict(session.execute(select(AccountAlias.alias_key, AccountAlias.target_key)).all())
        if alias_key in aliases:
            raise AccountAliasError(f"{alias_key} already stands for {aliases[alias_key]}: remove that alias first")
        if resolve_account_key(target_key, aliases) == alias_key:
            raise AccountAliasError(f"{target_key} already stands for {alias_key}: the alias would go round in a loop")
        _check_records_join(store, alias_key, target_key, aliases)
        row = AccountAlias(alias_key=alias_key, target_key=target_key, note=note.strip()[:255], created_by=by)
        session.add(row)
        record_audit(session, by, "add_account_alias", "account_alias", alias_key, None,
                     {"alias_key": alias_key, "target_key": target_key, "note": row.note})
    return row


def _check_records_join(store: Store, alias_key: str, target_key: str, aliases: dict[str, str]) -> None:
    """Refuse an alias whose target no dataset holds, or whose two accounts hold records in no common currency."""
    currencies = _currencies_by_key(store, aliases)
    final = resolve_account_key(target_key, aliases)
    if final not in currencies:
        raise AccountAliasError(f"no dataset holds account {target_key}; check the spelling")
    alias_final = resolve_account_key(alias_key, aliases)
    theirs, ours = currencies[final], currencies.get(alias_final, set())
    if ours and not ours & theirs:
        raise AccountAliasError(f"{alias_key} holds records in {', '.join(sorted(ours))} and {target_key} in "
                                f"{', '.join(sorted(theirs))}: an alias may not join accounts in different currencies")


def _currencies_by_key(store: Store, aliases: dict[str, str]) -> dict[str, set[str]]:
    """Each account key the datasets hold (after the aliases) with the currencies of its records."""
    with store.session() as session:
        datasets = list(session.scalars(select(DatasetRecord)))
    found: dict[str, set[str]] = {}
    if not datasets:
        return found
    paths = ", ".join(sql_path(store.data_dir / d.parquet_path) for d in datasets)
    rows = duckdb.connect().execute(f"SELECT DISTINCT account, currency FROM read_parquet([{paths}], union_by_name = true) "
                                    "WHERE account IS NOT NULL").fetchall()
    for text, currency in rows:
        found.setdefault(resolve_account_key(text, aliases), set()).update({currency} if currency else set())
    return found


def remove_alias(store: Store, alias: str, *, actor: Account) -> None:
    """Remove the alias of ``alias`` (any spelling of it): its records are their own account again.

    Raises:
        ``AccountAliasError`` when there is no such alias or the actor lacks the approver role.
    """
    alias_key = account_key(alias)
    with serialised_change(store, AccountAliasError, same="the same alias", kind="aliases") as session:
        by = acting_user(session, actor, ALIAS_ROLE, AccountAliasError).username
        row = session.get(AccountAlias, alias_key)
        if row is None:
            raise AccountAliasError(f"{alias_key or alias!r} is not an alias: nothing to remove")
        before = {"alias_key": row.alias_key, "target_key": row.target_key, "note": row.note}
        session.delete(row)
        record_audit(session, by, "remove_account_alias", "account_alias", alias_key, before, None)


def known_accounts(store: Store, datasets: list[DatasetRecord] | None = None, aliases: dict[str, str] | None = None) -> list[KnownAccount]:
    """The accounts the datasets hold, by key after the aliases, with each spelling's record count.

    Args:
        datasets: these datasets; every dataset in the store when ``None``.
        aliases: the alias table; read from the store when ``None``.
    """
    if datasets is None:
        with store.session() as session:
            datasets = list(session.scalars(select(DatasetRecord)))
    aliases = load_aliases(store) if aliases is None else aliases
    counts: Counter[str] = Counter()
    if datasets:
        paths = ", ".join(sql_path(store.data_dir / d.parquet_path) for d in datasets)
        con = duckdb.connect()
        for text, count in con.execute(f"SELECT account, count(*) FROM read_parquet([{paths}], union_by_name = true) "
                                       "WHERE account IS NOT NULL GROUP BY account").fetchall():
            counts[text] += count
    return [KnownAccount(key, account_label(spellings), spellings) for key, spellings in accounts_by_key(counts, aliases).items()]
