"""Bounded subset search: which few open records add up to one record on the other side.

Used for batch deposits (several receipts in the books, one line at the bank) and split
payments (one payment, two or three statement lines). Amounts are integers of micro-units,
so every sum is exact (at most 8 members of at most 10**18 fit a 64-bit integer).

Each target has at most ``MAX_CANDIDATES`` candidates, so every subset of 2..max_size of
them can be listed: targets with the same number of candidates are checked together, one
matrix product of their amounts by the 0/1 membership of every subset. The cost is fixed by
the number of candidates, so the search cannot run away, and it is complete: it finds every
solution or proves there is none.
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache

import numpy as np

__all__ = ["MAX_CANDIDATES", "find_subsets"]

MAX_CANDIDATES = 16
_CHUNK = 512


@lru_cache(maxsize=64)
def _memberships(count: int, max_size: int) -> np.ndarray:
    """0/1 matrix: one row per subset of ``count`` items with 2..max_size members."""
    every = np.arange(1 << count, dtype=np.int64)
    bits = (every[:, None] >> np.arange(count, dtype=np.int64)) & 1
    sizes = bits.sum(axis=1)
    return bits[(sizes >= 2) & (sizes <= max_size)]


_EXACT_IN_DOUBLE = 2**53


def _hits(amounts: np.ndarray, members: np.ndarray, targets: np.ndarray, allowed: np.ndarray, max_size: int):
    """(row, subset) pairs whose sum is within ``allowed`` of the row's target.

    Every integer below 2**53 is exact in a double, and so is every sum of such integers that
    stays below it. When all amounts, sums and targets here do, the product runs on doubles
    (BLAS, many times faster) and its integer results are exactly those of integer
    arithmetic; otherwise it runs on 64-bit integers.
    """
    bound = (int(np.abs(amounts).max(initial=0)) * max_size + int(np.abs(targets).max(initial=0)) + int(allowed.max(initial=0)))
    if bound < _EXACT_IN_DOUBLE:
        sums = amounts.astype(np.float64) @ members.astype(np.float64).T
        return np.nonzero(np.abs(sums - targets.astype(np.float64)[:, None]) <= allowed.astype(np.float64)[:, None])
    sums = amounts @ members.T
    return np.nonzero(np.abs(sums - targets[:, None]) <= allowed[:, None])


def find_subsets(targets: np.ndarray, allowed: np.ndarray, offsets: np.ndarray, keys: np.ndarray, amounts: np.ndarray,
                 max_size: int, limit: int = 2) -> dict[int, list[tuple[int, ...]]]:
    """For each target, up to ``limit`` subsets of its candidates that reach its amount.

    Candidates are given in compressed rows: target ``t`` has ``keys[offsets[t]:offsets[t+1]]``
    with ``amounts`` alongside, at most ``MAX_CANDIDATES`` of them.

    Args:
        targets: the amounts to reach (micro-units).
        allowed: per target, the largest allowed |sum - target|.
        offsets, keys, amounts: the candidates.
        max_size: the largest subset.
        limit: solutions to report per target (2 tells a unique answer from an ambiguous one).

    Returns:
        Target row -> its solutions as sorted key tuples, in ascending order; targets
        without a solution are left out.
    """
    counts = np.diff(offsets)
    if counts.size and counts.max() > MAX_CANDIDATES:
        raise ValueError(f"at most {MAX_CANDIDATES} candidates a target, got {counts.max()}")
    found: dict[int, list[tuple[int, ...]]] = {}
    for count in np.unique(counts[counts >= 2]).tolist():
        members = _memberships(count, max_size)
        rows_of_count = np.flatnonzero(counts == count)
        for start in range(0, len(rows_of_count), _CHUNK):
            rows = rows_of_count[start:start + _CHUNK]
            positions = offsets[rows][:, None] + np.arange(count)
            hit_rows, hit_subsets = _hits(amounts[positions], members, targets[rows], allowed[rows], max_size)
            by_row = defaultdict(list)
            for row, subset in zip(hit_rows.tolist(), hit_subsets.tolist()):
                by_row[row].append(subset)
            for row, subsets in by_row.items():
                candidate_keys = keys[positions[row]]
                solutions = sorted(tuple(sorted(candidate_keys[members[subset] == 1].tolist())) for subset in subsets)
                found[int(rows[row])] = solutions[:limit]
    return found
