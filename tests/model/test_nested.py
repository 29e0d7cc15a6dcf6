"""Nested plans: grouping a plan's territories bottom up (model.nested.nest) and cutting levels top down."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.check import plan_violations
from model.kpis import level_kpis
from model.plan import Plan
from model.spec import BalanceRule
from model.nested import level_spec, nest, territory_graph, top_down_partition
from model.first_plans import tree_first_plan
from model.tree_partition import tree_partition
from solvers import SolverOptions
from solvers.highs import HighsEngine
from tests.conftest import grid_spec
from tests.model.test_tree_partition import as_plan, georgia_spec, nested  # noqa: F401  (fixture)

LEVELS = [(2, 2), (2, 3), (3, 2), (2, 2, 2), (4, 2)]


def nested_grid(rows, cols, seed, levels):
    values = np.random.default_rng(seed).integers(1, 4, size=rows * cols)
    spec = grid_spec(rows, cols, values, int(np.prod(levels)), 0.3)
    return replace(spec, levels=tuple((f"level{d}", c) for d, c in enumerate(levels[:-1])))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.integers(3, 8), cols=st.integers(3, 8), seed=st.integers(0, 10_000), levels=st.sampled_from(LEVELS))
def test_grouping_keeps_the_territories_and_is_valid_at_every_level(rows, cols, seed, levels):
    spec = nested_grid(rows, cols, seed, levels)
    flat = replace(spec, levels=())
    part = tree_partition(flat, seed=seed)  # one attempt: it may find nothing
    if part is None:
        return
    plan = as_plan(flat, part)
    grouped = nest(spec, plan, seed, time.perf_counter() + 5)
    if grouped is None:  # the territories' graph may have no such grouping
        return
    assert grouped.centre_of == plan.centre_of  # the territories are untouched
    assert plan_violations(spec, grouped) == []


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.integers(4, 8), cols=st.integers(4, 8), seed=st.integers(0, 10_000), levels=st.sampled_from(LEVELS))
def test_top_down_partitions_are_valid_at_every_level(rows, cols, seed, levels):
    spec = nested_grid(rows, cols, seed, levels)
    part = top_down_partition(spec, HighsEngine(), seed, time.perf_counter() + 5)
    if part is None:
        return
    assert plan_violations(spec, as_plan(spec, part)) == []


def test_territory_graph_has_one_node_per_territory_and_their_borders():
    spec = grid_spec(2, 4, [1] * 8, 2, None)  # units 0-3 on top, 4-7 below
    plan = as_plan(spec, type("P", (), {"centre_of": np.array([1, 1, 2, 2, 1, 1, 2, 2]), "labels": (None,)})())
    graph = territory_graph(spec, plan)
    assert graph.geography.n == 2 and graph.geography.edges == ((0, 1),)
    assert list(graph.weight) == [4.0, 4.0]


def test_group_bands_are_the_territories_bands_added_up_narrowed_to_the_middle(georgia_spec):  # noqa: F811
    spec = nested(georgia_spec)
    rule, regions = spec.balance[0], level_spec(spec, 0)
    mean = (rule.lower + rule.upper) / 2
    assert regions.count == 2 and not regions.levels
    assert rule.lower * 4 < regions.balance[0].lower < 4 * mean < regions.balance[0].upper < rule.upper * 4


def test_nesting_georgia_costs_nothing_when_the_territories_can_be_grouped(georgia_spec):  # noqa: F811
    """2 regions x 2 districts x 2 territories: the nested first plan keeps the territories of the
    best flat plan, so it costs no more than the first plan without nesting."""
    spec = nested(georgia_spec)
    options = SolverOptions(seed=0)
    with_levels = tree_first_plan(spec, options, 30, HighsEngine())
    without = tree_first_plan(replace(spec, levels=()), options, 30, HighsEngine())
    assert plan_violations(spec, with_levels) == []
    cost = spec.cost()
    assert with_levels.objective(cost) <= without.objective(cost) * (1 + 1e-9)


def test_moving_centres_on_the_lp_keeps_every_level_valid(georgia_spec):  # noqa: F811
    """Centres moved on the LP inside their regions (model.allocation.relocate with the groups as zones):
    Georgia, 10 territories in 2 regions, from a spanning-tree plan; the plan stays valid at every level,
    each unit's centre stays in its region, and it gets cheaper."""
    from model.allocation import relocate

    spec = replace(georgia_spec, levels=(("region", 2),))
    plan = tree_first_plan(spec, SolverOptions(seed=1), 30)  # no engine: no location-allocation yet
    assert plan_violations(spec, plan) == []
    zone = np.asarray(plan.groups[-1])
    moved = relocate(spec, HighsEngine(), plan, zone, time.perf_counter() + 60)
    assert plan_violations(spec, moved) == [] and moved.groups == plan.groups
    assert (zone[np.asarray(moved.centre_of)] == zone).all()  # each unit's centre lies in its group
    assert moved.objective(spec.cost()) < plan.objective(spec.cost())


def test_districts_planned_afresh_keep_their_units_and_every_level(georgia_spec):  # noqa: F811
    """model.regions.improve_districts: Georgia, 9 territories (±15%) in 3 districts, from a spanning-tree
    plan. Each district keeps its units (so regions and districts stay as they were), its territories
    are re-planned inside it, the plan stays valid at every level and gets cheaper; planning each district
    afresh as well does at least as well as moving centres alone."""
    from model.regions import improve_districts

    mean = float(georgia_spec.geography.attributes["TotPop90"].sum()) / 9
    spec = replace(georgia_spec, count=9, balance=(BalanceRule("TotPop90", 0.85 * mean, 1.15 * mean, 0.15),),
                   levels=(("district", 3),))
    plan = tree_first_plan(spec, SolverOptions(seed=0), 30)  # no engine: no location-allocation yet
    assert plan is not None and plan_violations(spec, plan) == []
    engine, cost = HighsEngine(), spec.cost()

    def fresh(sub, deadline):
        return tree_first_plan(sub, SolverOptions(seed=0), max(0.0, deadline - time.perf_counter()), engine)

    moved = improve_districts(spec, engine, plan, time.perf_counter() + 60)
    anew = improve_districts(spec, engine, plan, time.perf_counter() + 60, fresh=fresh)
    for better in (moved, anew):
        assert plan_violations(spec, better) == [] and better.groups == plan.groups
        district = np.asarray(plan.groups[-1])
        assert (district[np.asarray(better.centre_of)] == district).all()  # each unit's centre in its district
        assert better.objective(cost) < plan.objective(cost)
    assert anew.objective(cost) <= moved.objective(cost) * (1 + 1e-9)


def test_live_progress_reports_incumbents_and_bounds_from_every_stage(georgia_spec):  # noqa: F811
    """The display hears every better plan and bound of a nested run, whichever stage finds them."""
    from model.search import solve_territories

    seen = []
    outcome = solve_territories(nested(georgia_spec), HighsEngine(), SolverOptions(time_limit=8, seed=0),
                                progress=seen.append)
    incumbents = [p.incumbent for p in seen if p.incumbent is not None]
    bounds = [p.bound for p in seen if p.bound is not None]
    assert incumbents and bounds
    assert incumbents == sorted(incumbents, reverse=True)  # only better plans are reported
    assert incumbents[-1] == pytest.approx(outcome.result.objective, rel=1e-9)
    assert all(p.bound <= p.incumbent for p in seen if p.bound is not None and p.incumbent is not None)
    assert [p.elapsed for p in seen] == sorted(p.elapsed for p in seen)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])  # ~5 s each
@given(seed=st.integers(0, 10_000), tol=st.sampled_from([0.2, 0.4, 0.8]))
def test_nested_optimum_matches_brute_force(seed, tol):
    """2 x 4 grid, 2 regions x 2 territories: a plan proven optimal is the nested optimum by brute force
    (every plan, every grouping); the bound never exceeds it; no plan is claimed where none exists."""
    from model.search import solve_territories
    from solvers import Termination
    from tests.model.bruteforce import brute_force_plan

    values = np.random.default_rng(seed).integers(1, 5, size=8)
    spec = replace(grid_spec(2, 4, values, 4, tol), levels=(("region", 2),))
    truth = brute_force_plan(spec)
    outcome = solve_territories(spec, HighsEngine(), SolverOptions(time_limit=20, seed=0))
    if truth is None:
        assert outcome.plan is None
        return
    optimum = truth[1]
    assert outcome.plan is not None and plan_violations(spec, outcome.plan) == []
    assert outcome.result.bound <= optimum * (1 + 1e-6) + 1e-6
    if outcome.result.termination is Termination.OPTIMAL:
        assert abs(outcome.result.objective - optimum) <= 1e-6 * max(1.0, optimum)


def test_group_totals_count_what_the_territories_hold_whatever_their_units():
    """A redesign: accounts locked to a rep add to the territory's total (spec.offsets) and so to its
    region's. Here every territory reaches its band only with them: the check and levels.csv must count them."""
    spec = grid_spec(1, 4, [1, 1, 1, 1], 4, None, centres=(0, 1, 2, 3))
    spec = replace(spec, balance=(BalanceRule("pop", 1.4, 1.6),), offsets=np.full((1, 4), 0.5),
                   levels=(("region", 2),))
    plan = Plan((0, 1, 2, 3), groups=((0, 0, 1, 1),))
    assert plan_violations(spec, plan) == []  # each region holds 2 + 1 locked = 3, inside [2.8, 3.2]
    table = level_kpis(spec, plan)
    assert list(table["pop"]) == [3.0, 3.0] and list(table["pop_target"]) == [3.0, 3.0]
    assert table["pop_within_bounds"].all()
    unlocked = replace(spec, offsets=np.array([[0.5, 0.5, 0.5, 0.9]]), balance=(BalanceRule("pop", 1.4, 1.9),))
    assert plan_violations(unlocked, plan) == []
    tight = replace(unlocked, balance=(BalanceRule("pop", 1.4, 1.6),))  # 1.9 is over 1.6: territory and region fail
    assert any(p.startswith("region R02 (holding unit u2): pop = ") for p in plan_violations(tight, plan))  # as in the outputs
