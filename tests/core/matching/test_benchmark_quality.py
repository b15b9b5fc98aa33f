"""The benchmark's data at a small size: the default rules keep their precision and recall.

Speed is measured by benchmarks/match_bench.py, never here; this pins the quality of the
links on data with every kind of noise, through the same command line path.
"""

import os
import subprocess
import sys
from pathlib import Path

from benchmarks.generate import generate, write_csv
from benchmarks.match_bench import read_links, score

ROOT = Path(__file__).resolve().parents[3]


def test_default_rules_on_noisy_data_keep_precision_and_recall(tmp_path):
    internal, external, truth = generate(20_000, seed=11)
    write_csv(internal, tmp_path / "books.csv")
    write_csv(external, tmp_path / "statement.csv")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"RECON_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run([sys.executable, "-m", "core", "match", "--internal", str(tmp_path / "books.csv"),
                             "--external", str(tmp_path / "statement.csv"), "--out", str(tmp_path / "out")],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    links, confirmed = read_links(tmp_path / "out" / "matches.csv")
    precision, recall = score(links, set(truth))
    assert precision >= 0.999
    assert recall >= 0.99
    assert score(confirmed, set(truth))[0] >= 0.9995
    assert len(confirmed) / len(links) >= 0.95
