"""Bounded subset search: which few open records add up to one record on the other side.

Used for batch deposits (several receipts in the books, one line at the bank) and split
payments (one payment, two or three statement lines). Amounts are integers of micro-units,
so sums are exact. The search is bounded three ways: the candidates per target, the group
size, and a node budget; a target whose search runs out of budget is left open, never guessed.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Candidate", "find_subsets"]


class Candidate(NamedTuple):
    key: int
    amount: int


def find_subsets(target: int, candidates: list[Candidate], tolerance: int, max_size: int,
                 limit: int = 2, budget: int = 20_000) -> tuple[list[tuple[int, ...]], bool]:
    """Subsets of 2..max_size candidates whose sum is within ``tolerance`` of ``target``.

    All candidates must have the target's sign and a smaller magnitude (the caller filters),
    which makes partial sums grow monotonically and lets the search prune.

    Args:
        target: the amount to reach, in micro-units.
        candidates: records to choose from, in the caller's preference order.
        tolerance: largest allowed |sum - target|, in micro-units.
        max_size: largest subset.
        limit: stop after this many solutions (2 is enough to know a choice is ambiguous).
        budget: most search nodes to visit.

    Returns:
        ``(solutions, complete)``: each solution is a tuple of candidate keys in the order
        given; complete is false when the budget ran out before the search finished.
    """
    sign = 1 if target >= 0 else -1
    goal = target * sign
    items = sorted(((c.amount * sign, c.key) for c in candidates), key=lambda t: t[0])
    amounts = [a for a, _ in items]
    solutions: list[tuple[int, ...]] = []
    visited = 0
    chosen: list[int] = []

    def search(start: int, total: int) -> bool:
        nonlocal visited
        for index in range(start, len(items)):
            visited += 1
            if visited > budget:
                return False
            amount = amounts[index]
            new_total = total + amount
            if new_total > goal + tolerance:
                break
            chosen.append(index)
            if len(chosen) >= 2 and abs(new_total - goal) <= tolerance:
                solutions.append(tuple(items[i][1] for i in chosen))
                if len(solutions) >= limit:
                    chosen.pop()
                    return True
            if len(chosen) < max_size:
                remaining = max_size - len(chosen)
                largest = sum(amounts[-remaining:]) if remaining <= len(amounts) else sum(amounts)
                if new_total + largest >= goal - tolerance and not search(index + 1, new_total):
                    chosen.pop()
                    return False
                if len(solutions) >= limit:
                    chosen.pop()
                    return True
            chosen.pop()
        return True

    complete = search(0, 0)
    return solutions, complete and visited <= budget
