"""Lagrangian bound for geographies too large for an n x n matrix (distances computed on demand).

The relaxation of model.lagrangian (each unit's assignment row priced by lam_i), with each centre's
lower capacity dropped (a weaker relaxation, still valid). Only pairs with a negative reduced cost can
enter a centre's knapsack, and c_ij - lam_i < 0 needs w_i d_ij^p < lam_i. lam_i is capped at the cost of
reaching the unit's K-th nearest unit (K = a few territories' worth of units; any lam gives a valid
bound), so those K nearest units hold every pair that can matter: they are found once (KD-tree) and
their costs computed once, and each iteration is a few passes over these arrays.

    bound(lam) = sum_i lam_i + sum of the k smallest centre values,
    centre value = -lam_j + continuous knapsack over its negative pairs, capacity U - v_j (ratio order).

Taking every negative pair, capacity ignored, gives a value no larger than the knapsack's: only the
centres that could be among the k smallest need the sorted knapsack (at 33,000 ZIP cells a few
thousand of them, not all): an iteration takes 0.3-0.7 s there, against 5-8 s with a ball query per unit
and every knapsack sorted. Steps are scaled by each unit's weight, since the multipliers of heavy units
live on a larger scale (measured on the ZIP cells with ball queries: 1.93e11 after 58 s, against 1.23e11
with plain steps).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from model.lagrangian import LagrangianBound, step_scale
from model.spec import TerritorySpec
from solvers import interrupt

# Steps aim at most this factor above the current bound (Polyak steps towards a plan's cost 10-100x
# the bound overshoot and stall for dozens of iterations: measured on the ZIP cells, 75 s: 1.4e11 vs 2e10).
# With the nearest pairs (K = 3 territories), 4 and 10 gave 5.5e11 and 5.7e11 after 170-190 s: no clear winner.
GOAL_GROWTH = 4.0
# A unit's multiplier reaches at most its K-th nearest unit, K = this many territories' worth of units
# (n / k each). Measured on the ZIP cells, 300 s: with 2, a fifth of the multipliers end at the cap and
# the bound stalls at 5.8e11; 5 costs 2.5x per iteration; 3 caps 7%.
CAP_TERRITORIES = 3


@dataclass(frozen=True)
class NearPairs:
    """(unit, centre) pairs of every unit and its K nearest units, sorted by centre."""

    unit: np.ndarray
    centre: np.ndarray
    cost: np.ndarray
    first: np.ndarray  # centre j's pairs are first[j]:first[j + 1]
    cap: np.ndarray  # per unit: the largest multiplier whose negative pairs all lie among these pairs
    nearest: np.ndarray  # per unit: the cost of joining its nearest other unit


def near_pairs(spec: TerritorySpec) -> NearPairs:
    """Every unit with its K nearest units (KD-tree on coordinates whose Euclidean distance never
    exceeds the true distance, so a cost below the K-th chord's cost is among these pairs)."""
    geo = spec.geography
    n, k, p = geo.n, spec.count, spec.power
    size = int(min(n, max(16, CAP_TERRITORIES * n // max(k, 1))))
    chord, nearest = cKDTree(geo.distance.points).query(geo.distance.points, k=size)
    chord, nearest = chord.reshape(n, -1), nearest.reshape(n, -1)
    cap = np.asarray(spec.weight, dtype=float) * chord[:, -1] ** p
    nearest_cost = spec.cost()[np.arange(n), nearest[:, 1]] if nearest.shape[1] > 1 else np.zeros(n)
    unit = np.repeat(np.arange(n, dtype=np.int32), nearest.shape[1])
    centre = nearest.ravel().astype(np.int32)
    keep = unit != centre  # a centre holds itself; its own row is not a choice
    unit, centre = unit[keep], centre[keep]
    order = np.argsort(centre, kind="stable")
    unit, centre = unit[order], centre[order]
    cost = np.asarray(spec.cost()[unit, centre], dtype=float)
    return NearPairs(unit, centre, cost, np.searchsorted(centre, np.arange(n + 1)), cap,
                     np.asarray(nearest_cost, dtype=float))


def sparse_lagrangian_bound(spec: TerritorySpec, start: np.ndarray | None = None, upper: float | None = None,
                            iterations: int = 400, time_limit: float | None = None,
                            on_bound: Callable[[float], None] | None = None) -> LagrangianBound:
    """Subgradient ascent from `start` (default: each unit's cost to its nearest neighbour, so that
    the multipliers grow from small to territory size); no pair fixing."""
    t0 = time.perf_counter()
    geo = spec.geography
    n, k = geo.n, spec.count
    pairs = near_pairs(spec)
    rule = spec.balance[0] if spec.balance else None
    v = np.asarray(geo.attributes[rule.attribute], dtype=float) if rule is not None else np.ones(n)
    room = (rule.upper if rule is not None else float(n)) - v  # capacity left once the centre is in
    scale = step_scale(spec)
    lam = np.minimum(np.asarray(start if start is not None else pairs.nearest, dtype=float), pairs.cap)
    fixed = np.asarray(spec.centres) if spec.centres is not None else None  # fixed centres all open
    best, best_lam, best_open, theta, idle, it = -np.inf, lam.copy(), (), 1.0, 0, 0
    for it in range(1, iterations + 1):
        interrupt.check()
        chosen, value, covered = _relaxation(pairs, lam, v, room, k, fixed)
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
        g = 1.0 - covered
        step = g * scale
        norm = float(g @ step)
        if norm < 1e-12 or theta < 1e-6 or (time_limit is not None and time.perf_counter() - t0 > time_limit):
            break
        goal = upper if upper is not None and upper > bound else abs(bound) * 1.05 + 1.0
        goal = min(goal, abs(bound) * GOAL_GROWTH + 1.0)  # a target far above the bound makes steps too long
        lam = np.minimum(lam + theta * (goal - bound) / norm * step, pairs.cap)
    return LagrangianBound(best, best_lam, it, time.perf_counter() - t0, None, best_open)


def _relaxation(pairs: NearPairs, lam: np.ndarray, v: np.ndarray, room: np.ndarray, k: int,
                fixed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(open centres, centre values, how much of each unit the open centres take) under `lam`. Values
    are exact for the open centres and for every centre whose negative pairs fit its capacity; the
    others hold a lower estimate (all negative pairs taken), which keeps the bound valid."""
    n = len(lam)
    reduced = pairs.cost - lam[pairs.unit]
    negative = reduced < 0
    weight = np.where(negative, v[pairs.unit], 0.0)
    value = -lam + np.bincount(pairs.centre, weights=np.where(negative, reduced, 0.0), minlength=n)
    fits = np.bincount(pairs.centre, weights=weight, minlength=n) <= room + 1e-9
    value[room < -1e-9] = np.inf  # the centre alone is above the maximum
    exact = fits | (room < -1e-9)
    shares: list[tuple[np.ndarray, np.ndarray]] = []  # (pair index, share taken) of knapsack centres
    while True:
        chosen = fixed if fixed is not None else (np.argpartition(value, k)[:k] if k < n else np.arange(n))
        todo = chosen[~exact[chosen]]
        if len(todo) == 0:
            break
        index, share, knapsack = _knapsacks(pairs, reduced, negative, v, room, todo)
        value[todo] = -lam[todo] + knapsack
        exact[todo] = True
        shares.append((index, share))
    open_ = np.zeros(n, dtype=bool)
    open_[chosen] = True
    taking = open_[pairs.centre] & negative & fits[pairs.centre]
    covered = np.bincount(pairs.unit[taking], minlength=n).astype(float)
    for index, share in shares:
        mine = open_[pairs.centre[index]]
        covered += np.bincount(pairs.unit[index[mine]], weights=share[mine], minlength=n)
    covered[chosen] += 1.0  # each open centre holds itself
    return chosen, value, covered


def _knapsacks(pairs: NearPairs, reduced: np.ndarray, negative: np.ndarray, v: np.ndarray, room: np.ndarray,
               centres: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Continuous knapsacks of `centres` over their negative pairs, best ratio (reduced cost per unit of
    capacity) first: (pair indices, share of each pair taken, value per centre in `centres` order)."""
    index = np.concatenate([np.arange(pairs.first[j], pairs.first[j + 1]) for j in centres])
    index = index[negative[index]]
    j, r, vi = pairs.centre[index], reduced[index], v[pairs.unit[index]]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(vi > 0, r / np.where(vi > 0, vi, 1), -np.inf)  # weightless pairs first
    order = np.lexsort((ratio, j))
    index, j, r, vi = index[order], j[order], r[order], vi[order]
    cum = np.cumsum(vi)
    before = np.concatenate([[0.0], cum])[np.searchsorted(j, j)]  # weight of earlier centres' pairs
    inside = cum - before  # weight taken up to and including each pair, within its centre
    full = inside <= room[j] + 1e-9
    cross = ~full & (inside - vi <= room[j] + 1e-9)  # the pair the capacity cuts
    share = full + np.where(cross, (room[j] - (inside - vi)) / np.where(vi > 0, vi, 1), 0.0)
    return index, share, np.bincount(j, weights=r * share, minlength=len(room))[centres]
