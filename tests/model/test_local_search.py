"""Local search moves: swaps keep a tight balance band that single moves cannot."""

from __future__ import annotations

import numpy as np
import pytest

import model.local_search as local_search
from model.check import plan_violations
from model.local_search import polish, tight_band
from model.plan import Plan
from tests.conftest import grid_spec

# u0 u1      centres u0 and u5, each territory exactly 3 units: every single move breaks the band.
# u2 u3      The crossed plan {u0, u1, u3} / {u2, u4, u5} is balanced and connected, but swapping
# u4 u5      u3 and u2 makes both territories more compact.
CROSSED = np.array([0, 0, 5, 0, 5, 5])
UNCROSSED = np.array([0, 0, 0, 5, 5, 5])


def exact_band_spec():
    return grid_spec(3, 2, [1] * 6, 2, 0.0, centres=(0, 5))


def test_a_swap_improves_a_plan_no_single_move_can_keep_balanced():
    spec = exact_band_spec()
    cost = spec.cost()
    assert Plan(tuple(UNCROSSED)).objective(cost) < Plan(tuple(CROSSED)).objective(cost)
    result = polish(spec, CROSSED)
    assert plan_violations(spec, result) == []
    assert list(result.centre_of) == list(UNCROSSED)


def test_without_swaps_the_crossed_plan_stays(monkeypatch):
    monkeypatch.setattr(local_search, "SWAP_MAX_UNITS", 0)  # the move under test switched off
    result = polish(exact_band_spec(), CROSSED)
    assert list(result.centre_of) == list(CROSSED)


@pytest.mark.parametrize("seed", range(5))
def test_swaps_never_break_balance_or_contiguity(seed):
    """From any balanced, connected plan, polishing (single moves and swaps) keeps it valid and no worse."""
    top = np.random.default_rng(seed).integers(1, 5, size=8)
    spec = grid_spec(4, 4, np.concatenate([top, top]), 2, 0.02)  # the top and bottom halves balance exactly
    assert tight_band(spec)  # the band is narrower than a typical unit: swaps are on
    for start in (np.repeat([0, 8], 8), np.tile(np.repeat([0, 2], 2), 4)):  # top/bottom, left/right halves
        plan = Plan(tuple(int(c) for c in start))
        if plan_violations(spec, plan):
            assert start[-1] == 2  # only left/right may start unbalanced
            continue
        result = polish(spec, start)
        assert plan_violations(spec, result) == []
        assert result.objective(spec.cost()) <= plan.objective(spec.cost()) + 1e-9


def test_swaps_are_for_bands_narrower_than_a_typical_unit():
    assert tight_band(exact_band_spec())
    assert not tight_band(grid_spec(3, 2, [1] * 6, 2, 0.5))  # the band [1.5, 4.5] is three units wide
    assert not tight_band(grid_spec(3, 2, [1] * 6, 2, None))  # no balance rule


def test_a_locked_unit_cut_off_from_its_centre_is_joined_back_not_given_away():
    """u2 is locked to u0's territory but cut off from it (u1 and u5 belong to u8): repair takes the shortest
    path back (u1), where it used to give u2 to u8 and break the lock for good (local search never moves a lock)."""
    from dataclasses import replace

    spec = replace(grid_spec(3, 3, None, 2, None, centres=(0, 8)), locks=((2, 0),))
    start = np.array([0, 8, 0, 0, 8, 8, 0, 8, 8])  # u2 is u0's, alone in the top right corner
    state = local_search._State(spec, start)
    local_search.repair_contiguity(state)
    owner = state.centre_of
    assert owner[2] == 0 and owner[1] == 0
    assert plan_violations(spec, Plan(tuple(int(c) for c in owner))) == []


def test_a_lock_walled_in_by_other_locks_is_left_where_it_is():
    from dataclasses import replace

    spec = replace(grid_spec(1, 5, None, 2, None, centres=(0, 4)), locks=((2, 0), (1, 1), (3, 1)))
    start = np.array([0, 4, 0, 4, 4])  # u2 is u0's; both ways to u0 are locked to u4
    state = local_search._State(spec, start)
    local_search.repair_contiguity(state)
    assert list(state.centre_of) == [0, 4, 0, 4, 4]
