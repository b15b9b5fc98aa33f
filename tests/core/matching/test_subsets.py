"""The subset search against brute force: same solutions, for any candidates."""

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from core.matching.subsets import find_subsets


def brute_force(target, tolerance, candidates, max_size, limit=2):
    found = sorted(tuple(sorted(k for k, _ in combo)) for size in range(2, max_size + 1)
                   for combo in itertools.combinations(candidates, size) if abs(sum(a for _, a in combo) - target) <= tolerance)
    return found[:limit]


def run(target, tolerance, candidates, max_size):
    offsets = np.array([0, len(candidates)], dtype=np.int64)
    keys = np.array([k for k, _ in candidates], dtype=np.int64)
    amounts = np.array([a for _, a in candidates], dtype=np.int64)
    result = find_subsets(np.array([target], dtype=np.int64), np.array([tolerance], dtype=np.int64), offsets, keys, amounts, max_size)
    return result.get(0, [])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=60), min_size=2, max_size=12), st.integers(min_value=2, max_value=200),
       st.sampled_from([0, 0, 1, 3]), st.integers(min_value=2, max_value=6))
def test_finds_exactly_what_brute_force_finds(amounts, target, tolerance, max_size):
    candidates = list(enumerate(amounts, start=100))
    assert run(target, tolerance, candidates, max_size) == brute_force(target, tolerance, candidates, max_size)


def test_amounts_too_large_for_doubles_are_summed_as_integers():
    big = 2**60
    candidates = [(1, big + 1), (2, big + 2), (3, 5)]
    assert run(2 * big + 3, 0, candidates, 3) == [(1, 2)]
    assert run(2 * big + 4, 0, candidates, 3) == []


def test_doubles_never_round_a_sum_near_their_limit():
    # 2**52 + 1 is exact in a double; the search must not confuse it with 2**52.
    candidates = [(1, 2**51), (2, 2**51 + 1), (3, 2**51)]
    assert run(2**52 + 1, 0, candidates, 2) == [(1, 2), (2, 3)]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=40), min_size=9, max_size=16), st.integers(min_value=2, max_value=150),
       st.integers(min_value=2, max_value=6))
def test_meeting_in_the_middle_finds_exactly_what_brute_force_finds(amounts, target, max_size):
    # Nine or more candidates and an exact sum: the search meets in the middle. Small amounts
    # make many equal sums, the hard case for the join.
    candidates = list(enumerate(amounts, start=7))
    assert run(target, 0, candidates, max_size) == brute_force(target, 0, candidates, max_size)


def test_meeting_in_the_middle_with_negative_and_large_amounts():
    big = 2**60
    candidates = [(k, -(big // 8) - k) for k in range(1, 11)]
    target = sum(a for _, a in candidates[:3])
    assert run(target, 0, candidates, 6) == brute_force(target, 0, candidates, 6)


def run_many(targets, candidate_lists, max_size):
    offsets = np.cumsum([0] + [len(c) for c in candidate_lists]).astype(np.int64)
    keys = np.array([k for c in candidate_lists for k, _ in c], dtype=np.int64)
    amounts = np.array([a for c in candidate_lists for _, a in c], dtype=np.int64)
    found = find_subsets(np.array(targets, dtype=np.int64), np.zeros(len(targets), dtype=np.int64), offsets, keys, amounts, max_size)
    return [found.get(row, []) for row in range(len(targets))]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.lists(st.integers(min_value=-30, max_value=40), min_size=9, max_size=12),
                          st.integers(min_value=-40, max_value=120)), min_size=2, max_size=8),
       st.integers(min_value=2, max_value=5), st.booleans())
def test_many_targets_meet_in_the_middle_each_with_its_own_candidates(cases, max_size, colliding):
    # Sums are keyed with their row; keys may collide (with a zero multiplier, every key of a
    # row does), and a collision must never pass for a solution, nor hide one.
    import core.matching.subsets as subsets

    candidate_lists = [list(enumerate(amounts, start=1000 * n)) for n, (amounts, _) in enumerate(cases)]
    targets = [target for _, target in cases]
    saved = subsets._MIX
    subsets._MIX = np.int64(0) if colliding else saved
    try:
        found = run_many(targets, candidate_lists, max_size)
    finally:
        subsets._MIX = saved
    assert found == [brute_force(t, 0, c, max_size) for t, c in zip(targets, candidate_lists)]
