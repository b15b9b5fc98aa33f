"""Rows picked in a grid, kept as record id -> version across reruns and filters."""

from __future__ import annotations

import pandas as pd

__all__ = ["picked_records", "reconcile_selection"]


def picked_records(shown: list[tuple[int, int]], rows: list[int]) -> dict[int, int]:
    """The records behind the selected row positions of a grid, by id with the version shown.

    Args:
        shown: (id, version) of every row, in the order of the grid the person clicked on.
        rows: the selected positions in that grid; a position past its end names nothing.
    """
    return {shown[r][0]: shown[r][1] for r in rows if 0 <= r < len(shown)}


def reconcile_selection(chosen: dict[int, int], shown: pd.DataFrame) -> tuple[dict[int, int], list[int]]:
    """Keep the chosen records still among ``shown`` (an ``id`` column); the others are dropped.

    Returns:
        The kept records (id -> version the person saw) and the ids dropped, in their order.
    """
    ids = set(shown["id"].tolist()) if len(shown) else set()
    return {i: v for i, v in chosen.items() if i in ids}, [i for i in chosen if i not in ids]

