"""Bounded subset search: which few open records add up to one record on the other side.

Used for batch deposits (several receipts in the books, one line at the bank) and split
payments (one payment, two or three statement lines). Amounts are integers of micro-units,
so every sum is exact (at most 8 members of at most 10**18 fit a 64-bit integer).

Each target has at most ``MAX_CANDIDATES`` candidates, so every subset of 2..max_size of
them can be listed: targets with the same number of candidates are checked together, one
matrix product of their amounts by the 0/1 membership of every subset. The cost is fixed by
the number of candidates, so the search cannot run away, and it is complete: it finds every
solution or proves there is none.

Where the sum must be met exactly and there are many candidates, the search meets in the
middle instead: the sums of every subset of each half of the candidates are listed (2**8
for 8 candidates, not the 14,876 subsets of 2..6 of 16), and a half's sum is matched with
the other half's sums on (target, sum), through sorted integer keys.
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
# From this many candidates, exact targets meet in the middle.
_MIDDLE_FROM = 9


@lru_cache(maxsize=64)
def _all_subsets(count: int, max_size: int) -> np.ndarray:
    """0/1 matrix: every subset of ``count`` items with 0..max_size members."""
    every = np.arange(1 << count, dtype=np.int64)
    bits = (every[:, None] >> np.arange(count, dtype=np.int64)) & 1
    return bits[bits.sum(axis=1) <= max_size]


def _sums(amounts: np.ndarray, members: np.ndarray) -> np.ndarray:
    if int(np.abs(amounts).max(initial=0)) * members.shape[1] < _EXACT_IN_DOUBLE:
        return (amounts.astype(np.float64) @ members.astype(np.float64).T).astype(np.int64)
    return amounts @ members.T


# An odd 64-bit multiplier: (row, sum) pairs become single integer keys. Two different pairs
# can share a key (the product wraps around and is cut short), so every hit is checked
# against the values.
_MIX = np.int64(-7046029254386353131)


def _middle_hits(amounts: np.ndarray, targets: np.ndarray, max_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, membership) of every subset of 2..max_size whose sum is exactly the row's target."""
    rows, count = amounts.shape
    half = count // 2
    left, right = _all_subsets(half, max_size), _all_subsets(count - half, max_size)
    need = (targets[:, None] - _sums(amounts[:, :half], left)).ravel()
    have = _sums(amounts[:, half:], right).ravel()
    row_of_need = np.repeat(np.arange(rows, dtype=np.int64), left.shape[0])
    row_of_have = np.repeat(np.arange(rows, dtype=np.int64), right.shape[0])
    # Row in the high bits (so each row's keys stay together and the searches below run in
    # order), a mix of the sum in the rest.
    shift = 63 - max(1, int(rows).bit_length())
    low_bits = np.int64((1 << shift) - 1)
    with np.errstate(over="ignore"):
        have_keys = (row_of_have << shift) | ((have * _MIX) & low_bits)
        need_keys = (row_of_need << shift) | ((need * _MIX) & low_bits)
    order = np.argsort(have_keys)
    sorted_keys = have_keys[order]
    low, high = np.searchsorted(sorted_keys, need_keys, "left"), np.searchsorted(sorted_keys, need_keys, "right")
    counts = high - low
    queries = np.flatnonzero(counts)
    repeats = counts[queries]
    query = np.repeat(queries, repeats)
    step = np.arange(repeats.sum()) - np.repeat(np.cumsum(repeats) - repeats, repeats)
    found = order[np.repeat(low[queries], repeats) + step]
    real = (row_of_need[query] == row_of_have[found]) & (need[query] == have[found])
    query, found = query[real], found[real]
    row, a, b = row_of_need[query], query % left.shape[0], found % right.shape[0]
    members = np.concatenate([left[a], right[b]], axis=1)
    sizes = members.sum(axis=1)
    keep = (sizes >= 2) & (sizes <= max_size)
    return row[keep], members[keep]


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
        rows_of_count = np.flatnonzero(counts == count)
        exact = allowed[rows_of_count] == 0
        if count >= _MIDDLE_FROM and exact.any():
            for start in range(0, int(exact.sum()), _CHUNK):
                rows = rows_of_count[exact][start:start + _CHUNK]
                positions = offsets[rows][:, None] + np.arange(count)
                hit_rows, memberships = _middle_hits(amounts[positions], targets[rows], max_size)
                _collect(found, rows, positions, keys, hit_rows.tolist(), (m == 1 for m in memberships), limit)
            rows_of_count = rows_of_count[~exact]
        members = _memberships(count, max_size)
        for start in range(0, len(rows_of_count), _CHUNK):
            rows = rows_of_count[start:start + _CHUNK]
            positions = offsets[rows][:, None] + np.arange(count)
            hit_rows, hit_subsets = _hits(amounts[positions], members, targets[rows], allowed[rows], max_size)
            _collect(found, rows, positions, keys, hit_rows.tolist(), (members[s] == 1 for s in hit_subsets.tolist()), limit)
    return found


def _collect(found: dict, rows: np.ndarray, positions: np.ndarray, keys: np.ndarray, hit_rows: list[int], masks, limit: int) -> None:
    """Record each row's first ``limit`` solutions, as sorted tuples of candidate keys, in order."""
    by_row = defaultdict(list)
    for row, mask in zip(hit_rows, masks):
        by_row[row].append(tuple(sorted(keys[positions[row]][mask].tolist())))
    for row, solutions in by_row.items():
        found[int(rows[row])] = sorted(solutions)[:limit]
