"""Lagrangian bound for geographies too large for an n x n matrix (distances computed on demand).

The relaxation of model.lagrangian (each unit's assignment row priced by lam_i, a continuous knapsack per
centre between its lower and upper capacity), over each unit's K nearest units only (K = a few
territories' worth; found once by KD-tree, their costs computed once). What makes that valid:
- lam_i is capped at CAP_SHARE of the cost of reaching unit i's K-th nearest unit (any lam gives a valid
  bound), so a pair left out of the lists always has a positive reduced cost: no knapsack wants it for its
  upper part;
- for the lower capacity it is not free either: its reduced cost per unit of weight is at least the
  centre's fill price (NearPairs.fill_price), and the knapsack may fill the rest of its lower capacity at
  that price instead, which relaxes it only where the listed units run out.

    bound(lam) = sum_i lam_i + sum of the k smallest centre values,
    centre value = -lam_j + knapsack: negative pairs by ratio up to U - v_j, then, below L - v_j, the
                   cheapest pairs under the fill price, then the fill price for the rest.

Dropping the lower capacity (the earlier form) was far weaker: on 1,329 New York ZIP cells with the 12
territories of a plan, 27% below the plan against 1.3% for the dense bound; with it, 1.6% (2026-11-24).
Cheap lower estimates pick which knapsacks to sort (only the centres that could be among the k
smallest need it): every negative pair taken, capacities ignored; and, once a centre's knapsack has been
sorted, its dual value at the price its lower capacity had then (weak duality: any price up to the fill
price gives a lower bound). Without the second estimate the ZIP cells sorted about 14,000 knapsacks an
iteration, with it about 1,900. The passes over the pairs are compiled (model.knapsack_kernels): 0.16 s
an iteration on the ZIP cells against 0.86 s in numpy (one thread each). Steps are scaled by each unit's
weight, since the multipliers of heavy units live on a larger scale.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from model.knapsack_kernels import add_cover, add_negative_cover, centre_sums, knapsacks
from model.lagrangian import LagrangianBound, step_scale
from model.spec import TerritorySpec
from solvers import interrupt

# Steps aim at most this factor above the current bound (Polyak steps towards a plan's cost 10-100x
# the bound overshoot and stall for dozens of iterations: measured on the ZIP cells, 75 s: 1.4e11 vs 2e10).
# With the nearest pairs (K = 3 territories), 4 and 10 gave 5.5e11 and 5.7e11 after 170-190 s: no clear winner.
GOAL_GROWTH = 4.0
# The step length halves after this many steps without a better bound.
IDLE_STEPS = 20
# Each unit's list holds its K nearest units, K = this many territories' worth (n / k each); its multiplier
# stays below CAP_SHARE of the cost of reaching the K-th. A longer list caps fewer multipliers but makes
# each iteration slower and takes memory. On 1,329 New York cells (12 territories) run to convergence,
# 3 caps 41% of the multipliers and ends 22% below the plan, 6 caps 4% and ends 1.6% below it. ZIP cells,
# 200 territories, from the same plan (1.18385e12), one thread each, compiled passes: K = 4 levels off
# at 9.25e11 (240 s) to 9.34e11 (463 s, steps halved after 60 idle steps); K = 10 reaches 9.46e11 at
# 240 s and 9.58e11 at 400 s (peak 3.9 GB); K = 16 9.53e11 at 400 s (6.0 GB).
CAP_TERRITORIES = 10
# Multipliers stay below this share of the cost of reaching a unit's K-th nearest unit, so that every pair
# outside the lists keeps a reduced cost of at least the rest: the price at which a knapsack may fill its
# lower capacity without them (NearPairs.fill_price). On the New York cells with K = 6 territories:
# 0.5 ends 1.6% below the plan, 0.75 11.6% (the fill price too low).
CAP_SHARE = 0.5


@dataclass(frozen=True)
class NearPairs:
    """(unit, centre) pairs of every unit and its K nearest units, sorted by centre."""

    unit: np.ndarray
    centre: np.ndarray
    cost: np.ndarray
    first: np.ndarray  # centre j's pairs are first[j]:first[j + 1]
    cap: np.ndarray  # per unit: the largest multiplier allowed (CAP_SHARE of its K-th nearest unit's cost)
    nearest: np.ndarray  # per unit: the cost of joining its nearest other unit
    fill_price: np.ndarray  # per centre: a price per unit of weight no pair outside its list goes below
    unit_weight: np.ndarray  # per pair: the unit's balance weight (what it takes of the centre's capacity)


def near_pairs(spec: TerritorySpec, territories: int = CAP_TERRITORIES) -> NearPairs:
    """Every unit with its K nearest units, K = `territories` territories' worth (KD-tree on coordinates
    whose Euclidean distance never exceeds the true distance, so a pair left out costs at least the unit's
    K-th chord's cost)."""
    geo = spec.geography
    n, k, p = geo.n, spec.count, spec.power
    size = int(min(n, max(16, territories * n // max(k, 1))))
    chord, nearest = cKDTree(geo.distance.points).query(geo.distance.points, k=size)
    chord, nearest = chord.reshape(n, -1), nearest.reshape(n, -1)
    w = np.asarray(spec.weight, dtype=float)
    reach = w * chord[:, -1] ** p  # the least a pair outside unit i's list costs
    nearest_cost = spec.cost()[np.arange(n), nearest[:, 1]] if nearest.shape[1] > 1 else np.zeros(n)
    unit = np.repeat(np.arange(n, dtype=np.int32), nearest.shape[1])
    centre = nearest.ravel().astype(np.int32)
    keep = unit != centre  # a centre holds itself; its own row is not a choice
    unit, centre = unit[keep], centre[keep]
    order = np.argsort(centre, kind="stable")
    unit, centre = unit[order], centre[order]
    cost = np.asarray(spec.cost()[unit, centre], dtype=float)
    fill = _fill_prices(spec, chord, nearest, reach) if len(nearest) else np.zeros(n)
    cap = CAP_SHARE * reach
    return NearPairs(unit, centre, cost, np.searchsorted(centre, np.arange(n + 1)), cap,
                     np.asarray(nearest_cost, dtype=float), fill, balance_weight(spec)[unit])


def centre_pairs(spec: TerritorySpec) -> NearPairs:
    """Fixed centres: every unit with every centre (n x k pairs; the nearest units of every unit, as for free
    centres, would be half the map each at 20 territories: 4 GB on the ZIP cells). No pair is left out, so the
    multipliers need no cap; the fill price is set above every pair's cost per unit of weight, so each knapsack
    fills its lower capacity from its pairs (any finite price keeps the bound valid, a low one only weakens it)."""
    n = spec.geography.n
    centres = np.sort(np.asarray(spec.centres, dtype=np.int64))
    unit = np.tile(np.arange(n, dtype=np.int32), len(centres))
    centre = np.repeat(centres.astype(np.int32), n)
    keep = unit != centre
    unit, centre = unit[keep], centre[keep]
    cost = np.asarray(spec.cost()[unit, centre], dtype=float)
    weight = balance_weight(spec)[unit]
    fill = np.zeros(n)
    heavy = weight > 0
    np.maximum.at(fill, centre[heavy], 2.0 * cost[heavy] / weight[heavy] + 1.0)
    nearest = np.full(n, np.inf)
    np.minimum.at(nearest, unit, cost)
    return NearPairs(unit, centre, cost, np.searchsorted(centre, np.arange(n + 1)), np.full(n, np.inf),
                     np.where(np.isfinite(nearest), nearest, 0.0), fill, weight)


def balance_weight(spec: TerritorySpec) -> np.ndarray:
    """What each unit takes of a territory's capacity: its first balance attribute (1 each without one)."""
    geo = spec.geography
    return np.asarray(geo.attributes[spec.balance[0].attribute], dtype=float) if spec.balance else np.ones(geo.n)


def _fill_prices(spec: TerritorySpec, chord: np.ndarray, nearest: np.ndarray, reach: np.ndarray) -> np.ndarray:
    """Per centre j, a price M_j per unit of balance weight below which no pair outside j's list goes,
    whatever the (capped) multipliers: the knapsack may then fill its lower capacity from a slack at
    M_j instead of from those pairs, and stays a lower bound. A unit i outside j's list lies at least
    its own K-th chord from j, and, unless it is among j's K nearest, at least j's K-th chord too;
    with lam_i <= CAP_SHARE * reach_i its reduced cost is at least (1 - CAP_SHARE) of that reach."""
    n = len(chord)
    rule = spec.balance[0] if spec.balance else None
    if rule is None or spec.extra_cost is not None or rule.lower <= 0:  # no lower capacity to fill (or costs not bounded)
        return np.zeros(n)
    v = balance_weight(spec)
    w = np.asarray(spec.weight, dtype=float)
    heavy = v > 0
    if not heavy.any():
        return np.zeros(n)
    per_weight = np.full(n, np.inf)  # reach per unit of balance weight; weightless units never fill
    per_weight[heavy] = reach[heavy] / v[heavy]
    far = chord[:, -1] ** spec.power * float(np.min(w[heavy] / v[heavy]))  # units beyond j's K nearest
    # j's K nearest that may not be in j's list: their own reach holds. Unit i certainly lists j when j is
    # strictly nearer than i's K-th nearest unit; the others (ties included) count here.
    near_unit = nearest.ravel()
    near_centre = np.repeat(np.arange(n), nearest.shape[1])
    unlisted = (chord.ravel() >= chord[near_unit, -1]) & (near_unit != near_centre)
    closest = np.full(n, np.inf)
    np.minimum.at(closest, near_centre[unlisted], per_weight[near_unit[unlisted]])
    return (1.0 - CAP_SHARE) * np.minimum(far, closest)


def sparse_lagrangian_bound(spec: TerritorySpec, start: np.ndarray | None = None, upper: float | None = None,
                            iterations: int = 400, time_limit: float | None = None,
                            on_bound: Callable[[float], None] | None = None) -> LagrangianBound:
    """Subgradient ascent from `start` (default: each unit's cost to its nearest neighbour, so that
    the multipliers grow from small to territory size); no pair fixing."""
    t0 = time.perf_counter()
    geo = spec.geography
    n, k = geo.n, spec.count
    pairs = near_pairs(spec) if spec.centres is None else centre_pairs(spec)
    rule = spec.balance[0] if spec.balance else None
    v = balance_weight(spec)
    room = (rule.upper if rule is not None else float(n)) - v  # capacity left once the centre is in
    low = (rule.lower if rule is not None else 0.0) - v
    scale = step_scale(spec)
    lam = np.minimum(np.asarray(start if start is not None else pairs.nearest, dtype=float), pairs.cap)
    fixed = np.asarray(spec.centres) if spec.centres is not None else None  # fixed centres all open
    best, best_lam, best_open, theta, idle, it = -np.inf, lam.copy(), (), 1.0, 0, 0
    prices = np.zeros(n)  # each centre's price of its lower capacity when its knapsack was last sorted
    for it in range(1, iterations + 1):
        interrupt.check()
        chosen, value, covered = _relaxation(pairs, lam, room, low, k, fixed, prices)
        bound = float(lam.sum() + value[chosen].sum())
        if bound > best:
            best, best_lam, idle = bound, lam.copy(), 0
            best_open = tuple(sorted(int(c) for c in chosen))
            if on_bound is not None:
                on_bound(best)
        else:
            idle += 1
            if idle >= IDLE_STEPS:
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


def _relaxation(pairs: NearPairs, lam: np.ndarray, room: np.ndarray, low: np.ndarray, k: int,
                fixed: np.ndarray | None, prices: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(open centres, centre values, how much of each unit the open centres take) under `lam`. `room` and
    `low` are each centre's upper and lower capacity once it holds itself. Values are exact for the open
    centres and for every centre whose negative pairs fit between its capacities; the others hold a lower
    estimate, which keeps the bound valid: all negative pairs taken, capacities ignored, or, where
    `prices` (per centre, each between 0 and its fill price; updated here from the sorted knapsacks) is
    positive, the knapsack's dual value at that price of the lower capacity, if higher: by weak duality,
    price * low + the sum over its pairs of min(0, reduced cost - price * weight)."""
    n = len(lam)
    price = np.zeros(n) if prices is None else np.where((prices > 0) & (low > 0), prices, 0.0)
    negative, taken, priced = centre_sums(pairs.first, pairs.unit, pairs.cost, pairs.unit_weight, lam, price)
    value = -lam + negative
    fits = (taken <= room + 1e-9) & ((taken >= low - 1e-9) | (pairs.fill_price <= 0))
    dual = (price > 0) & ~fits
    value[dual] = np.maximum(value[dual], -lam[dual] + price[dual] * np.maximum(low[dual], 0.0) + priced[dual])
    value[room < -1e-9] = np.inf  # the centre alone is above the maximum
    exact = fits | (room < -1e-9)
    sorted_: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (centres, offsets, shares) of knapsacks
    while True:
        chosen = fixed if fixed is not None else (np.argpartition(value, k)[:k] if k < n else np.arange(n))
        if exact[chosen].all():
            break
        # the next best too: with the lower capacity most estimates rise, and each round costs a pass
        ahead = chosen if fixed is not None or 2 * k >= n else np.argpartition(value, 2 * k)[:2 * k]
        todo = ahead[~exact[ahead]].astype(np.int64)
        knapsack, critical, offsets, shares = knapsacks(pairs.first, pairs.unit, pairs.cost, pairs.unit_weight,
                                                        pairs.fill_price, lam, room, low, todo)
        value[todo] = -lam[todo] + knapsack
        if prices is not None:
            prices[todo] = critical
        exact[todo] = True
        sorted_.append((todo, offsets, shares))
    open_ = np.zeros(n, dtype=bool)
    open_[chosen] = True
    covered = np.zeros(n)
    knapsacked = np.zeros(n, dtype=bool)
    for todo, offsets, shares in sorted_:
        knapsacked[todo] = True
        mine = open_[todo]
        add_cover(covered, pairs.first, pairs.unit, todo[mine], offsets[:-1][mine], shares)
    chosen = np.asarray(chosen)
    plain = chosen[fits[chosen] & ~knapsacked[chosen]].astype(np.int64)  # open centres whose negative pairs fit
    add_negative_cover(covered, pairs.first, pairs.unit, pairs.cost, lam, plain)
    covered[chosen] += 1.0  # each open centre holds itself
    return chosen, value, covered
