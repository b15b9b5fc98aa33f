"""Ingest: a source file becomes a dataset of canonical records, or every finding at once.

A parsed table is normalised (:mod:`.normalise`) under a mapping profile (:mod:`.profiles`);
canonical CSV takes a fast path straight through DuckDB (:mod:`.canonical_csv`); bank
statements become rows with their balances checked (:mod:`.statements`); a dataset is kept
by its content hash as Parquet (:mod:`.datasets`). "Ingest", so that it is not mistaken for
the document intake of applications.
"""

import importlib

__all__ = ["ImportOutcome", "Profile", "ProfileError", "import_bytes", "import_file", "list_datasets", "load_dataset_table", "load_profile",
           "parse_source"]

_HOME = {"ImportOutcome": "datasets", "import_bytes": "datasets", "import_file": "datasets", "list_datasets": "datasets",
         "load_dataset_table": "datasets", "parse_source": "datasets", "Profile": "profiles", "ProfileError": "profiles",
         "load_profile": "profiles"}


def __getattr__(name: str):
    # Loaded on first use: `match` imports core.ingest.canonical_csv alone to start reading files at once.
    if name not in _HOME:
        raise AttributeError(f"module 'core.ingest' has no attribute {name!r}")
    return getattr(importlib.import_module(f"core.ingest.{_HOME[name]}"), name)
