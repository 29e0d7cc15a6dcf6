"""The large-instance parts: distances on demand, the fast checker, location-allocation and the
group repair, each against a plain reference on small or real instances."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import geodata.build as build
from geodata.distances import LazyPairs
from model.check import _connected, pieces_by_label, plan_violations
from model.plan import Plan
import model.first_plans as first_plans
import model.search as search
from model.allocation import allocate, drift, lp_descent, relocate
from model.search import solve_territories, tree_first_plan
from model.transport import balanced_assignment, fixed_centre_bound, transport_lp
from model.spec import SearchInterrupted
from solvers import SolverOptions, interrupt
from solvers.result import SolveResult, Termination
from solvers.highs import HighsEngine
from tests.conftest import grid_frame, grid_spec
from tests.model.test_tree_partition import georgia_spec  # noqa: F401  (fixture)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.integers(1, 6), cols=st.integers(1, 6), k=st.integers(1, 5), seed=st.integers(0, 10_000))
def test_pieces_by_label_agrees_with_breadth_first_search(rows, cols, k, seed):
    spec = grid_spec(rows, cols, [1] * (rows * cols), 1, None)
    labels = np.random.default_rng(seed).integers(0, k, size=rows * cols)
    pieces = pieces_by_label(labels, spec.geography.edges)
    for label in np.unique(labels):
        members = [int(i) for i in np.flatnonzero(labels == label)]
        assert (pieces[int(label)] == 1) == _connected(members, spec.geography.edges)


def test_lazy_distances_give_the_same_plan_as_the_matrix(monkeypatch):
    """A 5 x 6 grid solved with a stored matrix and with distances computed on demand: same objective."""
    values = np.random.default_rng(4).integers(1, 9, size=30)
    dense = grid_spec(5, 6, values, 3, 0.2)
    monkeypatch.setattr(build, "DENSE_MAX_UNITS", 10)
    monkeypatch.setattr(first_plans, "TREE_UNITS", 10)  # the path lazy geographies take (free centres)
    lazy = grid_spec(5, 6, values, 3, 0.2)
    assert isinstance(lazy.geography.distance, LazyPairs)
    assert np.allclose(lazy.geography.distance[:, :], dense.geography.distance)
    options = SolverOptions(time_limit=20, seed=0)
    a = solve_territories(dense, HighsEngine(), options)
    b = solve_territories(lazy, HighsEngine(), options)
    assert plan_violations(lazy, b.plan) == []
    assert b.result.bound <= b.result.objective * (1 + 1e-9)
    # The lazy run has no pair fixing and a weaker bound, but the plans are found the same way.
    assert b.plan.objective(lazy.cost()) <= a.plan.objective(dense.cost()) * 1.10


def test_allocation_keeps_plans_valid_and_never_worse(georgia_spec):  # noqa: F811
    plan = tree_first_plan(georgia_spec, SolverOptions(seed=1), 30)
    before = plan.objective(georgia_spec.cost())
    owner = balanced_assignment(georgia_spec, HighsEngine(), np.asarray(plan.centre_of))
    assert owner is not None and set(np.unique(owner)) <= set(plan.centre_of)
    again = allocate(georgia_spec, HighsEngine(), plan, None, time.perf_counter() + 30)
    assert plan_violations(georgia_spec, again) == []
    assert again.objective(georgia_spec.cost()) <= before + 1e-6


def _lp_value(spec, labels: np.ndarray) -> float:
    rows, to, share = transport_lp(spec, HighsEngine(), labels, margin=0.0)
    return float((spec.cost()[rows, to] * share).sum())


def test_lp_descent_moves_centres_to_a_cheaper_lp(georgia_spec):  # noqa: F811
    """From a spanning-tree plan (centres not yet allocated) on the Georgia counties: the descent's
    units go to k centres that hold themselves, and the LP at those centres is cheaper."""
    plan = tree_first_plan(georgia_spec, SolverOptions(seed=1), 30)  # no engine: no location-allocation
    start = np.asarray(plan.centre_of)
    owner = lp_descent(georgia_spec, HighsEngine(), start, None, time.perf_counter() + 60)
    centres = np.unique(owner)
    assert len(centres) == georgia_spec.count and (owner[centres] == centres).all()
    assert _lp_value(georgia_spec, owner) < _lp_value(georgia_spec, start) * (1 - 1e-3)


def test_relocation_gives_a_valid_cheaper_plan(georgia_spec):  # noqa: F811
    """Moving the centres on the LP, then rounding and repairing: a plan the checker accepts, cheaper than
    the spanning-tree plan it started from; from its own result it changes nothing for the worse."""
    plan = tree_first_plan(georgia_spec, SolverOptions(seed=1), 30)
    cost = georgia_spec.cost()
    seen = []
    moved = relocate(georgia_spec, HighsEngine(), plan, None, time.perf_counter() + 60, on_plan=seen.append)
    assert plan_violations(georgia_spec, moved) == []
    assert moved.objective(cost) < plan.objective(cost) and seen == [moved]
    again = relocate(georgia_spec, HighsEngine(), moved, None, time.perf_counter() + 60)
    assert plan_violations(georgia_spec, again) == [] and again.objective(cost) <= moved.objective(cost)


@pytest.mark.parametrize("lazy", [False, True])
def test_drift_steps_keep_the_plan_valid_and_only_gain(lazy, monkeypatch):
    """One LP step at a time (the ZIP cells' path, distances on demand there): every plan it reports passes
    the checker and is cheaper than the one before, and the last one is what it returns."""
    if lazy:
        monkeypatch.setattr(build, "DENSE_MAX_UNITS", 100)
    values = np.random.default_rng(5).integers(1, 50, size=400)
    spec = grid_spec(20, 20, values, 8, 0.05)
    assert isinstance(spec.geography.distance, LazyPairs) == lazy
    plan = tree_first_plan(spec, SolverOptions(seed=1), 30)  # spanning-tree cuts, not yet allocated
    cost = spec.cost()
    owner = np.asarray(plan.centre_of)
    for c in np.unique(owner):  # the same territories, each centred on its costliest unit: a valid plan
        members = np.flatnonzero(owner == c)
        owner[members] = members[np.argmax(cost[np.ix_(members, members)].sum(axis=0))]
    plan = Plan(tuple(int(c) for c in owner))
    assert plan_violations(spec, plan) == []
    seen = [plan]
    moved = drift(spec, HighsEngine(), plan, None, time.perf_counter() + 60, on_plan=seen.append)
    assert len(seen) >= 2 and moved is seen[-1]
    for before, after in zip(seen, seen[1:]):
        assert plan_violations(spec, after) == []
        assert after.objective(cost) < before.objective(cost)

    def stop_after_one_step(stepped: Plan) -> None:
        interrupt.request()

    with interrupt.stop_on_ctrl_c(), pytest.raises(SearchInterrupted) as stop:  # Ctrl-C keeps the step made
        drift(spec, HighsEngine(), plan, None, time.perf_counter() + 60, on_plan=stop_after_one_step)
    assert stop.value.plan == seen[1]


def test_large_path_finds_valid_plans_on_generated_cells(monkeypatch):
    """The path used from 1,500 units (spanning trees, allocation, bound without an exact model), forced
    onto 400 generated units: a valid plan and a bound below it."""
    monkeypatch.setattr(first_plans, "TREE_UNITS", 100)
    frame = grid_frame(20, 20, np.random.default_rng(2).integers(1, 50, size=400)).rename_axis("unit")
    frame.index = frame["uid"]
    spec = grid_spec(20, 20, frame["pop"].to_numpy(), 8, 0.05)
    seen = []
    outcome = solve_territories(spec, HighsEngine(), SolverOptions(time_limit=15, seed=0), progress=seen.append)
    assert outcome.plan is not None and plan_violations(spec, outcome.plan) == []
    assert outcome.result.bound is not None and 0 < outcome.result.bound <= outcome.result.objective
    assert outcome.first_plan_seconds is not None and outcome.first_plan_seconds < 15
    assert "windows" in outcome.stage_seconds  # a distance matrix, no nesting: model.star_windows ran
    # No exact model on this path: the live display still hears the heuristics' plans and the bound.
    incumbents = [p.incumbent for p in seen if p.incumbent is not None]
    assert len(incumbents) >= 2 and incumbents == sorted(incumbents, reverse=True)
    assert incumbents[-1] == pytest.approx(outcome.result.objective, rel=1e-9)
    assert any(p.bound is not None and p.bound > 0 for p in seen)


@pytest.mark.parametrize("threads", [1, 2])
def test_without_an_exact_model_the_bound_runs_beside_the_search_on_two_threads(monkeypatch, threads):
    """Too many pairs for the exact model (forced here): the Lagrangian bound takes the end of the run in one
    process, and runs in a fork beside the search with two (model.bound_aside); either way a valid plan, a
    bound below it and the time limit kept."""
    monkeypatch.setattr(first_plans, "TREE_UNITS", 100)
    monkeypatch.setattr(search, "EXACT_MAX_PAIRS", 10)
    frame = grid_frame(20, 20, np.random.default_rng(2).integers(1, 50, size=400))
    spec = grid_spec(20, 20, frame["pop"].to_numpy(), 8, 0.05)
    said = []
    outcome = solve_territories(spec, HighsEngine(), SolverOptions(time_limit=15, seed=0, threads=threads),
                                stage=said.append)
    assert outcome.plan is not None and plan_violations(spec, outcome.plan) == []
    assert outcome.result.bound is not None and 0 < outcome.result.bound <= outcome.result.objective
    assert ("bound_aside" in outcome.stage_seconds) == (threads == 2) and outcome.result.seconds < 16
    assert any("beside the search" in s for s in said) == (threads == 2)


def test_free_centres_with_locks_on_a_lazy_geography_are_refused_before_solving(monkeypatch):
    from model.precheck import precheck
    from model.spec import ModelError

    monkeypatch.setattr(build, "DENSE_MAX_UNITS", 10)
    spec = replace(grid_spec(3, 4, [1] * 12, 2, 0.5), locks=((0, 0),))
    with pytest.raises(ModelError, match="free centres and locked units"):
        precheck(spec)


def crowded_centres_spec(size: int = 30):
    """Six fixed centres crowded into a corner of a size x size grid whose potential grows to the far side,
    the far corner locked to the first centre: every territory must reach across the map."""
    values = 1 + (np.arange(size * size) % size) // 3
    centres = tuple(sorted(r * size + c for r, c in [(0, 0), (0, 2), (2, 0), (2, 2), (4, 1), (1, 4)]))
    return replace(grid_spec(size, size, values, len(centres), 0.05, centres=centres), locks=((size * size - 1, 0),))


def test_fixed_centres_start_from_the_balanced_transportation_lp():
    spec = crowded_centres_spec()
    plan, fallback = first_plans.transport_first_plan(spec, HighsEngine(), SolverOptions(seed=0), 30)
    assert plan is not None and fallback is None
    assert plan_violations(spec, plan) == []  # balanced, connected, centres and the lock kept


def test_large_fixed_centre_runs_take_the_transportation_start(monkeypatch):
    monkeypatch.setattr(search, "TRANSPORT_START_UNITS", 100)
    spec = crowded_centres_spec(20)
    said = []
    outcome = solve_territories(spec, HighsEngine(), SolverOptions(time_limit=10, seed=0), stage=said.append)
    assert outcome.plan is not None and plan_violations(spec, outcome.plan) == []
    assert any("transportation LP to the fixed centres" in s for s in said) and "windows" in outcome.stage_seconds
    assert not any("CP-SAT assigns the units to the fixed centres" in s for s in said)


def test_fixed_centre_runs_without_a_plan_still_report_the_transportation_lp_bound(monkeypatch):
    """A run that finds no plan names what any plan would cost at least: the transportation LP at the centres,
    not the few seconds' branch-and-bound bound of the exact model (US counties, 20 reps at ±10%: 3.2e11 against
    6.3e13)."""
    monkeypatch.setattr(search, "TRANSPORT_START_UNITS", 100)
    monkeypatch.setattr(search, "transport_first_plan", lambda *args, **kwargs: (None, None))
    monkeypatch.setattr(search, "first_plan", lambda *args, **kwargs: (None, None))
    weak = SolveResult(termination=Termination.TIME_LIMIT, has_solution=False, objective=None, bound=1.0, gap=None,
                       seconds=0.0, engine="highs", version="", options=SolverOptions())
    monkeypatch.setattr(search, "solve_exact", lambda *args, **kwargs: (None, weak, 0.0))
    spec = crowded_centres_spec(20)
    outcome = solve_territories(spec, HighsEngine(), SolverOptions(time_limit=10, seed=0))
    expected = fixed_centre_bound(spec, HighsEngine())
    assert outcome.plan is None and expected > 1.0
    assert outcome.result.bound == pytest.approx(expected)
    assert "transportation LP over every unit and fixed centre" in outcome.bound_method


def test_fixed_centre_plans_are_bounded_by_the_transportation_lp_at_least(monkeypatch):
    monkeypatch.setattr(search, "TRANSPORT_START_UNITS", 100)
    spec = crowded_centres_spec(20)
    outcome = solve_territories(spec, HighsEngine(), SolverOptions(time_limit=10, seed=0))
    objective = outcome.plan.objective(spec.cost())
    assert outcome.result.bound >= min(objective, fixed_centre_bound(spec, HighsEngine())) * (1 - 1e-9)


def test_the_transportation_lp_bound_keeps_each_centres_own_band():
    """A redesign's locked accounts shift each centre's band (spec.offsets); the LP must use the shifted bands, or it
    is no bound: on a line of six units with centres 0 and 3, bands [2, 2] and [4, 4] allow a plan costing 7, where
    the unshifted [3, 3] bands would force 10."""
    import itertools

    from model.check import is_valid

    spec = grid_spec(1, 6, [1] * 6, 2, 0.0, centres=(0, 3))
    spec = replace(spec, offsets=np.array([[1.0, 0, 0, -1.0, 0, 0]]))
    best = min(plan.objective(spec.cost()) for labels in itertools.product((0, 3), repeat=6)
               if labels[0] == 0 and labels[3] == 3 and is_valid(spec, plan := Plan(labels)))
    bound = fixed_centre_bound(spec, HighsEngine())
    assert bound <= best + 1e-6
    assert bound == pytest.approx(best)  # (the LP has an integral optimum here)
