"""Free centres swapped on the transportation LP (model.centre_swaps) and the plans re-solved at them
(model.first_plans.swapped_centres), on the Georgia counties."""

from __future__ import annotations

import time

import numpy as np
import pytest

import model.search as search
from model.centre_swaps import _candidates, _lp, recentred_on, swap_centres
from model.check import plan_violations
from model.first_plans import swapped_centres, tree_first_plan
from model.spec import SearchInterrupted
from solvers import SolverOptions, interrupt
from solvers.highs import HighsEngine
from tests.model.test_tree_partition import georgia_spec  # noqa: F401  (fixture)


def test_swaps_end_on_a_cheaper_lp_that_no_tried_swap_improves(georgia_spec):  # noqa: F811
    """From a spanning-tree plan's centres: k centres that hold themselves, an LP value that is the LP's at them and
    below the start's, and no unit tried for any centre lowers it further (a local optimum of the swaps)."""
    engine = HighsEngine()
    cost = georgia_spec.cost()
    plan = tree_first_plan(georgia_spec, SolverOptions(seed=1), 30)
    labels, first, value = swap_centres(georgia_spec, engine, np.asarray(plan.centre_of), time.perf_counter() + 120)
    centres = np.unique(labels)
    assert len(centres) == georgia_spec.count and (labels[centres] == centres).all()
    assert first == pytest.approx(_lp(georgia_spec, engine, cost, np.asarray(plan.centre_of))[0])
    assert value < first * (1 - 1e-3)
    value_again, shares = _lp(georgia_spec, engine, cost, labels)
    assert value_again == pytest.approx(value, rel=1e-9)
    for c in centres:
        for u in _candidates(cost, labels, shares, int(c), 4):
            trial = labels.copy()
            trial[labels == c] = u
            assert _lp(georgia_spec, engine, cost, trial)[0] >= value * (1 - 1e-6)


def test_recentring_on_swapped_centres_keeps_the_plan_valid(georgia_spec):  # noqa: F811
    """Each territory re-centred on a unit of its own stays connected and balanced; a swap to a unit outside the
    territory is not taken."""
    plan = tree_first_plan(georgia_spec, SolverOptions(seed=1), 30)
    owner = np.asarray(plan.centre_of)
    members = plan.members()
    labels = owner.copy()
    inside = {}
    for c, units in list(members.items())[:4]:
        u = int(units[units != c][0])
        labels[owner == c] = u
        inside[c] = u
    outside_c, outside = list(members)[4], int(members[list(members)[5]][0])  # a unit of another territory
    labels[outside_c] = outside
    moved = recentred_on(plan, labels)
    assert plan_violations(georgia_spec, moved) == []
    assert set(moved.centres) == (set(plan.centres) - set(inside)) | set(inside.values())


@pytest.mark.parametrize("fixed_path", [True, False])
def test_swapped_centres_give_a_valid_plan_never_worse(georgia_spec, fixed_path, monkeypatch):  # noqa: F811
    """From a spanning-tree plan: a plan the checker accepts, no dearer than the start, and only plans that beat the
    start are reported; also when the fixed-centre path finds no plan (the re-centred start instead)."""
    if not fixed_path:
        monkeypatch.setattr(search, "transport_first_plan", lambda *args, **kwargs: (None, None))
    plan = tree_first_plan(georgia_spec, SolverOptions(seed=1), 30)
    cost = georgia_spec.cost()
    heard = []
    found = swapped_centres(georgia_spec, HighsEngine(), SolverOptions(seed=0), plan, time.perf_counter() + 40,
                            heard.append)
    assert plan_violations(georgia_spec, found) == []
    assert found.objective(cost) < plan.objective(cost)
    assert all(p.objective(cost) < plan.objective(cost) for p in heard) and heard[-1] == found


def test_ctrl_c_during_the_swaps_keeps_the_plan_in_hand(georgia_spec):  # noqa: F811
    """A stop asked for before the first swap: SearchInterrupted carries the plan the stage started from."""
    plan = tree_first_plan(georgia_spec, SolverOptions(seed=1), 30)
    with interrupt.stop_on_ctrl_c():
        interrupt.request()
        with pytest.raises(SearchInterrupted) as stop:
            swapped_centres(georgia_spec, HighsEngine(), SolverOptions(seed=0), plan, time.perf_counter() + 40,
                            lambda p: None)
    assert stop.value.plan == plan
