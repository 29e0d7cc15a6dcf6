"""Balanced assignment to given centres (the allocation step of location-allocation), for large plans.

With the centres fixed, the best assignment of units within the balance bounds, contiguity aside, is a
transportation LP: min sum c_ij x_ij, each unit's shares sum to 1, each centre's totals within bounds.
A basic optimum splits at most (centres x rules) units, so rounding each unit to its largest share
moves the totals only a little; local search then repairs contiguity and balance. Each unit may go to
its few nearest centres only (a heuristic restriction: this step finds plans, it proves nothing), and
with nested levels only to centres of its own group. Solved with HiGHS through highspy directly: a
Pyomo model of a few hundred thousand columns would take longer to build than to solve.
"""

from __future__ import annotations

import highspy
import numpy as np
from scipy.sparse import csc_matrix

from model.spec import TerritorySpec

NEAREST_CENTRES = 8


def balanced_assignment(spec: TerritorySpec, centre_of: np.ndarray, zone: np.ndarray | None = None,
                        margin: float = 0.2) -> np.ndarray | None:
    """Units reassigned to the centres of `centre_of` by the transportation LP (rounded), aiming inside
    the balance band by `margin` of its half-width (room for rounding and repair); None if the LP has no
    solution (e.g. bounds unreachable with the nearest centres)."""
    centres = np.unique(centre_of)
    n, k = spec.geography.n, len(centres)
    zone = np.zeros(n, dtype=int) if zone is None else np.asarray(zone)
    rows, cols = _candidate_pairs(spec, centres, centre_of, zone)
    cost = spec.cost()[rows, centres[cols]]
    rules = spec.balance
    m = len(rows)
    values = [spec.geography.attributes[r.attribute][rows] for r in rules]
    a_rows = np.concatenate([rows] + [n + q * k + cols for q in range(len(rules))])
    a_vals = np.concatenate([np.ones(m)] + values)
    a_cols = np.tile(np.arange(m), 1 + len(rules))
    matrix = csc_matrix((a_vals, (a_rows, a_cols)), shape=(n + k * len(rules), m))
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = m, n + k * len(rules)
    scale = max(float(np.abs(cost).max()), 1.0)
    lp.col_cost_ = cost / scale
    lp.col_lower_, lp.col_upper_ = np.zeros(m), np.ones(m)
    own = rows == centres[cols]  # a centre stays in its own territory
    lp.col_lower_ = np.where(own, 1.0, 0.0)
    inset = [margin * (r.upper - r.lower) / 2 for r in rules]  # room for rounding the split units
    lp.row_lower_ = np.concatenate([np.ones(n)] + [np.full(k, r.lower + d) for r, d in zip(rules, inset)])
    lp.row_upper_ = np.concatenate([np.ones(n)] + [np.full(k, r.upper - d) for r, d in zip(rules, inset)])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = matrix.indptr, matrix.indices, matrix.data
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = m, n + k * len(rules)
    solver = highspy.Highs()
    solver.setOptionValue("output_flag", False)
    solver.setOptionValue("threads", 1)
    solver.passModel(lp)
    solver.run()
    if solver.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    x = np.asarray(solver.getSolution().col_value)
    best = np.full(n, -1.0)
    owner = centre_of.copy()
    for r, c, share in zip(rows, centres[cols], x):  # each unit to its largest share
        if share > best[r]:
            best[r], owner[r] = share, c
    return owner


def _candidate_pairs(spec: TerritorySpec, centres: np.ndarray, centre_of: np.ndarray, zone: np.ndarray):
    """(unit, centre position) pairs: each unit with its nearest centres of its zone and its current one."""
    distance = spec.geography.distance
    rows, cols = [], []
    for z in np.unique(zone):
        units = np.flatnonzero(zone == z)
        mine = np.flatnonzero(zone[centres] == z)
        d = distance[units[:, None], centres[mine][None, :]]
        near = np.argsort(d, axis=1)[:, :NEAREST_CENTRES]
        rows.append(np.repeat(units, near.shape[1]))
        cols.append(mine[near].ravel())
    rows.append(np.arange(spec.geography.n))
    cols.append(np.searchsorted(centres, centre_of))
    pairs = np.unique(np.column_stack([np.concatenate(rows), np.concatenate(cols)]), axis=0)
    return pairs[:, 0], pairs[:, 1]
