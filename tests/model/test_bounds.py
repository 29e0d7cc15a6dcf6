"""The Lagrangian bound and both fixings are valid: checked against brute force on tiny grids."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
@given(spec=random_grid_specs(min_rows=2, min_k=2), limited=st.booleans())
def test_the_fixed_centre_lp_bound_is_the_transportation_lp_and_below_the_optimum(spec, limited):
    """model.transport.fixed_centre_bound (the bound of fixed-centre runs without a distance matrix) against brute
    force, and against the same LP solved by scipy (every unit's shares sum to 1, each territory's total in band,
    no pair whose lightest path from the centre is above the maximum, nor beyond max_distance if set)."""
    from dataclasses import replace

    from scipy.optimize import linprog

    from model.fixing import paths_fit
    from model.transport import fixed_centre_bound

    spec = replace(spec, centres=tuple(range(0, spec.geography.n, max(1, spec.geography.n // spec.count)))[: spec.count])
    if limited:
        spec = replace(spec, max_distance=float(np.median(spec.geography.distance[:, list(spec.centres)])))
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
    fits = paths_fit(spec, np.asarray(spec.centres))
    if limited:
        fits &= spec.geography.distance[:, list(spec.centres)] <= spec.max_distance
    fixed = [(1, 1) if i == c else (0, 0) if i in spec.centres or not fits[i, t] else (0, 1)
             for i in range(n) for t, c in enumerate(spec.centres)]
    lp = linprog(cost.ravel(), A_ub=np.vstack([totals, -totals]),
                 b_ub=np.concatenate([np.full(k, rule.upper), np.full(k, -rule.lower)]),
                 A_eq=each_once, b_eq=np.ones(n), bounds=fixed)
    assert lp.status == 0 and np.isclose(bound, lp.fun, rtol=1e-6, atol=1e-6)
    if found is not None:
        assert bound <= found[1] * (1 + 1e-9) + 1e-9


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=random_grid_specs(min_rows=2, min_k=2), slack=st.sampled_from([0.0, 0.05, 0.3]), limited=st.booleans())
def test_fixing_at_fixed_centres_keeps_every_plan_under_the_incumbent(spec, slack, limited):
    """model.transport.fixed_centre_fixing (reduced costs summed along the lightest path from the centre) against
    every plan of a tiny grid, with and without a distance limit: each valid plan costing at most the incumbent keeps
    all its pairs, the LP is below the optimum, and fixing removes pairs at all on some grids (test below)."""
    from dataclasses import replace

    from model.transport import fixed_centre_fixing

    spec = replace(spec, centres=tuple(range(0, spec.geography.n, max(1, spec.geography.n // spec.count)))[: spec.count])
    if limited:
        spec = replace(spec, max_distance=float(np.median(spec.geography.distance[:, list(spec.centres)])))
    plans = _every_fixed_centre_plan(spec)
    if not plans:
        return
    optimum = min(value for _, value in plans)
    upper = optimum * (1 + slack)
    fixing = fixed_centre_fixing(spec, HighsEngine(), upper)
    assert fixing is not None and fixing.lp_bound <= optimum * (1 + 1e-9) + 1e-9
    for centre_of, value in plans:
        if value <= upper:
            assert fixing.allowed[np.arange(spec.geography.n), centre_of].all()


def test_fixing_at_fixed_centres_removes_pairs():
    """On a 3 x 4 grid at two corner centres (every path within the maximum, so no pair is dropped for balance),
    fixing against a plan 60% above the optimum drops pairs by summing the reduced costs along the paths, where the
    pairs' own reduced costs (contiguity off) drop none."""
    from dataclasses import replace

    from model.transport import fixed_centre_fixing, fixed_centre_pairs

    spec = replace(grid_spec(3, 4, [1] * 12, 2, 0.2), centres=(0, 11))
    assert len(fixed_centre_pairs(spec)[0]) == 12 * 2
    upper = 1.6 * min(value for _, value in _every_fixed_centre_plan(spec))
    fixing = fixed_centre_fixing(spec, HighsEngine(), upper)
    plain = fixed_centre_fixing(replace(spec, contiguity=False), HighsEngine(), upper)
    assert fixing is not None and plain is not None
    assert fixing.kept < plain.kept <= 12 * 2


def _every_fixed_centre_plan(spec) -> list[tuple[np.ndarray, float]]:
    """Every valid plan at the spec's fixed centres (each unit to one centre, each centre to itself) and its cost."""
    import itertools

    from model.check import is_valid
    from model.plan import Plan

    centres, n = list(spec.centres), spec.geography.n
    found = []
    for owners in itertools.product(range(len(centres)), repeat=n):
        if any(owners[c] != t for t, c in enumerate(centres)):
            continue
        plan = Plan(tuple(centres[t] for t in owners))
        if is_valid(spec, plan):
            found.append((np.asarray(plan.centre_of), plan.objective(spec.cost())))
    return found
