"""Lagrangian bound for the Hess model, in numpy (the knapsacks compiled): valid at any size, no LP solver needed.

Relaxing `each_unit_assigned_once` with multipliers lam_i splits the model by centre: if centre j
opens, it picks units minimising sum_i (cost_ij - lam_i) x_ij with x_jj = 1 and its total of the
first balance attribute in [L, U] (other rules and contiguity dropped, which only weakens the bound).
That is a continuous knapsack with a lower and an upper capacity: take units by ratio
(cost - lam) / value up to the capacity the sign of the ratios asks for. The k best centres open:

    bound(lam) = sum_i lam_i + (sum of the k smallest centre values)

Every lam gives a valid lower bound; subgradient steps improve it. The knapsack's critical ratio
gives each pair a reduced cost, so pairs that cannot appear in a plan better than a known one are
dropped before the exact model is built (Lagrangian variable fixing, as in Validi et al. 2022).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from model.contiguity import lightest_paths
from model.knapsack_kernels import dense_knapsacks
from model.spec import TerritorySpec
from solvers import interrupt

# From this many units each centre's knapsack is sorted over its nearest units only and valued over all
# of them by weak duality (_dual_knapsacks): a full sort of n x n per iteration is too slow there.
DUAL_KNAPSACK_UNITS = 1_500
NEAR_MIN = 64  # at least this many nearest units per centre are sorted


@dataclass(frozen=True)
class LagrangianBound:
    bound: float
    multipliers: np.ndarray
    iterations: int
    seconds: float
    allowed: np.ndarray | None = None  # (unit, centre) pairs that survive fixing against `upper`
    centres: tuple[int, ...] = ()  # the k centres the best multipliers open: a good heuristic start


def step_scale(spec: TerritorySpec) -> np.ndarray:
    """Per unit, how far a subgradient step moves its multiplier: in proportion to the unit's weight, since
    the multipliers of heavy units live on a larger scale. Measured against equal steps: GA k=10 ±5% from
    the same plan, 1.4651e10 against 1.4316e10 where both stall (pairs kept after fixing 19.6% against
    32.8%); 1,000 generated cells, 30 s: 1.6522e10 against 1.6428e10; the ZIP cells: see model.lagrangian_sparse."""
    w = np.asarray(spec.weight, dtype=float)
    mean = float(w.mean()) if len(w) else 0.0
    return (w + 1e-3 * mean) / mean if mean > 0 else np.ones(len(w))


@dataclass(frozen=True)
class _Knapsacks:
    value: np.ndarray  # per candidate centre
    x: np.ndarray  # n x m fractional choice per centre
    reduced: np.ndarray  # n x m reduced cost of forcing unit i into centre j
    mu: np.ndarray | None = None  # per centre: the price of its capacity (critical ratio)
    priced: np.ndarray | None = None  # weak-duality knapsacks: r - mu w (x and reduced derive from it)

    def chosen_x(self, chosen: np.ndarray, centres: np.ndarray) -> np.ndarray:
        """The units each chosen centre takes (n x len(chosen))."""
        if self.priced is None:
            return self.x[:, chosen]
        x = (self.priced[:, chosen] < 0).astype(float)
        x[centres[chosen], np.arange(len(chosen))] = 1.0
        return x

    def reduced_costs(self, centres: np.ndarray) -> np.ndarray:
        if self.priced is None:
            return self.reduced
        reduced = np.maximum(self.priced, 0.0)
        reduced[centres, np.arange(len(centres))] = 0.0
        return reduced


def _knapsacks(reduced_cost: np.ndarray, weight: np.ndarray, centres: np.ndarray, lower, upper,
               weights_by_column: np.ndarray | None = None) -> _Knapsacks:
    """Solve the continuous knapsack of every candidate centre at once (columns of `reduced_cost`);
    `centres` gives each column's own row; `lower` and `upper` are scalars or one capacity per column.
    `weights_by_column` (rows x columns) replaces `weight` when each column has its own rows.
    The loops are compiled (model.knapsack_kernels.dense_knapsacks)."""
    cols = np.arange(reduced_cost.shape[1])  # w is copied below: always writable, so one compiled signature
    w = weights_by_column if weights_by_column is not None else np.asarray(weight, dtype=float)[:, None]
    value, mu, x, reduced = dense_knapsacks(np.ascontiguousarray(reduced_cost, dtype=float),
                                            np.array(w, dtype=float, order="C"), np.asarray(centres, dtype=np.int64),
                                            _at(lower, cols), _at(upper, cols))
    return _Knapsacks(value, x, reduced, mu)


def _dual_knapsacks(reduced_cost: np.ndarray, weight: np.ndarray, centres: np.ndarray, lower, upper,
                    near: np.ndarray) -> _Knapsacks:
    """Large instances: solve each centre's knapsack on its `near` rows only (K x m, the centre among
    them) to get its capacity price mu, then value the full knapsack by weak duality:
        V_j >= own_j + (mu lo_j if mu > 0 else mu hi_j) + sum_i min(0, r_ij - mu w_i)   (i != j)
    which holds for any mu, so the bound stays valid while the sort touches K rows instead of n."""
    n, m = reduced_cost.shape
    cols = np.arange(m)
    local = np.take_along_axis(reduced_cost, near, axis=0)
    own_row = np.argmax(near == centres[None, :], axis=0)  # where each centre sits among its near rows
    ks = _knapsacks(local, weight, own_row, _at(lower, cols), _at(upper, cols), weights_by_column=weight[near])
    own_weight = weight[centres]
    lo, hi = _at(lower, cols) - own_weight, _at(upper, cols) - own_weight
    own_cost = reduced_cost[centres, cols]
    priced = reduced_cost - ks.mu[None, :] * weight[:, None]
    priced[centres, cols] = 0.0
    value = own_cost + np.where(ks.mu > 0, ks.mu * lo, ks.mu * hi) + np.minimum(priced, 0.0).sum(axis=0)
    feasible = (hi >= -1e-9) & (weight.sum() - own_weight >= lo - 1e-9)
    return _Knapsacks(np.where(feasible, value, np.inf), None, None, ks.mu, priced)


def _near_rows(distance: np.ndarray, centres: np.ndarray, k: int) -> np.ndarray:
    """Per centre (column) the rows of its nearest units, a few territories' worth; the centre itself
    always among them."""
    n, m = distance.shape
    size = min(n, max(NEAR_MIN, 4 * n // max(k, 1)))
    near = np.argpartition(distance, size - 1, axis=0)[:size]
    missing = ~(near == centres[None, :]).any(axis=0)
    near[-1, missing] = centres[missing]
    return near


def _at(bound, cols: np.ndarray) -> np.ndarray:
    """A scalar or per-column bound as one value per column."""
    return np.broadcast_to(np.asarray(bound, dtype=float), cols.shape).astype(float)


def lagrangian_bound(
    spec: TerritorySpec,
    upper: float | None = None,
    start: np.ndarray | None = None,
    iterations: int = 400,
    time_limit: float | None = None,
    on_bound: Callable[[float], None] | None = None,
    possible: np.ndarray | None = None,
    fixing: bool = True,
) -> LagrangianBound:
    """Subgradient ascent on the Lagrangian dual; with `upper` (a valid plan's cost) also fix pairs
    (unless `fixing` is off: at 4,619 units fixing takes 3-8 s, wasted when no exact model follows).
    `possible` (n x n) marks the pairs any plan may use (model.fixing.path_fixing): the knapsacks skip
    the others, which tightens the bound. `on_bound` hears every improved bound (for a progress display)."""
    t0 = time.perf_counter()
    geo = spec.geography
    n, k = geo.n, spec.count
    cost = spec.cost()
    centres = np.asarray(spec.centres if spec.centres is not None else np.arange(n))
    sub = cost[:, centres] if possible is None else np.where(possible[:, centres], cost[:, centres], np.inf)
    if spec.balance:
        lows, highs = spec.bounds()
        weight, lower, upper_cap = geo.attributes[spec.balance[0].attribute], lows[0, centres], highs[0, centres]
    else:
        weight, lower, upper_cap = np.ones(n), 0.0, float(n)
    lam = start.astype(float).copy() if start is not None else np.partition(cost, 1, axis=1)[:, 1].astype(float)
    lam = np.where(np.isfinite(lam), lam, 0.0)
    near = _near_rows(geo.distance[:, centres], centres, k) if n >= DUAL_KNAPSACK_UNITS else None
    scale = step_scale(spec)
    best, best_lam, best_ks, best_open = -np.inf, lam.copy(), None, ()
    theta, idle = 1.0, 0
    it = 0
    for it in range(1, iterations + 1):
        interrupt.check()
        if near is None:
            ks = _knapsacks(sub - lam[:, None], weight, centres, lower, upper_cap)
        else:
            ks = _dual_knapsacks(sub - lam[:, None], weight, centres, lower, upper_cap, near)
        chosen = np.argsort(ks.value, kind="stable")[:k]
        bound = float(lam.sum() + ks.value[chosen].sum())
        if bound > best:
            best, best_lam, best_ks, idle = bound, lam.copy(), ks, 0
            best_open = tuple(sorted(int(centres[c]) for c in chosen))
            if on_bound is not None:
                on_bound(best)
        else:
            idle += 1
            if idle >= 20:
                theta, idle = theta / 2, 0
        g = 1.0 - ks.chosen_x(chosen, centres).sum(axis=1)
        step = g * scale
        norm = float(g @ step)
        if norm < 1e-12 or theta < 1e-6 or (time_limit is not None and time.perf_counter() - t0 > time_limit):
            break
        goal = upper if upper is not None and upper > bound else abs(bound) * 1.05 + 1.0
        lam = lam + theta * (goal - bound) / norm * step
    allowed = None
    if fixing and upper is not None and best_ks is not None and np.isfinite(best):
        allowed = _fixing(best, best_ks, centres, k, n, upper, geo.edges if spec.contiguity and geo.edges else None)
        if possible is not None:
            allowed &= possible
    return LagrangianBound(best, best_lam, it, time.perf_counter() - t0, allowed, best_open)


def _fixing(bound: float, ks: _Knapsacks, centres: np.ndarray, k: int, n: int, upper: float,
            edges=None) -> np.ndarray:
    """Pairs (i, j) whose forced cost bound + rc_ij (+ opening j instead of the k-th centre) fits under upper.
    With `edges` (contiguity on), forcing i into j's territory forces a path from j to i as well, so
    rc_ij becomes the least sum of reduced costs along such a path (each unit's rc >= 0 counts once:
    by duality, forcing several knapsack items costs at least the sum of their reduced costs)."""
    order = np.argsort(ks.value, kind="stable")
    kth = ks.value[order[k - 1]]
    open_penalty = np.zeros(len(centres))
    closed = np.ones(len(centres), dtype=bool)
    closed[order[:k]] = False
    open_penalty[closed] = np.maximum(0.0, ks.value[closed] - kth)
    reduced = np.maximum(0.0, ks.reduced_costs(centres))
    if edges is not None:
        reduced = lightest_paths(edges, n, reduced, centres)
    forced = bound + reduced + open_penalty[None, :]
    margin = 1e-6 * max(1.0, abs(upper))
    ok = forced <= upper + margin
    ok &= np.isfinite(ks.value)[None, :]
    allowed = np.zeros((n, n), dtype=bool)
    allowed[:, centres] = ok
    return allowed
