"""Benchmark: deciding a whole queue of proposed matches at once.

    python benchmarks/review_bench.py --proposals 10000

Builds a store whose run proposes N matches (wires that reach the bank 1.50 short: a fee the
default rules only propose), then approves half of the queue and rejects the other half, each
with one call, as the Breaks page's "Approve" and "Reject" buttons do. The baseline, in the
same process, decides the same kind of groups one call per group (how a queue was worked
before): a sample of them, timed per group, since a whole queue that way takes minutes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _files(folder: Path, count: int) -> tuple[Path, Path]:
    """Books with ``count`` wires and a statement with each one 1.50 short, amounts far apart."""
    books, bank = folder / "books.csv", folder / "statement.csv"
    header = "id,account,date,amount,currency,reference,description\n"
    with books.open("w", encoding="utf-8") as b, bank.open("w", encoding="utf-8") as s:
        b.write(header)
        s.write(header)
        for n in range(count):
            account, day = f"ACC{n % 50:03d}", f"2026-10-{1 + n % 28:02d}"
            b.write(f"B{n:07d},{account},{day},{1000 + 100 * n}.00,USD,WIRE-{n},payment {n}\n")
            s.write(f"S{n:07d},{account},{day},{1000 + 100 * n - 2}.50,USD,,incoming wire\n")
    return books, bank


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--proposals", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=200, help="groups the one-by-one baseline decides each way")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="recon-review-bench-") as folder:
        os.environ["RECON_DATA_DIR"] = str(Path(folder) / "data")
        os.environ.pop("DATABASE_URL", None)
        from sqlalchemy import select

        from core.auth import create_user
        from core.ingest.datasets import import_file
        from core.matching.rules import load_rules
        from core.review import approve_proposed, approve_proposed_many, reject_proposed, reject_proposed_many
        from core.runs.reconcile import reconcile_datasets
        from core.store import open_store
        from core.store.models import MatchGroup

        store = open_store()
        books, bank = _files(Path(folder), args.proposals + 2 * args.sample)
        internal, _ = import_file(store, books)
        external, _ = import_file(store, bank)
        run = reconcile_datasets(store, internal.dataset, external.dataset, load_rules(), "").run
        with store.session() as session:
            queue = sorted(session.execute(select(MatchGroup.id, MatchGroup.version)
                                           .where(MatchGroup.run_id == run.id, MatchGroup.status == "proposed")).all())
        print(f"run {run.id}: {len(queue):,} proposed matches")
        analyst = create_user(store, "bench", "bench-password-1", "analyst")
        sample, queue = queue[:2 * args.sample], queue[2 * args.sample:]
        half = len(queue) // 2

        started = time.perf_counter()
        approve_proposed_many(store, dict(queue[:half]), analyst)
        approve_all = time.perf_counter() - started
        started = time.perf_counter()
        reject_proposed_many(store, dict(queue[half:]), analyst, "fees are booked separately")
        reject_all = time.perf_counter() - started

        started = time.perf_counter()
        for group_id, version in sample[:args.sample]:
            approve_proposed(store, group_id, version, analyst)
        approve_one = (time.perf_counter() - started) / args.sample
        started = time.perf_counter()
        for group_id, version in sample[args.sample:]:
            reject_proposed(store, group_id, version, analyst, "fees are booked separately")
        reject_one = (time.perf_counter() - started) / args.sample

        rejected = len(queue) - half
        print(f"approve {half:,} at once: {approve_all:.2f} s ({approve_all / half * 1000:.3f} ms a group)")
        print(f"reject {rejected:,} at once: {reject_all:.2f} s ({reject_all / rejected * 1000:.3f} ms a group, "
              f"{2 * rejected:,} records reopened)")
        print(f"baseline, one call per group ({args.sample} each way): approve {approve_one * 1000:.2f} ms a group, "
              f"reject {reject_one * 1000:.2f} ms a group")
        print(f"ratio: approve {approve_one * half / approve_all:.1f}x, reject {reject_one * rejected / reject_all:.1f}x faster at once")


if __name__ == "__main__":
    main()
