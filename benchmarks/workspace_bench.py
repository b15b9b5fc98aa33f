"""Benchmark: the matching workspace (Match page) with 100,000 open items per side.

    python benchmarks/workspace_bench.py --items 100000

Builds a store whose run leaves about N open items on each side (books and a statement drawn
apart over the same accounts and months), then times what the Match page calls:

- first render: the run's open items read into DuckDB, both sides' account choices, and each
  side's first page of 50 with the totals of everything that passes its filters;
- a filter change: one side narrowed (account, amount range, text) and re-sorted, the other
  side's page again, as a rerun of the page asks; then a picked record's candidates and the
  net of a selection.

The baseline, in the same process, is the straightforward way: every break of the run loaded
into pandas (the Breaks grid's loader), filtered, sorted and sliced there, and totalled per
currency in Python. Each figure is the median of three runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed(work, repeat: int = 3):
    """The median wall time of ``work()`` over ``repeat`` runs, and its last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="recon-workspace-bench-") as folder:
        os.environ["RECON_DATA_DIR"] = str(Path(folder) / "data")
        os.environ.pop("DATABASE_URL", None)
        from benchmarks.generate import generate, write_csv
        from core.ingest.datasets import import_file
        from core.matching.rules import load_rules
        from core.runs.reconcile import reconcile_datasets
        from core.store import open_store
        from core.views import breaks_stamp, load_breaks, recent_runs
        from core.views.workspace import (PAGE_SIZE, SideFilters, candidates_for, load_open_items, selection_net, side_accounts,
                                          side_page)

        store = open_store()
        # Two unrelated draws over the same accounts and months; about a fifth still pairs (the
        # draws share fees, charges and round amounts), so each draws a quarter more than asked.
        books, _, _ = generate(args.items * 5 // 4, seed=5)
        statement, _, _ = generate(args.items * 5 // 4, seed=6)
        write_csv(books, Path(folder) / "books.csv")
        write_csv(statement, Path(folder) / "statement.csv")
        internal, _ = import_file(store, Path(folder) / "books.csv")
        external, _ = import_file(store, Path(folder) / "statement.csv")
        started = time.perf_counter()
        outcome = reconcile_datasets(store, internal.dataset, external.dataset, load_rules(), "")
        sides = outcome.result.summary["sides"]
        run_id = outcome.run.id
        print(f"run {run_id}: {sides['internal']['open']:,} open books items and {sides['external']['open']:,} open statement items "
              f"saved in {time.perf_counter() - started:.2f} s")

        def first_render():
            recent_runs(store)
            breaks_stamp(store, run_id)
            items = load_open_items(store, run_id)
            choices = [side_accounts(items, side) for side in ("internal", "external")]
            return items, choices, [side_page(items, side) for side in ("internal", "external")]

        load_time, _ = timed(lambda: load_open_items(store, run_id))
        render_time, (items, _, pages) = timed(first_render)
        account = next(iter(side_accounts(items, "internal")))
        narrowed = SideFilters(account=account, amount_min=Decimal("100"), amount_max=Decimal("5000"), text="inv")

        def filter_change():
            return side_page(items, "internal", narrowed, "amount", True), side_page(items, "external")

        change_time, (books_page, _) = timed(filter_change)
        picked = int(books_page.rows["id"].iloc[0])
        candidates_time, candidates = timed(lambda: candidates_for(items, picked))
        chosen = {picked: int(books_page.rows["version"].iloc[0])} | dict(zip(candidates["id"].head(2), candidates["version"].head(2)))
        net_time, _ = timed(lambda: selection_net(store, chosen))
        print(f"open items read into DuckDB: {load_time:.2f} s ({pages[0].total:,} + {pages[1].total:,} items)")
        print(f"first render (runs, stamp, open items, both sides' accounts, first pages and totals): {render_time:.2f} s")
        print(f"filter change (one side filtered and re-sorted: {books_page.total:,} items; the other side's page again): "
              f"{change_time * 1000:.0f} ms")
        print(f"candidates of a picked record: {candidates_time * 1000:.0f} ms ({len(candidates)} found); "
              f"net of a selection of {len(chosen)}: {net_time * 1000:.0f} ms")

        def pandas_page(frame, side, filters=None, sort="date", descending=False):
            part = frame[(frame["status"] == "open") & frame["pending_decision_id"].isna() & (frame["side"] == side)]
            if filters is not None:
                part = part[part["account_key"] == filters.account]
                absolute = part["amount"].map(abs)
                part = part[(absolute >= filters.amount_min) & (absolute <= filters.amount_max)]
                text = (part["reference"].fillna("") + " " + part["description"].fillna("")).str.lower()
                part = part[text.str.contains(filters.text, regex=False)]
            part = part.sort_values([sort, "id"], ascending=[not descending, True])
            totals = {}
            for currency, amount in zip(part["currency"], part["amount"]):
                got = totals.setdefault(currency, [0, Decimal(0), Decimal(0)])
                got[0] += 1
                got[1 if amount > 0 else 2] += amount
            return part.head(PAGE_SIZE), len(part), totals

        def baseline_render():
            frame = load_breaks(store, run_id)
            return frame, [pandas_page(frame, side) for side in ("internal", "external")]

        baseline_render_time, (frame, baseline_pages) = timed(baseline_render)
        baseline_change_time, (baseline_books, _) = timed(lambda: (pandas_page(frame, "internal", narrowed, "amount", True),
                                                                   pandas_page(frame, "external")))
        assert baseline_books[1] == books_page.total and baseline_books[0]["id"].tolist() == books_page.rows["id"].tolist()
        assert [p[1] for p in baseline_pages] == [p.total for p in pages]
        print(f"baseline first render (every break into pandas, both sides filtered, sorted, paged, totalled): "
              f"{baseline_render_time:.2f} s")
        print(f"baseline filter change (on the frame already loaded): {baseline_change_time * 1000:.0f} ms")
        print(f"ratio: first render {baseline_render_time / render_time:.1f}x faster, filter change "
              f"{baseline_change_time / change_time:.1f}x faster than the baseline")


if __name__ == "__main__":
    main()
