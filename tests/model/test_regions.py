"""Regional re-solves (model.regions): the split into regions and the plans it reports."""

from __future__ import annotations

import time

import numpy as np
import pytest

import geodata.build as build
from geodata.distances import LazyPairs
from model.check import plan_violations
from model.plan import Plan
from model.regions import improve_regions, split_regions
from model.first_plans import tree_first_plan
from model.spec import SearchInterrupted
from solvers import SolverOptions, interrupt
from solvers.highs import HighsEngine
from tests.conftest import grid_spec


def _poor_plan(spec) -> Plan:
    """Spanning-tree territories, each centred on its costliest unit: valid, with room to gain."""
    owner = np.asarray(tree_first_plan(spec, SolverOptions(seed=1), 30).centre_of)
    cost = spec.cost()
    for c in np.unique(owner):
        members = np.flatnonzero(owner == c)
        owner[members] = members[np.argmax(cost[np.ix_(members, members)].sum(axis=0))]
    return Plan(tuple(int(c) for c in owner))


@pytest.fixture
def lazy_grid(monkeypatch):
    monkeypatch.setattr(build, "DENSE_MAX_UNITS", 100)  # distances on demand, as on the ZIP cells
    values = np.random.default_rng(5).integers(1, 50, size=400)
    spec = grid_spec(20, 20, values, 8, 0.05)
    assert isinstance(spec.geography.distance, LazyPairs)
    return spec


@pytest.mark.parametrize("most", [60, 120, 250, 1_000])
def test_regions_hold_every_territory_once_and_stay_under_the_size(lazy_grid, most):
    plan = _poor_plan(lazy_grid)
    owner = np.asarray(plan.centre_of)
    for flip, angle in ((False, 0.0), (True, 0.0), (False, 0.6), (False, 1.2)):
        groups = split_regions(lazy_grid, plan, most, flip=flip, angle=angle)
        joined = np.sort(np.concatenate(groups))
        assert (joined == np.unique(owner)).all()
        for group in groups:
            assert np.isin(owner, group).sum() <= most or len(group) == 1
        assert (len(groups) == 1) == (most >= 400)
    if 100 <= most < 400:  # the two passes cut differently (at 60 every territory is a region of its own)
        first, second = (split_regions(lazy_grid, plan, most, flip=f) for f in (False, True))
        assert sorted(map(tuple, first)) != sorted(map(tuple, second))
        turned = [split_regions(lazy_grid, plan, most, angle=a) for a in (0.6, 1.2)]  # (fixed centres' passes)
        assert any(sorted(map(tuple, t)) != sorted(map(tuple, first)) for t in turned)


@pytest.mark.parametrize("afresh", [False, True])
def test_regional_plans_are_valid_and_each_cheaper(lazy_grid, monkeypatch, afresh):
    import model.regions as regions

    monkeypatch.setattr(regions, "REGION_UNITS", 150)
    plan = _poor_plan(lazy_grid)
    assert plan_violations(lazy_grid, plan) == []
    cost = lazy_grid.cost()
    seen = [plan]
    asked = []

    def fresh(region, deadline):
        asked.append(region.geography.n)
        return tree_first_plan(region, SolverOptions(seed=2), max(0.0, deadline - time.perf_counter()), HighsEngine())

    better = improve_regions(lazy_grid, HighsEngine(), plan, None, time.perf_counter() + 60, on_plan=seen.append,
                             fresh=fresh if afresh else None)
    assert bool(asked) == afresh and all(n <= 150 for n in asked)
    assert len(seen) >= 2 and better is seen[-1]
    for before, after in zip(seen, seen[1:]):
        assert plan_violations(lazy_grid, after) == []
        assert after.objective(cost) < before.objective(cost)
        # One region at a time: territories outside it keep their units.
        changed = np.asarray(before.centre_of) != np.asarray(after.centre_of)
        touched = np.unique(np.asarray(before.centre_of)[changed])
        assert len(touched) < lazy_grid.count


def test_ctrl_c_between_regions_keeps_the_national_plan(lazy_grid, monkeypatch):
    import model.regions as regions

    monkeypatch.setattr(regions, "REGION_UNITS", 150)
    plan = _poor_plan(lazy_grid)
    seen = []

    def stop(found: Plan) -> None:
        seen.append(found)
        interrupt.request()

    with interrupt.stop_on_ctrl_c(), pytest.raises(SearchInterrupted) as stopped:
        improve_regions(lazy_grid, HighsEngine(), plan, None, time.perf_counter() + 60, on_plan=stop)
    assert stopped.value.plan == seen[-1]
    assert len(stopped.value.plan.centre_of) == lazy_grid.geography.n
    assert plan_violations(lazy_grid, stopped.value.plan) == []


def test_fixed_centres_keep_their_centres_and_gain_by_windows(lazy_grid):
    from dataclasses import replace

    plan = _poor_plan(lazy_grid)
    fixed = replace(lazy_grid, centres=tuple(sorted(set(plan.centre_of))))
    better = improve_regions(fixed, HighsEngine(), plan, None, time.perf_counter() + 10)
    assert plan_violations(fixed, better) == []
    assert set(better.centre_of) == set(fixed.centres)  # reps' homes stay where they are
    assert better.objective(fixed.cost()) < plan.objective(fixed.cost())


def test_a_territory_above_the_cap_gets_no_matrix_of_its_own(lazy_grid, monkeypatch):
    import model.regions as regions

    monkeypatch.setattr(regions, "REGION_UNITS", 30)  # every territory holds about 50 units
    built = []
    monkeypatch.setattr(regions, "restrict", lambda *args, **kw: built.append(1))
    plan = _poor_plan(lazy_grid)
    assert improve_regions(lazy_grid, HighsEngine(), plan, None, time.perf_counter() + 10) is plan
    assert built == []
