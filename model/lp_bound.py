"""A Lagrangian bound at the duals of the LP relaxation, for models whose LP is too large to solve exactly.

The subgradient ascent of model.lagrangian stalls short of the Lagrangian dual's optimum on large
models, and that optimum is the LP relaxation of the Hess model (first balance rule, no contiguity):
each centre's subproblem is a continuous knapsack, so the relaxation loses nothing. So the LP is solved
on the pairs fixing left, approximately, by a first-order method (the engine's `lp_row_duals`), and the
duals of its assignment rows are taken as multipliers. The Lagrangian function is a valid bound at any
multipliers, so the approximation costs strength, never validity; a short ascent from there follows.

Measured on 1,000 generated cells (the 157,096 pairs fixing left, from the search's plan 1.69019e10;
benchmarks README): the ascent stalls at 1.66229e10 (1.651% below the plan); the LP is 1.67374e10 (0.973%)
but takes 801 s by simplex and 327 s by interior point; 60 s of PDLP gives duals worth 1.67352e10 (0.986%).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csc_matrix

from model.lagrangian import LagrangianBound, lagrangian_bound
from model.spec import TerritorySpec

# First-order iterations for the LP: each passes over the matrix a few times (about 4 ms on 157,096 pairs).
# On 1,000 cells (shared machine): 4,000 iterations 19 s, duals worth 1.67241e10; 8,000 35 s, 1.67335e10.
LP_ITERATIONS = 8_000
# Subgradient steps from the LP's duals, at most this long (and half the LP's time limit): from 2,000
# iterations' duals 20 s of ascent rose from 1.65582e10 to 1.67312e10, from 8,000 to 1.67360e10.
ASCENT_SECONDS = 20.0


@dataclass(frozen=True)
class HessLp:
    """The Hess model's LP relaxation over given pairs, as a matrix; duals times `scale` are in cost units."""

    cost: np.ndarray
    matrix: csc_matrix
    col_bounds: tuple[np.ndarray, np.ndarray]
    row_bounds: tuple[np.ndarray, np.ndarray]
    scale: float


def hess_lp(spec: TerritorySpec, allowed: np.ndarray) -> HessLp | None:
    """Rows: each unit assigned once (rows 0..n-1), assign[i, j] <= assign[j, j], each open centre's
    total of the first balance rule within its bounds, k centres. Columns: the `allowed` pairs whose
    centre may open (free centres). None if some unit has no pair left."""
    geo = spec.geography
    n = geo.n
    centres = np.flatnonzero(np.diag(allowed))
    units, to = np.nonzero(allowed[:, centres])
    to = centres[to]
    if len(np.unique(units)) < n:
        return None
    p = len(units)
    own = np.full(n, -1)
    own[to[units == to]] = np.flatnonzero(units == to)  # column of each centre's own pair
    cost = spec.cost()[units, to]
    scale = max(float(np.abs(cost).max()), 1e-12) / 1e4  # as in model.territory_model.define_objective
    off = np.flatnonzero(units != to)
    c = len(centres)
    slot = np.searchsorted(centres, to)  # each column's centre as 0..c-1
    if spec.balance:
        weight = np.asarray(geo.attributes[spec.balance[0].attribute], dtype=float)
        lows, highs = spec.bounds()
        low, high = lows[0, centres], highs[0, centres]
    else:
        weight, low, high = np.ones(n), np.zeros(c), np.full(c, float(n))
    unit_scale = max(float(weight.mean()), 1e-12)
    w = weight / unit_scale
    row_vub, row_low, row_high, row_count = n, n + len(off), n + len(off) + c, n + len(off) + 2 * c
    rows = np.concatenate([units, row_vub + np.arange(len(off)), row_vub + np.arange(len(off)),
                           row_low + slot, row_low + np.arange(c), row_high + slot, row_high + np.arange(c),
                           np.full(c, row_count)])
    cols = np.concatenate([np.arange(p), off, own[to[off]], np.arange(p), own[centres], np.arange(p), own[centres],
                           own[centres]])
    vals = np.concatenate([np.ones(p), np.ones(len(off)), -np.ones(len(off)), w[units], -low / unit_scale,
                           w[units], -high / unit_scale, np.ones(c)])
    matrix = csc_matrix((vals, (rows, cols)), shape=(row_count + 1, p))  # duplicates (own columns) add up
    inf = np.inf
    row_lower = np.concatenate([np.ones(n), np.full(len(off), -inf), np.zeros(c), np.full(c, -inf), [spec.count]])
    row_upper = np.concatenate([np.ones(n), np.zeros(len(off)), np.full(c, inf), np.zeros(c), [spec.count]])
    return HessLp(cost / scale, matrix, (np.zeros(p), np.ones(p)), (row_lower, row_upper), scale)


def lp_dual_bound(spec: TerritorySpec, engine, upper: float, allowed: np.ndarray, time_limit: float,
                  iterations: int = LP_ITERATIONS, ascent_seconds: float = ASCENT_SECONDS,
                  on_bound: Callable[[float], None] | None = None) -> LagrangianBound | None:
    """The Lagrangian bound (with fixing against `upper`) at the LP's approximate duals, then a short
    ascent, all over the `allowed` pairs: valid for every plan cheaper than `upper`. None if the LP
    cannot be set up or the engine gives no duals."""
    lp = hess_lp(spec, allowed)
    if lp is None:
        return None
    duals = engine.lp_row_duals(lp.cost, lp.matrix, lp.col_bounds, lp.row_bounds, iterations,
                                time_limit=time_limit)
    if duals is None:
        return None
    start = duals[: spec.geography.n] * lp.scale
    return lagrangian_bound(spec, upper=upper, start=start, iterations=1_000_000,
                            time_limit=min(ascent_seconds, time_limit / 2),
                            on_bound=on_bound, possible=allowed)
