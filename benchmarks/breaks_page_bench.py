"""Benchmark: the Breaks page's first render with 100,000 open breaks.

    python benchmarks/breaks_page_bench.py --breaks 100000

Builds a store whose latest run has N open breaks (books that the statement does not hold),
signs in through Streamlit's AppTest and times the Breaks page's first full run: the query,
the filters, the grid and the aging chart. The baseline, in the same process, loads the same
breaks the straightforward way, as ORM objects turned into a DataFrame.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--breaks", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="recon-breaks-bench-") as folder:
        os.environ["RECON_DATA_DIR"] = str(Path(folder) / "data")
        os.environ["RECON_DEMO"] = "1"
        os.environ.pop("DATABASE_URL", None)
        from benchmarks.generate import generate, write_csv
        from core.auth import create_user
        from core.ingest.datasets import import_file
        from core.matching.rules import load_rules
        from core.runs.reconcile import reconcile_datasets
        from core.store import open_store

        store = open_store()
        books, _, _ = generate(args.breaks, seed=5)
        write_csv(books, Path(folder) / "books.csv")
        write_csv(books[:1], Path(folder) / "statement.csv")
        internal, _ = import_file(store, Path(folder) / "books.csv")
        external, _ = import_file(store, Path(folder) / "statement.csv")
        started = time.perf_counter()
        outcome = reconcile_datasets(store, internal.dataset, external.dataset, load_rules(), "")
        open_count = outcome.result.summary["sides"]["internal"]["open"]
        print(f"run {outcome.run.id}: {open_count:,} open breaks saved in {time.perf_counter() - started:.2f} s")
        create_user(store, "bench", "bench-password-1", "analyst")

        from streamlit.testing.v1 import AppTest

        at = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=300).run()
        at.text_input(key="sign_in_username").input("bench")
        at.text_input(key="sign_in_password").input("bench-password-1")
        at.button[0].click().run()
        started = time.perf_counter()
        at.switch_page("pages/breaks.py").run()
        first_render = time.perf_counter() - started
        assert not at.exception, at.exception
        shown = next(d.value for d in at.dataframe if "reason" in d.value.columns)
        print(f"Breaks page first render (AppTest, whole script): {first_render:.2f} s for {len(shown):,} rows in the grid")
        started = time.perf_counter()
        at.run()
        print(f"rerun (a widget change): {time.perf_counter() - started:.2f} s")

        import pandas as pd
        from sqlalchemy import select

        from core.store.models import Break

        started = time.perf_counter()
        with store.session() as session:
            rows = session.scalars(select(Break).where(Break.run_id == outcome.run.id, Break.status == "open")).all()
            baseline = pd.DataFrame([{c.name: getattr(r, c.name) for c in Break.__table__.columns} for r in rows])
        baseline_time = time.perf_counter() - started
        print(f"baseline (ORM objects to DataFrame, query only): {baseline_time:.2f} s for {len(baseline):,} rows")
        print(f"ratio: the whole page takes {first_render / baseline_time:.1f}x the baseline's query alone")


if __name__ == "__main__":
    main()
