"""A reconciliation run: what it takes in, how it is saved, and where its files live.

Scope and carry-forward (:mod:`.scope`), saving all or nothing (:mod:`.saving`), the command
line's files (:mod:`.outputs`), and the run folder ``data/runs/<run id>/`` (:mod:`.folder`,
the only code that knows that path). :mod:`.reconcile` runs the pipeline end to end.
"""

import importlib

__all__ = ["RunOutcome", "reconcile_datasets", "reconcile_files", "run_folder", "write_match_outputs"]

_HOME = {"RunOutcome": "reconcile", "reconcile_datasets": "reconcile", "reconcile_files": "reconcile", "run_folder": "folder",
         "write_match_outputs": "outputs"}


def __getattr__(name: str):
    # Loaded on first use: the store imports core.runs.folder, and the rest of the package imports the store.
    if name not in _HOME:
        raise AttributeError(f"module 'core.runs' has no attribute {name!r}")
    return getattr(importlib.import_module(f"core.runs.{_HOME[name]}"), name)
