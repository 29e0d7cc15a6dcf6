"""The Lagrangian bound and both fixings are valid: checked against brute force on tiny grids."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from model.fixing import path_fixing, reduced_cost_fixing, solve_relaxation
from model.lagrangian import lagrangian_bound
from solvers.highs import HighsEngine
from solvers import SolverOptions
from tests.conftest import grid_spec, random_grid_specs
from tests.model.bruteforce import brute_force_plan


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=random_grid_specs(min_rows=2, min_k=2))
def test_bound_never_exceeds_optimum_and_fixing_keeps_an_optimal_plan(spec):
    found = brute_force_plan(spec)
    if found is None:
        return
    plan, optimum = found
    used = (np.arange(spec.geography.n), np.asarray(plan.centre_of))
    possible = path_fixing(spec)  # pairs no connected, balanced territory can hold
    assert possible[used].all()
    lag = lagrangian_bound(spec, upper=optimum, iterations=200, possible=possible)
    assert lag.bound <= optimum * (1 + 1e-9) + 1e-9
    assert lag.allowed[used].all()
    lp = reduced_cost_fixing(spec, solve_relaxation(spec, HighsEngine(), SolverOptions()), optimum)
    assert lp is not None and lp.lp_bound <= optimum * (1 + 1e-9) + 1e-9
    assert lp.allowed[used].all()


def test_bound_is_tight_enough_to_fix_on_a_real_instance():
    """On a 3 x 4 grid with an easy optimum, fixing removes pairs (it is not a no-op)."""
    spec = grid_spec(3, 4, [1] * 12, 2, 0.2)
    plan, optimum = brute_force_plan(spec)
    lag = lagrangian_bound(spec, upper=optimum, iterations=300)
    assert lag.allowed.sum() < spec.geography.n ** 2
    assert lag.bound > 0


def test_a_stopped_lp_is_not_used_for_fixing():
    """An LP cut short by its time limit has no valid reduced costs: no relaxation is returned."""
    from dataclasses import replace as dc_replace

    from solvers.result import Termination

    class StoppedEngine:
        def solve(self, model, options, **kwargs):
            real = HighsEngine().solve(model, options, **kwargs)
            return dc_replace(real, termination=Termination.TIME_LIMIT)

    spec = grid_spec(2, 3, [1] * 6, 2, 0.2)
    assert solve_relaxation(spec, HighsEngine(), SolverOptions()) is not None
    assert solve_relaxation(spec, StoppedEngine(), SolverOptions()) is None


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=random_grid_specs(min_rows=2, min_k=2))
def test_the_fixed_centre_lp_bound_is_the_transportation_lp_and_below_the_optimum(spec):
    """model.transport.fixed_centre_bound (the bound of fixed-centre runs without a distance matrix) against brute
    force, and against the same LP solved by scipy (every unit's shares sum to 1, each territory's total in band)."""
    from dataclasses import replace

    from scipy.optimize import linprog

    from model.transport import fixed_centre_bound

    spec = replace(spec, centres=tuple(range(0, spec.geography.n, max(1, spec.geography.n // spec.count)))[: spec.count])
    found = brute_force_plan(spec)
    bound = fixed_centre_bound(spec, HighsEngine())
    if bound is None:  # no fractional assignment meets the band: no plan either
        assert found is None
        return
    n, k = spec.geography.n, spec.count
    cost = spec.cost()[:, list(spec.centres)]
    v = spec.geography.attributes[spec.balance[0].attribute]
    rule = spec.balance[0]
    each_once = np.kron(np.eye(n), np.ones(k))
    totals = np.kron(v, np.eye(k))
    fixed = [(1, 1) if i == c else (0, 0) if i in spec.centres else (0, 1) for i in range(n) for c in spec.centres]
    lp = linprog(cost.ravel(), A_ub=np.vstack([totals, -totals]),
                 b_ub=np.concatenate([np.full(k, rule.upper), np.full(k, -rule.lower)]),
                 A_eq=each_once, b_eq=np.ones(n), bounds=fixed)
    assert lp.status == 0 and np.isclose(bound, lp.fun, rtol=1e-6, atol=1e-6)
    if found is not None:
        assert bound <= found[1] * (1 + 1e-9) + 1e-9
