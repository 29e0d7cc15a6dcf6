"""The compiled continuous knapsacks of the dense Lagrangian bound against an LP solved by scipy."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from model.knapsack_kernels import compile_kernels, compiled, dense_knapsacks


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 100_000), n=st.integers(2, 25), integral=st.booleans(), per_column=st.booleans())
def test_dense_knapsacks_match_the_lp(seed, n, integral, per_column):
    """Each column: min r.x over 0 <= x <= 1 with lower <= w.x <= upper, its own row forced in and
    infinite costs left out; value, shares and capacities agree with the LP (inf where it is infeasible)."""
    rng = np.random.default_rng(seed)
    m = int(rng.integers(1, n + 1))
    own = rng.choice(n, m, replace=False).astype(np.int64)
    cost = rng.normal(0, 1, (n, m)) * rng.uniform(0.1, 10)
    cost[rng.uniform(size=(n, m)) < 0.15] = np.inf
    cost[own, np.arange(m)] = rng.normal(0, 1, m)
    weight = rng.integers(0, 4, (n, m if per_column else 1)).astype(float) if integral else rng.uniform(0, 3, (n, m if per_column else 1))
    total = float(weight.sum(axis=0).max())
    lower = rng.uniform(0, 0.6 * total + 1e-9, m)
    upper = lower + rng.uniform(0, 0.6 * total + 1e-9, m)
    value, price, x, reduced = dense_knapsacks(cost, weight, own, lower, upper)
    for c in range(m):
        w = weight[:, c if per_column else 0]
        j = own[c]
        free = np.isfinite(cost[:, c]) & (np.arange(n) != j)
        r, wf = cost[free, c], w[free]
        lo, hi = lower[c] - w[j], upper[c] - w[j]
        if not free.any():
            feasible = lo <= 1e-9 and hi >= -1e-9
            assert np.isfinite(value[c]) == feasible
            continue
        lp = linprog(r, A_ub=np.vstack([wf, -wf]), b_ub=[hi, -lo], bounds=[(0, 1)] * len(r), method="highs")
        if lp.status == 2:  # infeasible
            assert value[c] == np.inf
            continue
        assert lp.status == 0
        assert np.isclose(value[c], cost[j, c] + lp.fun, rtol=1e-7, atol=1e-7)
        share = x[free, c]
        assert x[j, c] == 1.0 and (x[~free & (np.arange(n) != j), c] == 0).all()
        assert ((share >= -1e-12) & (share <= 1 + 1e-12)).all()
        assert lo - 1e-7 <= wf @ share <= hi + 1e-7
        assert np.isclose(r @ share, lp.fun, rtol=1e-7, atol=1e-7)
        assert np.allclose(reduced[free, c], r - price[c] * wf)


def test_the_warm_up_compiles_every_kernel_the_bounds_call():
    """After compile_kernels, the dense and sparse bounds (with and without a balance rule) need no new
    compiled signature: what `make install` and a search's start compile is what the stages call."""
    from dataclasses import replace

    from model import knapsack_kernels as kernels
    from model.lagrangian import lagrangian_bound
    from model.lagrangian_sparse import sparse_lagrangian_bound
    from tests.conftest import grid_spec
    from tests.model.test_lagrangian_sparse import lazy

    compile_kernels(False), compile_kernels(True)
    assert compiled(False) and compiled(True)
    every = (dense_knapsacks, *kernels.SPARSE_KERNELS)
    before = [list(k.signatures) for k in every]
    spec = grid_spec(4, 4, list(np.arange(16) % 5 + 1), 3, 0.1)
    lagrangian_bound(spec, iterations=20)
    lagrangian_bound(replace(spec, balance=()), iterations=20)
    sparse_lagrangian_bound(lazy(spec), iterations=20)
    assert [list(k.signatures) for k in every] == before


def test_a_slow_first_compile_does_not_use_up_the_first_plans_time(monkeypatch):
    """A fresh clone's first `make demo` ended with no plan: numba compiled the dense kernel (13.8 s) inside
    the first plan's Lagrangian start and left local search no time. The search now compiles first; here the
    compile takes 3 s of a 4 s limit and the run still ends with a valid plan."""
    import time

    import model.search as search
    from model.check import plan_violations
    from solvers import SolverOptions
    from solvers.highs import HighsEngine
    from tests.conftest import grid_spec

    def slow(sparse: bool) -> float:
        time.sleep(3.0)
        return 3.0

    monkeypatch.setattr(search, "compile_kernels", slow)
    spec = grid_spec(6, 6, list(np.arange(36) % 5 + 1), 4, 0.05)
    outcome = search.solve_territories(spec, HighsEngine(), SolverOptions(time_limit=4.0))
    assert outcome.plan is not None and plan_violations(spec, outcome.plan) == []
    assert outcome.stage_seconds["kernels"] >= 3.0
