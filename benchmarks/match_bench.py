"""Benchmark: the ``match`` command on N x N generated rows against a pandas baseline.

    python benchmarks/match_bench.py --rows 1000000

Generates books and a statement with known truth (benchmarks/generate.py), runs
``python -m core match`` on the CSV files in a fresh store (wall time and the process's peak
memory), then, in this process, the same passes written with pandas (benchmarks/
pandas_baseline.py). Prints wall time, peak memory, the speed ratio, precision and recall of
each one's links against the truth, and the share of links confirmed automatically.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.generate import generate, write_csv  # noqa: E402


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak_rss() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def run_cli(internal: Path, external: Path, out: Path, data: Path) -> tuple[float, float]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(RECON_DATA_DIR=str(data), PYTHONPATH=str(ROOT))
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "core", "match", "--internal", str(internal), "--external", str(external),
                                "--out", str(out)], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    stdout, stderr = process.stdout.read().decode(), process.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"match failed:\n{stdout}\n{stderr}")
    print(f"  {stdout.strip()}")
    return wall, usage.ru_maxrss / 1024


def read_links(path: Path) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """All links of matches.csv and the confirmed ones."""
    groups: dict[str, dict] = {}
    with path.open() as handle:
        for row in csv.DictReader(handle):
            group = groups.setdefault(row["match_id"], {"internal": [], "external": [], "status": row["status"]})
            group[row["side"]].append(row["record_id"])
    links, confirmed = set(), set()
    for group in groups.values():
        pairs = {(i, e) for i in group["internal"] for e in group["external"]}
        links |= pairs
        if group["status"] == "confirmed":
            confirmed |= pairs
    return links, confirmed


def score(links: set, truth: set) -> tuple[float, float]:
    right = len(links & truth)
    return right / len(links) if links else 1.0, right / len(truth) if truth else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows a side (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--no-baseline", action="store_true", help="skip the pandas baseline")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="recon-bench-") as folder:
        folder = Path(folder)
        print(f"generating {args.rows:,} x {args.rows:,} rows with known truth ...")
        internal_rows, external_rows, truth_pairs = generate(args.rows, args.seed)
        internal, external = folder / "books.csv", folder / "statement.csv"
        write_csv(internal_rows, internal)
        write_csv(external_rows, external)
        truth = set(truth_pairs)
        del internal_rows, external_rows, truth_pairs
        # The files just written are flushed to disk first, so the write-back does not run
        # during the measured command.
        os.sync()
        print(f"  internal {internal.stat().st_size / 2**20:.0f} MB, external {external.stat().st_size / 2**20:.0f} MB, {len(truth):,} true links")

        print("python -m core match (CSV in, results and store written) ...")
        wall, peak = run_cli(internal, external, folder / "out", folder / "data")
        links, confirmed = read_links(folder / "out" / "matches.csv")
        precision, recall = score(links, truth)
        print(f"  wall {wall:.2f} s, peak memory {peak:,.0f} MB")
        print(f"  precision {precision:.4%}, recall {recall:.4%}, confirmed {len(confirmed) / len(links):.2%} of links "
              f"(precision of confirmed {score(confirmed, truth)[0]:.4%})")

        if args.no_baseline:
            return
        from benchmarks.pandas_baseline import run_baseline

        print("pandas baseline, same passes, in this process ...")
        _reset_peak_rss()
        started = time.perf_counter()
        baseline_links = run_baseline(internal, external)
        baseline_wall = time.perf_counter() - started
        baseline_precision, baseline_recall = score(baseline_links, truth)
        print(f"  wall {baseline_wall:.2f} s, peak memory {_peak_rss_mb():,.0f} MB")
        print(f"  precision {baseline_precision:.4%}, recall {baseline_recall:.4%}")
        print(f"speed ratio: {baseline_wall / wall:.1f}x (baseline {baseline_wall:.2f} s / match {wall:.2f} s)")
        print(f"agreement: {len(links & baseline_links) / len(links | baseline_links):.4%} of links in both")


if __name__ == "__main__":
    main()
