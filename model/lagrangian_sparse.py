"""Lagrangian bound for geographies too large for an n x n matrix (distances computed on demand).

The relaxation of model.lagrangian (each unit's assignment row priced by lam_i), with each centre's
lower capacity dropped (a weaker relaxation, still valid). Only pairs with a negative reduced cost can
enter a centre's knapsack, and c_ij - lam_i < 0 needs w_i d_ij^p < lam_i, i.e. d_ij < (lam_i / w_i)^(1/p):
one KD-tree ball query per unit finds every such pair, so nothing of size n x n is ever built. lam is
capped so that no ball is wider than a few territories (any lam gives a valid bound), which keeps the
number of pairs near n times the units of a few territories.

    bound(lam) = sum_i lam_i + sum of the k smallest centre values,
    centre value = -lam_j + continuous knapsack over its negative pairs, capacity U - v_j (ratio order).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import numpy as np
from scipy.spatial import cKDTree

from model.lagrangian import LagrangianBound
from model.spec import TerritorySpec
from solvers import interrupt

# Steps aim at most this factor above the current bound (Polyak steps towards a plan's cost 10-100x
# the bound overshoot and stall for dozens of iterations: measured on the ZIP cells, 75 s: 1.4e11 vs 2e10).
GOAL_GROWTH = 2.0
CAP_TERRITORIES = 2  # a unit's ball holds at most this many territories' worth of units (n / k each)


def sparse_lagrangian_bound(spec: TerritorySpec, start: np.ndarray | None = None, upper: float | None = None,
                            iterations: int = 400, time_limit: float | None = None,
                            on_bound: Callable[[float], None] | None = None) -> LagrangianBound:
    """Subgradient ascent from `start` (default: each unit's cost to its nearest neighbour, so that
    the balls grow from small to territory size); no pair fixing."""
    t0 = time.perf_counter()
    geo = spec.geography
    n, k, p = geo.n, spec.count, spec.power
    cost, dist = spec.cost(), geo.distance
    tree = cKDTree(dist.points)
    w = np.asarray(spec.weight, dtype=float)
    rule = spec.balance[0] if spec.balance else None
    v = geo.attributes[rule.attribute] if rule is not None else np.ones(n)
    room = (rule.upper if rule is not None else float(n)) - v  # capacity left once the centre is in
    # Cap lam so that no ball is wider than the distance to the unit's K-th nearest unit (a Euclidean
    # chord, never longer than the distance itself, so the cap is safe): pairs stay near n x K.
    size = int(min(n, max(16, CAP_TERRITORIES * n // max(k, 1))))
    near, _ = tree.query(dist.points, k=[2, size])
    cap = w * near[:, 1] ** p
    if start is None:
        start = w * near[:, 0] ** p  # the cost of joining the nearest other unit
    lam = np.minimum(np.asarray(start, dtype=float), cap)
    fixed = np.asarray(spec.centres) if spec.centres is not None else None  # fixed centres all open
    best, best_lam, best_open, theta, idle, it = -np.inf, lam.copy(), (), 1.0, 0, 0
    for it in range(1, iterations + 1):
        interrupt.check()
        value, taken = _centre_values(cost, dist, tree, w, v, room, lam, p)
        chosen = fixed if fixed is not None else np.argsort(value, kind="stable")[:k]
        bound = float(lam.sum() + value[chosen].sum())
        if bound > best:
            best, best_lam, idle = bound, lam.copy(), 0
            best_open = tuple(sorted(int(c) for c in chosen))
            if on_bound is not None:
                on_bound(best)
        else:
            idle += 1
            if idle >= 20:
                theta, idle = theta / 2, 0
        g = 1.0 - taken(chosen)
        norm = float(g @ g)
        if norm < 1e-12 or theta < 1e-6 or (time_limit is not None and time.perf_counter() - t0 > time_limit):
            break
        goal = upper if upper is not None and upper > bound else abs(bound) * 1.05 + 1.0
        goal = min(goal, abs(bound) * GOAL_GROWTH + 1.0)  # a target far above the bound makes steps too long
        lam = np.minimum(lam + theta * (goal - bound) / norm * g, cap)
    return LagrangianBound(best, best_lam, it, time.perf_counter() - t0, None, best_open)


def _centre_values(cost, dist, tree: cKDTree, w, v, room, lam, p):
    """Every centre's value under `lam`, and a function giving, for chosen centres, how much of each
    unit they take (for the subgradient)."""
    n = len(lam)
    units = np.flatnonzero((lam > 0) & (w > 0))
    radius = (lam[units] / w[units]) ** (1 / p)
    balls = tree.query_ball_point(dist.points[units], r=dist.chord(radius), return_sorted=False)
    sizes = np.fromiter(map(len, balls), dtype=np.int64, count=len(balls))
    j = np.fromiter(itertools.chain.from_iterable(balls), dtype=np.int64, count=int(sizes.sum()))
    i = np.repeat(units, sizes)
    r = cost[i, j] - lam[i]
    keep = (r < 0) & (i != j)
    i, j, r = i[keep], j[keep], r[keep]
    vi = v[i]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(vi > 0, r / np.where(vi > 0, vi, 1), -np.inf)
    order = np.lexsort((ratio, j))
    i, j, r, vi = i[order], j[order], r[order], vi[order]
    cum = np.cumsum(vi)
    first = np.searchsorted(j, np.arange(n))  # where each centre's pairs start
    before = np.concatenate([[0.0], cum])[first][j]  # weight of earlier centres' pairs
    inside = cum - before  # weight taken up to and including each pair, within its centre
    full = inside <= room[j] + 1e-9
    cross = ~full & (inside - vi <= room[j] + 1e-9)  # the pair the capacity cuts
    frac = np.where(cross, (room[j] - (inside - vi)) / np.where(vi > 0, vi, 1), 0.0)
    share = full + frac
    value = -lam + np.bincount(j, weights=r * share, minlength=n)
    value = np.where(room >= -1e-9, value, np.inf)

    def taken(chosen: np.ndarray) -> np.ndarray:
        mask = np.isin(j, chosen)
        covered = np.bincount(i[mask], weights=share[mask], minlength=n).astype(float)
        covered[chosen] += 1.0  # each chosen centre holds itself
        return covered

    return value, taken
