"""A plan the caller already has (a trade-off point gets the main run's) is where the search starts when its
own first plan is missing or dearer, and is ignored when it breaks the scenario's rules."""

from __future__ import annotations

import pytest

import model.search as search
from model.plan import Plan
from model.search import solve_territories
from solvers import SolverOptions
from solvers.highs import HighsEngine
from tests.conftest import grid_spec
from tests.model.bruteforce import brute_force_plan

SPEC = grid_spec(3, 3, [5, 1, 4, 2, 8, 3, 6, 2, 4], 3, 0.3)


@pytest.fixture
def no_first_plan(monkeypatch):
    """The search's first stage finds nothing, as on a slow machine with a few seconds."""
    monkeypatch.setattr(search, "first_plan", lambda *args, **kwargs: (None, None))


def test_the_callers_plan_is_the_searchs_start(no_first_plan):
    optimum_plan, optimum = brute_force_plan(SPEC)
    alone = solve_territories(SPEC, HighsEngine(), SolverOptions(time_limit=10))
    assert alone.heuristic_objective is None  # nothing before the exact model
    started = solve_territories(SPEC, HighsEngine(), SolverOptions(time_limit=10), start=optimum_plan)
    assert started.heuristic_objective == pytest.approx(optimum)
    assert started.plan is not None and started.plan.objective(SPEC.cost()) == pytest.approx(optimum)


def test_a_start_that_breaks_the_rules_is_ignored(no_first_plan):
    lopsided = Plan((0, 0, 0, 0, 0, 0, 0, 1, 2))  # balance far outside ±30%
    outcome = solve_territories(SPEC, HighsEngine(), SolverOptions(time_limit=10), start=lopsided)
    assert outcome.heuristic_objective is None


def test_no_first_plan_in_its_share_draws_further_starts(monkeypatch):
    """A short limit on a slow machine: the first stage's share ends with no plan; further seeded starts run
    within the limit (North Carolina's two rules at 10 s ended with no plan before)."""
    real, calls = search.first_plan, []

    def first_fails(spec, relaxation, options, budget, seeded_only=False):
        calls.append((options.seed, budget))
        return (None, None) if len(calls) == 1 else real(spec, relaxation, options, budget, seeded_only)

    monkeypatch.setattr(search, "first_plan", first_fails)
    outcome = solve_territories(SPEC, HighsEngine(), SolverOptions(time_limit=10, seed=7))
    assert len(calls) >= 2 and calls[1][0] == 7 + search.RETRY_SEED  # another seed: other starts
    assert 2 * calls[1][1] <= search.FIRST_PLAN_SHARE * 10  # chains included, within the limit's share
    assert outcome.heuristic_objective is not None
    assert outcome.plan is not None and outcome.plan.objective(SPEC.cost()) == pytest.approx(brute_force_plan(SPEC)[1])
