"""``python -m core match`` on any valid pair of files: it answers, and accounts for every record.

Hypothesis writes canonical CSV pairs across the whole range the import accepts: amounts of
0 to 6 decimals up to 12 digits before the point, dates from year 1 to 9999, references with
any printable text (commas, quotes, line breaks, other scripts). Statement lines are drawn
from the books with the noise real statements carry, plus lines of their own.
"""

import csv
import datetime as dt
import json
import os
import tempfile
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.cli import main

FIRST, LAST = dt.date(1, 1, 1), dt.date(9999, 12, 31)
COLUMNS = ["id", "account", "date", "amount", "currency", "reference", "description"]

amounts = st.integers(min_value=0, max_value=6).flatmap(
    lambda places: st.decimals(min_value=Decimal("-999999999999"), max_value=Decimal("999999999999"), places=places,
                               allow_nan=False, allow_infinity=False))
texts = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff") | st.sampled_from(",\"'\n;"),
                max_size=12).map(lambda t: t.strip())
book = st.fixed_dictionaries({
    "account": st.sampled_from(["A", "B-1", "ÄC"]),
    "offset": st.integers(min_value=0, max_value=12),
    "amount": amounts,
    "currency": st.sampled_from(["USD", "EUR", "usd"]),
    "reference": texts,
    "description": texts,
})
# What a statement line does to the book entry it comes from.
noise = st.fixed_dictionaries({
    "lag": st.integers(min_value=-2, max_value=6),
    "fee": st.sampled_from([Decimal(0), Decimal(0), Decimal("0.01"), Decimal("15.00")]),
    "reference": st.sampled_from(["same", "upper", "prefixed", "dropped"]),
    "split": st.booleans(),
    "six_places": st.booleans(),  # the same amount written to six decimals
})


def _day(start: dt.date, days: int) -> str:
    return dt.date.fromordinal(min(max(start.toordinal() + days, FIRST.toordinal()), LAST.toordinal())).isoformat()


def _statement(books: list[dict], noises: list[dict], extra: list[dict], start: dt.date) -> list[dict]:
    lines = []
    for row, change in zip(books, noises):
        amount = row["amount"] - change["fee"] if row["amount"] > change["fee"] else row["amount"]
        if change["six_places"]:
            amount = amount.quantize(Decimal("0.000001"))
        reference = {"same": row["reference"], "upper": row["reference"].upper(), "prefixed": ("FT " + row["reference"]).strip(),
                     "dropped": ""}[change["reference"]]
        day = _day(dt.date.fromisoformat(row["date"]), change["lag"])
        parts = [amount]
        exponent = amount.as_tuple().exponent
        if change["split"] and exponent < 0 and abs(amount) > 1:
            first = (amount / 3).quantize(Decimal(1).scaleb(exponent))
            parts = [first, amount - first]
        for part in parts:
            lines.append({**row, "amount": part, "reference": reference, "date": day})
    for row in extra:
        lines.append({**row, "date": _day(start, row["offset"])})
    return lines


def _write(path: Path, prefix: str, rows: list[dict]) -> dict[str, dict]:
    by_id = {}
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for n, row in enumerate(rows):
            record_id = f"{prefix}{n},\"x\"" if n % 3 == 0 else f"{prefix}{n}"
            writer.writerow([record_id, row["account"], row["date"], format(row["amount"], "f"), row["currency"], row["reference"],
                             row["description"]])
            by_id[record_id] = row
    return by_id


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli-properties")


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(start=st.dates(min_value=FIRST, max_value=LAST), books=st.lists(book, min_size=1, max_size=10), draw=st.data())
def test_match_accounts_for_every_record_of_any_valid_pair(data, start, books, draw):
    for row in books:
        row["date"] = _day(start, row["offset"])
    noises = draw.draw(st.lists(noise, min_size=len(books), max_size=len(books)))
    kept = draw.draw(st.integers(min_value=0, max_value=len(books)))
    extra = draw.draw(st.lists(book, min_size=0 if kept else 1, max_size=4))  # a file holds at least one row
    folder = Path(tempfile.mkdtemp(dir=data))
    internal = _write(folder / "books.csv", "B", books)
    external = _write(folder / "bank.csv", "S", _statement(books[:kept], noises, extra, start))
    with mock.patch.dict(os.environ, {"RECON_DATA_DIR": str(data / "store")}):
        code = main(["match", "--internal", str(folder / "books.csv"), "--external", str(folder / "bank.csv"),
                     "--out", str(folder / "out")])
    assert code == 0
    with (folder / "out" / "matches.csv").open(encoding="utf-8", newline="") as handle:
        matches = list(csv.DictReader(handle))
    with (folder / "out" / "breaks.csv").open(encoding="utf-8", newline="") as handle:
        breaks = list(csv.DictReader(handle))
    records = {"internal": internal, "external": external}
    seen = Counter((row["side"], row["record_id"]) for row in matches + breaks)
    assert seen == Counter((side, record_id) for side, rows in records.items() for record_id in rows)
    groups = defaultdict(lambda: {"internal": Decimal(0), "external": Decimal(0), "diff": set()})
    for row in matches:
        group = groups[row["match_id"]]
        group[row["side"]] += records[row["side"]][row["record_id"]]["amount"]
        group["diff"].add(Decimal(row["amount_diff"]))
    for group in groups.values():
        assert group["diff"] == {group["external"] - group["internal"]}
    for row in breaks:
        assert Decimal(row["amount"]) == records[row["side"]][row["record_id"]]["amount"]
    summary = json.loads((folder / "out" / "summary.json").read_text())
    for side, rows in records.items():
        assert Decimal(summary["sides"][side]["amount"]) == sum((r["amount"] for r in rows.values()), Decimal(0))
