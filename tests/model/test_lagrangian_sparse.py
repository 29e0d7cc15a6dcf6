"""The large-instance Lagrangian bound: its shortcuts (nearest pairs only, sorted knapsacks only where
they can matter) give exactly the relaxation's value, computed here the plain way on a full matrix."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geodata.distances import lazy_distance
from model.check import is_valid
from model.lagrangian_sparse import _relaxation, near_pairs, sparse_lagrangian_bound
from model.search import first_plan
from solvers.result import SolverOptions
from tests.conftest import grid_spec, random_grid_specs


def lazy(spec):
    geo = spec.geography
    distance, _ = lazy_distance(geo.x, geo.y, False, geo.frame.crs)
    return replace(spec, geography=replace(geo, distance=distance))


def plain_bound(spec, lam: np.ndarray) -> float:
    """sum lam + the k smallest centre values, each centre's continuous knapsack (upper capacity only)
    filled unit by unit over the full cost matrix."""
    geo = spec.geography
    cost = spec.cost()[:, :]
    v = np.asarray(geo.attributes[spec.balance[0].attribute], dtype=float)
    values = []
    for j in range(geo.n):
        room = spec.balance[0].upper - v[j]
        if room < -1e-9:
            values.append(np.inf)
            continue
        gains = [(cost[i, j] - lam[i], v[i]) for i in range(geo.n) if i != j and cost[i, j] - lam[i] < 0]
        gains.sort(key=lambda g: g[0] / g[1] if g[1] > 0 else -np.inf)
        value = -lam[j]
        for r, weight in gains:
            take = 1.0 if weight <= room else max(room, 0.0) / weight
            value += r * take
            room -= weight * take
        values.append(value)
    values = np.asarray(values)
    opened = values[list(spec.centres)] if spec.centres is not None else np.sort(values)[: spec.count]
    return float(lam.sum() + opened.sum())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=random_grid_specs(min_rows=2, min_k=2), seed=st.integers(0, 1000), spread=st.sampled_from([0.3, 1.0, 3.0]),
       fixed=st.booleans())
def test_shortcuts_give_the_relaxations_value(spec, seed, spread, fixed):
    spec = lazy(spec)
    if fixed:
        spec = replace(spec, centres=tuple(range(spec.count)))
    pairs = near_pairs(spec)
    rng = np.random.default_rng(seed)
    lam = np.minimum(rng.uniform(0, spread, spec.geography.n) * pairs.cap.max(), pairs.cap)
    v = np.asarray(spec.geography.attributes[spec.balance[0].attribute], dtype=float)
    chosen, value, _ = _relaxation(pairs, lam, v, spec.balance[0].upper - v, spec.count,
                                   np.asarray(spec.centres) if fixed else None)
    assert np.isclose(lam.sum() + value[chosen].sum(), plain_bound(spec, lam), rtol=1e-9, atol=1e-9)


def test_the_ascent_raises_the_bound_and_stays_below_a_valid_plan():
    """On a 6 x 6 grid the ascent takes the bound from about half a checked plan's cost to within 10% of it."""
    dense = grid_spec(6, 6, np.arange(1, 37) % 7 + 1, 4, 0.2)
    plan, _ = first_plan(dense, None, SolverOptions(seed=0), 10.0)
    assert plan is not None and is_valid(dense, plan)
    spec = lazy(dense)
    first = sparse_lagrangian_bound(spec, iterations=1).bound
    final = sparse_lagrangian_bound(spec, iterations=300).bound
    upper = plan.objective(dense.cost())
    assert first < 0.55 * upper  # the start: each unit's cost to its nearest neighbour
    assert 0.9 * upper < final <= upper * (1 + 1e-9)  # 20,639 against 22,400 when measured
