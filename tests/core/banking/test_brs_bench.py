"""The BRS and cash position benchmark runs on a small month and its figures agree with pandas exactly."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_the_benchmark_agrees_with_pandas_on_2000_records():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "brs_bench.py"), "--rows", "2000"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "BRS on 2026-10-31:" in done.stdout
    assert "unexplained difference 0.00, differences in matched items 0.10" in done.stdout
    assert "Cash position on 2026-10-20:" in done.stdout
