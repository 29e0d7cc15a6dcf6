"""Spanning-tree partitions (the first plan of large and nested problems), the nesting check, and the
large-instance Lagrangian bound (weak-duality knapsacks) against brute force."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import model.lagrangian as lagrangian
from model.check import plan_violations
from model.plan import Plan
from model.search import solve_territories
from model.spec import BalanceRule
from model.tree_partition import tree_partition
from solvers import SolverOptions
from solvers.highs import HighsEngine
from tests.conftest import grid_spec, random_grid_specs
from tests.model.bruteforce import brute_force_plan


def as_plan(spec, part) -> Plan:
    return Plan(tuple(int(c) for c in part.centre_of), tuple(tuple(int(g) for g in lab) for lab in part.labels[:-1]))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.integers(3, 8), cols=st.integers(3, 8), seed=st.integers(0, 10_000),
       levels=st.sampled_from([(2,), (3,), (4,), (2, 2), (2, 3), (3, 2), (2, 2, 2)]))
def test_every_partition_found_is_valid_at_every_level(rows, cols, seed, levels):
    k = int(np.prod(levels))
    values = np.random.default_rng(seed).integers(1, 4, size=rows * cols)
    spec = grid_spec(rows, cols, values, k, 0.25)
    if len(levels) > 1:
        spec = replace(spec, levels=tuple((f"level{d}", c) for d, c in enumerate(levels[:-1])))
    part = tree_partition(spec, spec.level_counts(), seed=seed)  # one attempt: it may find nothing
    if part is None:
        return
    assert plan_violations(spec, as_plan(spec, part)) == []


def test_georgia_counties_in_ten_balanced_contiguous_parts(georgia_spec):
    part = tree_partition(georgia_spec, seed=3, deadline=time.perf_counter() + 30)
    assert part is not None and plan_violations(georgia_spec, as_plan(georgia_spec, part)) == []
    again = tree_partition(georgia_spec, seed=3, deadline=time.perf_counter() + 30)
    assert np.array_equal(part.centre_of, again.centre_of)  # same seed, same partition


def test_nested_georgia_regions_districts_territories(georgia_spec):
    """2 regions x 2 districts x 2 territories, ±10%: every level balanced and contiguous."""
    spec = nested(georgia_spec)
    part = tree_partition(spec, spec.level_counts(), seed=0, deadline=None)
    plan = as_plan(spec, part)
    assert plan_violations(spec, plan) == []
    region, district = (np.asarray(g) for g in plan.groups)
    assert len(set(region)) == 2 and len(set(district)) == 4
    for d in set(district):
        assert len(set(region[district == d])) == 1  # each district inside one region
    for c in set(plan.centre_of):
        assert len(set(district[np.asarray(plan.centre_of) == c])) == 1


def test_the_checker_names_broken_nesting(georgia_spec):
    spec = nested(georgia_spec)
    plan = as_plan(spec, tree_partition(spec, spec.level_counts(), seed=0))
    region, district = (list(g) for g in plan.groups)
    centre = plan.centre_of[0]
    moved = [i for i, c in enumerate(plan.centre_of) if c == centre][:1]
    other = next(d for d in set(district) if d != district[moved[0]])
    district[moved[0]] = other
    broken = plan_violations(spec, replace(plan, groups=(tuple(region), tuple(district))))
    assert any("spans" in p for p in broken)
    assert any("district" in p for p in broken)
    assert "nesting levels" in plan_violations(spec, replace(plan, groups=()))[0]


def test_nested_search_writes_a_valid_plan_with_a_bound(georgia_spec):
    spec = nested(georgia_spec)
    outcome = solve_territories(spec, HighsEngine(), SolverOptions(time_limit=15, seed=0))
    assert outcome.plan is not None and plan_violations(spec, outcome.plan) == []
    assert outcome.result.bound is not None and outcome.result.bound <= outcome.result.objective
    assert "nesting" in outcome.bound_method


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=random_grid_specs(min_rows=2, min_k=2))
def test_weak_duality_knapsacks_give_a_valid_bound_and_fixing(spec, monkeypatch_module):
    """The large-instance knapsacks (sorted over a few nearest units, valued over all by weak duality),
    forced onto tiny grids with only 3 nearest units sorted: still a valid bound, still safe fixing."""
    found = brute_force_plan(spec)
    if found is None:
        return
    plan, optimum = found
    lag = lagrangian.lagrangian_bound(spec, upper=optimum, iterations=200)
    assert lag.bound <= optimum * (1 + 1e-9) + 1e-9
    assert lag.allowed[np.arange(spec.geography.n), np.asarray(plan.centre_of)].all()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lagrangian, "DUAL_KNAPSACK_UNITS", 1)
        mp.setattr(lagrangian, "NEAR_MIN", 3)
        yield mp


def nested(spec):
    pop = spec.geography.attributes["TotPop90"]
    mean = float(pop.sum()) / 8
    return replace(spec, count=8, balance=(BalanceRule("TotPop90", 0.9 * mean, 1.1 * mean, 0.1),),
                   levels=(("region", 2), ("district", 2)))


@pytest.fixture(scope="module")
def georgia_spec():
    import libpysal

    from geodata.build import build_geography
    from geodata.read_units import read_units
    from model.spec import TerritorySpec, balance_bounds
    from pathlib import Path

    frame = read_units(Path(libpysal.examples.get_path("G_utm.shp")), "AreaKey", ["TotPop90"], crs="EPSG:26916")
    geo = build_geography(frame, ["TotPop90"])
    lo, hi = balance_bounds(geo.attributes["TotPop90"], 10, 0.05)
    return TerritorySpec(geo, 10, (BalanceRule("TotPop90", lo, hi, 0.05),), weight=geo.attributes["TotPop90"])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=random_grid_specs(min_rows=2, min_k=2), scale=st.sampled_from([0.0, 0.5, 1.0, 3.0]))
def test_sparse_bound_on_lazy_distances_is_valid(spec, scale):
    """The bound for geographies without an n x n matrix (KD-tree pairs, distances on demand) never
    exceeds the brute-force optimum, from any start."""
    from geodata.distances import lazy_distance
    from model.lagrangian_sparse import sparse_lagrangian_bound

    found = brute_force_plan(spec)
    if found is None:
        return
    plan, optimum = found
    geo = spec.geography
    lazy, _ = lazy_distance(geo.x, geo.y, False, geo.frame.crs)
    assert np.allclose(lazy[:, :], geo.distance)
    lazy_spec = replace(spec, geography=replace(geo, distance=lazy))
    start = scale * spec.cost()[np.arange(geo.n), np.asarray(plan.centre_of)]
    bound = sparse_lagrangian_bound(lazy_spec, start, optimum, iterations=100).bound
    assert bound <= optimum * (1 + 1e-9) + 1e-9


def test_when_the_first_partitions_find_no_plan_the_search_draws_more_with_new_seeds(monkeypatch):
    """Large instances whose units come close to a territory's size can defeat the first spanning-tree
    draws; the search then keeps drawing (other seeds) instead of ending without a plan."""
    import model.first_plans as first_plans
    import model.search as search

    real, seeds = search.tree_first_plan, []

    def first_draws_fail(spec, options, budget, *args, **kwargs):
        seeds.append(options.seed)
        return None if len(seeds) == 1 else real(spec, options, budget, *args, **kwargs)

    monkeypatch.setattr(first_plans, "TREE_UNITS", 10)  # a 4 x 4 grid takes the large instances' path
    monkeypatch.setattr(search, "tree_first_plan", first_draws_fail)
    spec = grid_spec(4, 4, np.arange(1, 17), 4, 0.3)
    said = []
    outcome = solve_territories(spec, HighsEngine(), SolverOptions(time_limit=20, seed=3), stage=said.append)
    assert seeds == [3, 3 + search.RETRY_SEED]
    assert any("none yet" in s for s in said)
    assert outcome.plan is not None and not plan_violations(spec, outcome.plan)


def test_time_the_large_instances_bound_leaves_goes_back_to_the_plan(monkeypatch):
    """Without a distance matrix the bound gets the time left at the end; when its steps shrink to
    nothing early, the regions improve the plan in the rest (the bound does not depend on the plan)."""
    import model.first_plans as first_plans
    from geodata.distances import lazy_distance

    monkeypatch.setattr(first_plans, "TREE_UNITS", 10)
    spec = grid_spec(6, 6, np.random.default_rng(5).integers(1, 9, size=36), 4, 0.3)
    geo = spec.geography
    spec = replace(spec, geography=replace(geo, distance=lazy_distance(geo.x, geo.y, False, geo.frame.crs)[0]))
    said = []
    started = time.perf_counter()
    outcome = solve_territories(spec, HighsEngine(), SolverOptions(time_limit=20), stage=said.append)
    assert sum(s.startswith("regions of at most") for s in said) == 2
    assert said.index(next(s for s in said if s.startswith("bound: Lagrangian"))) < len(said) - 2
    assert outcome.plan is not None and not plan_violations(spec, outcome.plan)
    assert outcome.result.bound <= outcome.plan.objective(spec.cost()) * (1 + 1e-9)
    assert time.perf_counter() - started < 25
