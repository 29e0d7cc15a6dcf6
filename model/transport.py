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
                        margin: float = 0.2, frozen: set[int] = frozenset()) -> np.ndarray | None:
    """Units reassigned to the centres of `centre_of` by the transportation LP (rounded), aiming inside
    the balance band by `margin` of its half-width (room for rounding); the territories centred on
    `frozen` keep their units and take no others. None if the LP has no solution."""
    centres = np.unique(centre_of)
    n, k = spec.geography.n, len(centres)
    zone = np.zeros(n, dtype=int) if zone is None else np.asarray(zone)
    # Frozen territories form zones of their own: their units can only stay, no one else can join.
    held = np.isin(centre_of, list(frozen))
    zone = np.where(held, -1 - np.searchsorted(centres, centre_of), zone)
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
    inset = [np.where(np.isin(centres, list(frozen)), 0.0, margin * (r.upper - r.lower) / 2) for r in rules]
    lp.row_lower_ = np.concatenate([np.ones(n)] + [r.lower + d for r, d in zip(rules, inset)])
    lp.row_upper_ = np.concatenate([np.ones(n)] + [r.upper - d for r, d in zip(rules, inset)])
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
    return _round(spec, rows, centres[cols], x, centre_of)


def _round(spec: TerritorySpec, rows: np.ndarray, to: np.ndarray, x: np.ndarray, centre_of: np.ndarray) -> np.ndarray:
    """Whole units stay where the LP put them; each split unit (largest first) goes to the centre among
    its shares where the territory totals end up least outside their bounds (ties: the larger share)."""
    owner = centre_of.copy()
    whole = x >= 1 - 1e-7
    owner[rows[whole]] = to[whole]
    split = np.setdiff1d(np.unique(rows[x > 1e-7]), rows[whole])
    values = np.array([spec.geography.attributes[r.attribute] for r in spec.balance]).reshape(len(spec.balance), -1)
    lower = np.array([r.lower for r in spec.balance])[:, None]
    upper = np.array([r.upper for r in spec.balance])[:, None]
    assigned = np.ones(len(owner), dtype=bool)
    assigned[split] = False
    totals = {int(c): values[:, assigned & (owner == c)].sum(axis=1) for c in np.unique(to)}
    scale = np.maximum((lower + upper)[:, 0] / 2, 1e-12)
    for u in sorted(split, key=lambda u: -float((values[:, u] / scale).max())):
        options = [(c, share) for r, c, share in zip(rows, to, x) if r == u and share > 1e-7]

        def outside(c: int) -> float:
            t = totals[c] + values[:, u]
            return float(((np.maximum(0, lower[:, 0] - t) + np.maximum(0, t - upper[:, 0])) / scale).sum())

        c = min(options, key=lambda o: (outside(int(o[0])), -o[1]))[0]
        owner[u] = c
        totals[int(c)] = totals[int(c)] + values[:, u]
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
    if spec.max_distance is not None:  # only centres within the limit (and each unit's own)
        keep = distance[pairs[:, 0], centres[pairs[:, 1]]] <= spec.max_distance
        keep |= centres[pairs[:, 1]] == centre_of[pairs[:, 0]]
        pairs = pairs[keep]
    return pairs[:, 0], pairs[:, 1]
