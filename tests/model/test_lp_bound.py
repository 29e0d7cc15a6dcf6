"""The Lagrangian bound at the LP relaxation's first-order duals: the LP is the Hess relaxation, the bound is
valid at any number of iterations, and the search uses it on large models."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from model.fixing import path_fixing, solve_relaxation
from model.lp_bound import hess_lp, lp_dual_bound
from solvers import SolverOptions, Termination
from solvers.highs import HighsEngine
from tests.conftest import grid_spec, random_grid_specs
from tests.model.bruteforce import brute_force, brute_force_plan

ENGINE = HighsEngine()


def test_converged_duals_give_the_lp_relaxation():
    """With enough iterations the bound is the LP relaxation of the Pyomo model (first rule, no contiguity),
    and never above it: the Lagrangian dual's optimum is that LP."""
    spec = grid_spec(3, 4, [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8], 3, 0.2)
    lp = solve_relaxation(spec, ENGINE, SolverOptions()).value
    everything = np.ones((spec.geography.n,) * 2, dtype=bool)
    at_lp = lp_dual_bound(spec, ENGINE, 10 * lp, everything, time_limit=30, iterations=100_000, ascent_seconds=0)
    assert at_lp is not None
    assert lp * (1 - 1e-3) <= at_lp.bound <= lp * (1 + 1e-6)


def test_the_matrix_is_the_hess_relaxation():
    """Solved exactly, the matrix has the Pyomo relaxation's optimum (one row per unit, per off-centre
    pair, two per centre, one for k)."""
    from scipy.optimize import linprog

    spec = grid_spec(2, 4, [5, 1, 1, 5, 1, 3, 3, 1], 2, 0.1)
    n = spec.geography.n
    lp = hess_lp(spec, np.ones((n, n), dtype=bool))
    assert lp.matrix.shape == (n + n * (n - 1) + 2 * n + 1, n * n)
    lower, upper = lp.row_bounds
    eq = lower == upper
    le = np.isfinite(upper) & ~eq
    ge = np.isfinite(lower) & ~eq
    a = lp.matrix.toarray()
    res = linprog(lp.cost, A_ub=np.vstack([a[le], -a[ge]]), b_ub=np.concatenate([upper[le], -lower[ge]]),
                  A_eq=a[eq], b_eq=lower[eq], bounds=list(zip(*lp.col_bounds)), method="highs")
    assert res.status == 0
    assert res.fun * lp.scale == pytest.approx(solve_relaxation(spec, ENGINE, SolverOptions()).value, rel=1e-7)


def test_a_unit_without_pairs_has_no_lp():
    spec = grid_spec(2, 3, [1] * 6, 2, 0.2)
    allowed = np.ones((6, 6), dtype=bool)
    allowed[4, :] = False
    assert hess_lp(spec, allowed) is None


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=random_grid_specs(min_rows=2, min_k=2))
def test_bound_at_few_iterations_is_valid_and_keeps_an_optimal_plan(spec):
    """Duals after a handful of first-order iterations are far from optimal: the bound and its fixing
    must still hold against brute force."""
    found = brute_force_plan(spec)
    if found is None:
        return
    plan, optimum = found
    used = (np.arange(spec.geography.n), np.asarray(plan.centre_of))
    possible = path_fixing(spec)
    for iterations in (5, 200):
        at_lp = lp_dual_bound(spec, ENGINE, optimum, possible, time_limit=10, iterations=iterations, ascent_seconds=0.2)
        if at_lp is None:
            continue  # path fixing left some unit without a centre it could open
        assert at_lp.bound <= optimum * (1 + 1e-9) + 1e-9
        assert at_lp.allowed[used].all()


def test_duals_come_back_from_a_presolvable_lp():
    """HiGHS presolve would leave no duals for an LP stopped by its iteration limit: they must come back."""
    spec = grid_spec(3, 3, [1, 2, 3, 4, 5, 6, 7, 8, 9], 3, 0.2)
    lp = hess_lp(spec, np.ones((9, 9), dtype=bool))
    duals = ENGINE.lp_row_duals(lp.cost, lp.matrix, lp.col_bounds, lp.row_bounds, iterations=3)
    assert duals is not None and duals.shape == (lp.matrix.shape[0],) and np.isfinite(duals).all()


def test_the_search_takes_the_lp_bound_on_large_models(monkeypatch):
    """Without the exact LP relaxation and above PROOF_PAIRS_MIN pairs the search runs the stage, and the
    plan is still proven optimal against brute force."""
    import model.search as search
    from model.search import solve_territories

    spec = grid_spec(3, 3, [1, 2, 3, 4, 5, 6, 7, 8, 9], 3, 0.2)
    calls = []
    real = search.lp_dual_bound

    def spy(*args, **kwargs):
        found = real(*args, **kwargs)
        calls.append(found)
        return found

    monkeypatch.setattr(search, "lp_dual_bound", spy)
    monkeypatch.setattr(search, "LP_FIXING_MAX_PAIRS", 0)
    for threshold, runs in ((0, 1), (10**9, 0)):
        monkeypatch.setattr(search, "PROOF_PAIRS_MIN", threshold)
        calls.clear()
        outcome = solve_territories(spec, ENGINE, SolverOptions(time_limit=30, rel_gap=1e-9))
        assert len(calls) == runs
        assert all(found is not None and found.bound <= brute_force(spec) * (1 + 1e-9) for found in calls)
        assert outcome.result.termination is Termination.OPTIMAL
        assert outcome.plan.objective(spec.cost()) == pytest.approx(brute_force(spec), rel=1e-6)
