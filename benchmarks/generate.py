"""Books and a statement with known truth, carrying the noise real data has.

Each internal record is a book entry; the statement is derived from the books with the
kinds of noise the default rule set must handle: settlement lag of business days, references
rewritten or dropped by the bank, fees deducted from wires, batch deposits, split payments,
same-day twins told apart only by references, items missing on either side, and decoys
with equal amounts on other accounts or weeks apart. ``truth`` lists every true link.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

HEADER = ["id", "account", "date", "amount", "currency", "reference", "description"]
START = dt.date(2026, 7, 1)


def _business_days(count: int) -> list[dt.date]:
    days, day = [], START
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def _rewrite(rng: random.Random, reference: str) -> str:
    number = reference.split("-")[1]
    return rng.choice([reference, reference.lower(), reference.replace("-", ""), f"FT{number}X", f"REF {number.lstrip('0')}",
                       reference.replace("-", "/"), f"44{reference}"])


def generate(n: int, seed: int = 2026, accounts: int | None = None):
    """Return (internal rows, external rows, truth links) as lists; about n rows a side."""
    rng = random.Random(seed)
    accounts = accounts or max(20, n // 500)
    currencies = ["USD", "EUR", "GBP", "SAR"]
    account_names = [f"ACC{a:05d}" for a in range(accounts)]
    account_currency = {a: currencies[i % len(currencies)] for i, a in enumerate(account_names)}
    days = _business_days(70)
    day_index = {d: i for i, d in enumerate(days)}
    internal, external, truth = [], [], []
    used_refs = set()

    def new_ref() -> str:
        while True:
            ref = f"INV-{rng.randint(1_000_000, 99_999_999):08d}"
            if ref not in used_refs:
                used_refs.add(ref)
                return ref

    def lagged(day: dt.date, lag: int) -> dt.date:
        return days[min(day_index[day] + lag, len(days) - 1)]

    def amount_cents() -> int:
        value = int(10 ** rng.uniform(2, 6.5))
        return value if rng.random() < 0.5 else -value

    def add_internal(account, day, cents, ref) -> str:
        record_id = f"B{len(internal):08d}"
        internal.append([record_id, account, day.isoformat(), _money(cents), account_currency[account], ref, "book entry"])
        return record_id

    def add_external(account, day, cents, ref) -> str:
        record_id = f"S{rng.getrandbits(48):012x}{len(external):07d}"
        external.append([record_id, account, day.isoformat(), _money(cents), account_currency[account], ref, "statement line"])
        return record_id

    while len(internal) < n:
        account = rng.choice(account_names)
        day = rng.choice(days[:60])
        kind = rng.random()
        lag = rng.choice([0, 0, 0, 1, 1, 2, 3])
        if kind < 0.86:
            cents = amount_cents()
            ref = new_ref() if rng.random() < 0.85 else ""
            i = add_internal(account, day, cents, ref)
            bank_ref = "" if not ref or rng.random() < 0.15 else _rewrite(rng, ref)
            truth.append((i, add_external(account, lagged(day, lag), cents, bank_ref)))
        elif kind < 0.89:
            add_internal(account, day, amount_cents(), new_ref())  # missing at the bank
        elif kind < 0.90:
            cents = rng.randint(300_000, 5_000_000)
            ref = new_ref()
            i = add_internal(account, day, cents, ref)
            fee = rng.randint(500, 2_500)
            truth.append((i, add_external(account, lagged(day, lag), cents - fee, "")))
        elif kind < 0.92:
            size = rng.randint(2, 6)
            receipts = [rng.randint(2_000, 200_000) for _ in range(size)]
            ids = [add_internal(account, lagged(day, rng.randint(0, 1)), c, new_ref()) for c in receipts]
            deposit = add_external(account, lagged(day, 2), sum(receipts), f"DEP {rng.randint(1000, 9999)}")
            truth.extend((i, deposit) for i in ids)
        elif kind < 0.93:
            cents = -rng.randint(100_000, 5_000_000)
            ref = new_ref()
            i = add_internal(account, day, cents, ref)
            parts = rng.randint(2, 3)
            cuts = sorted(rng.sample(range(1, abs(cents)), parts - 1))
            pieces = [b - a for a, b in zip([0] + cuts, cuts + [abs(cents)])]
            for piece in pieces:
                truth.append((i, add_external(account, lagged(day, rng.randint(0, 1)), -piece, "")))
        elif kind < 0.94:
            cents = amount_cents()
            refs = [new_ref(), new_ref()]
            ids = [add_internal(account, day, cents, r) for r in refs]
            for i, r in zip(ids, refs):
                truth.append((i, add_external(account, lagged(day, 1), cents, _rewrite(rng, r))))
        else:
            cents = amount_cents()
            ref = new_ref()
            i = add_internal(account, day, cents, ref)
            truth.append((i, add_external(account, lagged(day, lag), cents, _rewrite(rng, ref))))
            other = rng.choice(account_names)
            if account_currency[other] == account_currency[account] and other != account:
                add_external(other, day, cents, "")  # decoy: same amount, another account
            else:
                add_external(account, lagged(day, 15) if day_index[day] + 15 < len(days) else days[0], cents, "")  # weeks apart
    for _ in range(n // 50):
        account = rng.choice(account_names)
        add_external(account, rng.choice(days[:60]), -rng.randint(100, 5_000), "")  # bank charges not in the books
    rng.shuffle(external)
    return internal, external, truth


def write_csv(rows: list[list[str]], path: Path) -> None:
    columns = list(zip(*rows)) if rows else [[] for _ in HEADER]
    table = pa.table({name: pa.array(list(values), pa.string()) for name, values in zip(HEADER, columns)})
    pacsv.write_csv(table, path, write_options=pacsv.WriteOptions(quoting_style="needed"))
