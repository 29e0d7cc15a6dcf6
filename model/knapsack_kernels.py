"""Compiled loops (numba) over each centre's units, for the Lagrangian bounds.

Without a distance matrix (model.lagrangian_sparse) the pairs are sorted by centre (centre j's are
first[j]:first[j + 1]), so one pass per centre computes its sums without the temporaries numpy needs:
on the 32,984 ZIP cells (21.7 million pairs) the pass over every centre takes 0.03 s against 0.52 s for
the same sums in numpy (2 threads, 2026-11-24). With a matrix (model.lagrangian) each column's knapsack
is sorted and filled in one loop: on 1,000 units and as many centres 0.10 s against 0.26 s (another job
on the machine), an iteration of the bound 81 ms against 108 ms.
"""

from __future__ import annotations

import os
import time

import numba
import numpy as np
from numba import njit, prange

# GNU OpenMP (numba's default layer on Linux) cannot run in a fork of a process that has used it: a bound in a fork
# (model.bound_aside) was terminated. The fork-safe choice without TBB is numba's own work queue, as fast here (a
# pass over 21 million pairs: 0.157 s against 0.164 s with OpenMP, 2026-12-05).
numba.config.THREADING_LAYER = "forksafe"


@njit(parallel=True, cache=True)
def centre_sums(first, unit, cost, weight, lam, price):
    """Per centre j over its pairs, with r = cost - lam[unit]: the sum of the negative r, the weight of
    those pairs, and (where price[j] > 0) the sum of min(0, r - price[j] * weight), else 0."""
    n = len(first) - 1
    negative, taken, priced = np.zeros(n), np.zeros(n), np.zeros(n)
    for j in prange(n):
        s, w, d, p = 0.0, 0.0, 0.0, price[j]
        for q in range(first[j], first[j + 1]):
            r = cost[q] - lam[unit[q]]
            if r < 0.0:
                s += r
                w += weight[q]
            if p > 0.0:
                t = r - p * weight[q]
                if t < 0.0:
                    d += t
        negative[j], taken[j], priced[j] = s, w, d
    return negative, taken, priced


@njit(parallel=True, cache=True)
def knapsacks(first, unit, cost, weight, fill_price, lam, room, low, centres):
    """Continuous knapsack of each centre in `centres` over its pairs, best ratio (r per unit of weight;
    weightless negative pairs first) first: negative pairs up to `room`, then, below `low`, pairs whose
    ratio is under the centre's fill price, and the rest of `low` at that price.
    Returns (value, critical ratio: the last filling pair's, or the fill price if short, or 0;
    offsets into `shares`; shares: per pair of each centre, in its list's order, the share taken)."""
    m = len(centres)
    offsets = np.zeros(m + 1, dtype=np.int64)
    for t in range(m):
        j = centres[t]
        offsets[t + 1] = offsets[t] + first[j + 1] - first[j]
    shares = np.zeros(offsets[m])
    value, critical = np.zeros(m), np.zeros(m)
    for t in prange(m):
        j = centres[t]
        start, size, price = first[j], first[j + 1] - first[j], fill_price[j]
        r = np.empty(size)
        ratio = np.empty(size)
        for q in range(size):
            rq = cost[start + q] - lam[unit[start + q]]
            wq = weight[start + q]
            r[q] = rq
            useful = rq < 0.0 or (wq > 0.0 and rq < price * wq and low[j] > 0.0)
            if not useful:
                ratio[q] = np.inf
            elif wq > 0.0:
                ratio[q] = rq / wq
            else:
                ratio[q] = -np.inf
        order = np.argsort(ratio, kind="mergesort")
        ahead, total, filled, crit = 0.0, 0.0, 0.0, 0.0
        for q in order:
            if ratio[q] == np.inf:
                break
            wq = weight[start + q]
            target = room[j] if r[q] < 0.0 else min(low[j], room[j])
            if target - ahead <= -1e-12:
                share = 0.0
            elif wq > 0.0:
                share = min(max((target - ahead) / wq, 0.0), 1.0)
            else:
                share = 1.0
            shares[offsets[t] + q] = share
            total += r[q] * share
            filled += wq * share
            if r[q] >= 0.0 and share > 0.0 and wq > 0.0:
                crit = max(crit, ratio[q])
            ahead += wq
        short = max(low[j] - filled, 0.0)
        value[t] = total + price * short
        critical[t] = price if short > 1e-12 else crit
    return value, critical, offsets, shares


@njit(cache=True)
def add_cover(covered, first, unit, centres, offsets, shares):
    """covered[unit] += the share each of `centres` takes of it (offsets and shares from `knapsacks`)."""
    for t in range(len(centres)):
        j = centres[t]
        for q in range(first[j + 1] - first[j]):
            covered[unit[first[j] + q]] += shares[offsets[t] + q]


@njit(cache=True)
def add_negative_cover(covered, first, unit, cost, lam, centres):
    """covered[unit] += 1 for every negative pair of `centres` (centres whose negative pairs all fit)."""
    for j in centres:
        for q in range(first[j], first[j + 1]):
            if cost[q] - lam[unit[q]] < 0.0:
                covered[unit[q]] += 1.0


@njit(parallel=True, cache=True)
def dense_knapsacks(reduced_cost, weight, own, lower, upper):
    """The continuous knapsack of every column of `reduced_cost` (rows: units; `own[c]` is column c's own
    row, forced in; `weight` has one column, or one per column; `lower` and `upper` per column), best
    ratio first (weightless negative rows first); infinite costs are left out. Returns per column the
    value (own cost included; inf where the capacities cannot be met), the price of the capacity (the
    next row's ratio where a capacity binds, else 0), the share of each row taken (the own row 1) and
    each row's reduced cost r - price * w (0 where left out)."""
    n, m = reduced_cost.shape
    step = 1 if weight.shape[1] > 1 else 0  # weight's column for column c: c * step
    value, price = np.zeros(m), np.zeros(m)
    x, reduced = np.zeros((n, m)), np.zeros((n, m))
    for c in prange(m):
        col = c * step
        j = own[c]
        ratio = np.empty(n)
        negative_weight, total_weight = 0.0, 0.0
        for i in range(n):
            r, w = reduced_cost[i, c], weight[i, col]
            if i == j or r == np.inf:
                ratio[i] = np.inf
                continue
            ratio[i] = r / w if w > 0.0 else (-np.inf if r < 0.0 else np.inf)
            total_weight += w
            if r < 0.0:
                negative_weight += w
        lo, hi = lower[c] - weight[j, col], upper[c] - weight[j, col]
        target = min(max(negative_weight, lo), hi)
        feasible = total_weight >= lo - 1e-9 and hi >= -1e-9
        target = min(max(target, 0.0), total_weight)
        order = np.argsort(ratio, kind="mergesort")
        total, cum, taken, full = reduced_cost[j, c], 0.0, 0.0, 0
        for pos in range(n):  # the prefix of rows taken whole
            i = order[pos]
            r = reduced_cost[i, c]
            w = 0.0 if (i == j or r == np.inf) else weight[i, col]
            cum += w
            if cum <= target + 1e-12 and (w > 0.0 or r < 0.0) and ratio[i] != np.inf:
                full += 1
                total += r
                taken = cum
                x[i, c] = 1.0
            else:
                break
        nxt = order[min(full, n - 1)]
        r_next = reduced_cost[nxt, c]
        w_next = 0.0 if (nxt == j or r_next == np.inf) else weight[nxt, col]
        if full < n and w_next > 0.0:
            share = min(max((target - taken) / w_next, 0.0), 1.0)
            total += share * r_next
            x[nxt, c] += share
        binding = abs(target - negative_weight) > 1e-8 + 1e-5 * abs(negative_weight)
        mu = ratio[nxt] if binding else 0.0
        price[c] = mu if np.isfinite(mu) else 0.0
        x[j, c] = 1.0
        value[c] = total if feasible else np.inf
        for i in range(n):
            r = reduced_cost[i, c]
            reduced[i, c] = 0.0 if (i == j or r == np.inf) else r - price[c] * weight[i, col]
    return value, price, x, reduced


SPARSE_KERNELS = (centre_sums, knapsacks, add_cover, add_negative_cover)  # the sparse bound's (lagrangian_sparse)


def compiled(sparse: bool) -> bool:
    """Numba's on-disk cache holds the kernels of the dense (`sparse` False) or sparse bound: loading them
    takes about a second, compiling them 10-25 s on the project's machine."""
    kernels = SPARSE_KERNELS if sparse else (dense_knapsacks,)
    try:
        return all(os.path.exists(k._cache._cache_file._index_path) for k in kernels)
    except AttributeError:  # another numba: say nothing rather than guess
        return True


def compile_kernels(sparse: bool) -> float:
    """Compile (first use after an install) or load from numba's cache the kernels of the dense or the sparse
    Lagrangian bound, with the argument types the bounds pass them; returns the seconds it took.
    A search calls this before its stages, so that a first run's compiling (13.8 s for dense_knapsacks on the
    project's machine, 2026-12-04) does not eat the first plan's budget: a fresh clone's first `make demo`
    ended with no plan that way. `make install` calls it (python -m model.knapsack_kernels)."""
    start = time.perf_counter()
    two, one = np.arange(2, dtype=np.int64), np.ones(2)
    if sparse:
        first, unit = np.arange(3, dtype=np.int64), np.arange(2, dtype=np.int32)
        centre_sums(first, unit, one, one, np.zeros(2), np.zeros(2))
        _, _, offsets, shares = knapsacks(first, unit, one, one, np.zeros(2), np.zeros(2), one, one, two)
        add_cover(np.zeros(2), first, unit, two, offsets[:-1].copy(), shares)
        add_negative_cover(np.zeros(2), first, unit, one, np.zeros(2), two)
    else:
        dense_knapsacks(np.zeros((2, 2)), np.ones((2, 1)), two, np.zeros(2), np.full(2, 2.0))
    return time.perf_counter() - start


if __name__ == "__main__":  # make install: compile both kernel sets once, into numba's cache
    print(f"compiled the bound's kernels in {compile_kernels(False) + compile_kernels(True):.1f} s")
