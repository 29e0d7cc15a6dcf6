"""Balanced assignment to given centres (the allocation step of location-allocation), for large plans.

With the centres fixed, the best assignment of units within the balance bounds, contiguity aside, is a
transportation LP: min sum c_ij x_ij, each unit's shares sum to 1, each centre's totals within bounds.
A basic optimum splits at most (centres x rules) units, so rounding each split unit to the territory
where the totals stay inside their bounds moves them only a little; local search then repairs contiguity and balance. Each unit may go to
its few nearest centres only (a heuristic restriction: this step finds plans, it proves nothing), and
with nested levels only to centres of its own group. The engine solves it as a plain LP (no Pyomo: a
model of a few hundred thousand columns would take longer to build than to solve).
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csc_matrix, vstack

from model.contiguity import lightest_paths
from model.fixing import Fixing, paths_fit
from model.spec import TerritorySpec

NEAREST_CENTRES = 8


def balanced_assignment(spec: TerritorySpec, engine, centre_of: np.ndarray, zone: np.ndarray | None = None,
                        margin: float = 0.2, frozen: set[int] = frozenset()) -> np.ndarray | None:
    """Units reassigned to the centres of `centre_of` by the transportation LP (rounded), aiming inside
    the balance band by `margin` of its half-width (room for rounding); the territories centred on
    `frozen` keep their units and take no others. `engine.solve_lp` solves it. None if it has no solution."""
    solved = transport_lp(spec, engine, centre_of, zone, margin, frozen)
    return None if solved is None else _round(spec, *solved, centre_of)


def transport_lp(spec: TerritorySpec, engine, centre_of: np.ndarray, zone: np.ndarray | None = None,
                 margin: float = 0.2, frozen: set[int] = frozenset()) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The transportation LP itself (see balanced_assignment): (units, centres, shares) of its pairs, or None."""
    centres = np.unique(centre_of)
    n, k = spec.geography.n, len(centres)
    zone = np.zeros(n, dtype=int) if zone is None else np.asarray(zone)
    # Frozen territories form zones of their own: their units can only stay, no one else can join.
    held = np.isin(centre_of, list(frozen))
    zone = np.where(held, -1 - np.searchsorted(centres, centre_of), zone)
    rows, cols = candidate_pairs(spec, centres, centre_of, zone)
    cost = spec.cost()[rows, centres[cols]]
    inset = [np.where(np.isin(centres, list(frozen)), 0.0, margin * (r.upper - r.lower) / 2) for r in spec.balance]
    x = solve_transport(spec, engine, rows, cols, k, cost, rows == centres[cols], inset)  # (a centre stays in its own territory)
    return None if x is None else (rows, centres[cols], x)


def fixed_centre_bound(spec: TerritorySpec, engine, seconds: float | None = None) -> float | None:
    """With fixed centres: the transportation LP over the pairs of `fixed_centre_pairs` at the balance bounds
    themselves; it drops contiguity and integrality alone, so its value is a lower bound on every plan. None if the
    engine finds no optimum (within `seconds`)."""
    rows, cols = fixed_centre_pairs(spec)
    program = _fixed_centre_program(spec, rows, cols)
    x = engine.solve_lp(*program[:4], seconds)
    return None if x is None else float(program[4] @ x)


def fixed_centre_pairs(spec: TerritorySpec) -> tuple[np.ndarray, np.ndarray]:
    """The (unit, centre position) pairs a plan at the fixed centres may use: every pair within max_distance, but a
    locked unit's to its own centre only and, with contiguity, none whose lightest path of units from the centre is
    above the territory's maximum (model.fixing.paths_fit; on the mixed counties at 200 reps it drops 216,916 of
    1,352,200 pairs and raises the LP by 0.05%). Each centre's and each locked unit's own pair always stays."""
    centres = np.asarray(spec.centres)
    n, k = spec.geography.n, len(centres)
    rows, cols = np.repeat(np.arange(n), k), np.tile(np.arange(k), n)
    if spec.locks:
        rows, cols = _locks_kept(spec, rows, cols, centres)
    keep = np.ones(len(rows), dtype=bool)
    if spec.max_distance is not None:
        keep &= np.asarray(spec.geography.distance[rows, centres[cols]]) <= spec.max_distance
    if spec.contiguity and spec.balance and spec.geography.edges:
        keep &= paths_fit(spec, centres)[rows, cols]
    keep |= (rows == centres[cols]) | np.isin(rows, [u for u, _ in spec.locks])
    return rows[keep], cols[keep]


def fixed_centre_fixing(spec: TerritorySpec, engine, upper: float, seconds: float | None = None) -> Fixing | None:
    """Safe fixing at fixed centres from the transportation LP (`fixed_centre_bound`'s) against a plan costing
    `upper`: a plan with unit i in centre j's territory costs at least the LP plus the reduced costs of its pairs
    (LP duality; a centre's own pair is in every plan), and with contiguity the territory holds a path of units from
    j to i, so the reduced costs along the lightest such path must fit under upper - LP. `allowed` is n x n (the
    centres' columns), as the exact model takes it. None without an LP optimum or if a unit would keep no pair."""
    centres = np.asarray(spec.centres)
    n, k = spec.geography.n, len(centres)
    rows, cols = fixed_centre_pairs(spec)
    program = _fixed_centre_program(spec, rows, cols)
    found = engine.solve_lp_priced(*program[:4], seconds)
    if found is None:
        return None
    x, reduced = found
    cost = program[4]
    value = float(cost @ x)
    priced = np.full((n, k), np.inf)
    priced[rows, cols] = np.maximum(reduced * _cost_scale(cost), 0.0)  # (the LP's costs are divided by it)
    priced[centres, np.arange(k)] = 0.0
    forced = lightest_paths(spec.geography.edges, n, priced, centres) if spec.contiguity and spec.geography.edges \
        else priced
    slack = upper - value + 1e-6 * max(1.0, abs(upper))  # a margin for the LP's own tolerances
    allowed = np.zeros((n, n), dtype=bool)
    allowed[:, centres] = forced <= slack  # (a centre's own pair: 0, the path's start)
    for unit, label in spec.locks:
        allowed[unit, spec.centres[label]] = True
    if not allowed.any(axis=1).all():
        return None
    return Fixing(allowed, value, int(allowed[:, centres].sum()))


def _fixed_centre_program(spec: TerritorySpec, rows: np.ndarray, cols: np.ndarray) -> tuple:
    """The transportation LP at the fixed centres on the given pairs, bands not inset, as the engine takes it
    (cost, matrix, column bounds, row bounds), and the pairs' unscaled cost."""
    centres = np.asarray(spec.centres)
    cost = np.asarray(spec.cost()[rows, centres[cols]], dtype=float)
    return (*transport_program(spec, rows, cols, len(centres), cost, rows == centres[cols],
                               [0.0] * len(spec.balance)), cost)


def excess_over_lp(spec: TerritorySpec, plan, engine) -> float:
    """How far a plan at the fixed centres lies above `fixed_centre_bound` (inf if the LP gives no value): 0 means
    no plan is cheaper. The pair search ranks groups of territories by it (model.neighbourhood)."""
    value = fixed_centre_bound(spec, engine)
    return np.inf if value is None else plan.objective(spec.cost()) - value


def solve_transport(spec: TerritorySpec, engine, rows: np.ndarray, cols: np.ndarray, k: int, cost: np.ndarray,
                    own: np.ndarray, inset: list, seconds: float | None = None,
                    extra: tuple | None = None) -> np.ndarray | None:
    """The optimal x of `transport_program`, or None if the engine finds no optimum (within `seconds`)."""
    return engine.solve_lp(*transport_program(spec, rows, cols, k, cost, own, inset, extra), seconds)


def transport_program(spec: TerritorySpec, rows: np.ndarray, cols: np.ndarray, k: int, cost: np.ndarray,
                      own: np.ndarray, inset: list, extra: tuple | None = None) -> tuple:
    """The transportation LP on the given pairs (unit `rows`, centre position `cols`; a centre's own pair fixed at 1),
    each rule's band inset by `inset` (per rule: a number or one per centre position), as the engine takes it:
    (cost scaled to at most 1, matrix, column bounds, row bounds). `extra`: more rows over the same columns,
    (matrix, lower, upper) (model.path_transport's shortest-path rows). Each centre's band is its own (spec.bounds():
    less what a redesign's locked accounts already give it), found from the centres' own pairs."""
    n, rules = spec.geography.n, spec.balance
    m = len(rows)
    values = [spec.geography.attributes[r.attribute][rows] for r in rules]
    a_rows = np.concatenate([rows] + [n + q * k + cols for q in range(len(rules))])
    a_cols = np.tile(np.arange(m), 1 + len(rules))
    matrix = csc_matrix((np.concatenate([np.ones(m)] + values), (a_rows, a_cols)), shape=(n + k * len(rules), m))
    centre_unit = np.zeros(k, dtype=int)
    centre_unit[cols[own]] = rows[own]
    band_lower, band_upper = spec.bounds()
    lower = [np.ones(n)] + [band_lower[q, centre_unit] + d for q, d in enumerate(inset)]
    upper = [np.ones(n)] + [band_upper[q, centre_unit] - d for q, d in enumerate(inset)]
    if extra is not None:
        matrix = vstack([matrix, extra[0]], format="csc")
        lower, upper = lower + [extra[1]], upper + [extra[2]]
    return (cost / _cost_scale(cost), matrix, (np.where(own, 1.0, 0.0), np.ones(m)),
            (np.concatenate(lower), np.concatenate(upper)))


def _cost_scale(cost: np.ndarray) -> float:
    """What `transport_program` divides the costs by (HiGHS works best with coefficients near 1)."""
    return max(float(np.abs(cost).max(initial=0.0)), 1.0)


def _round(spec: TerritorySpec, rows: np.ndarray, to: np.ndarray, x: np.ndarray, centre_of: np.ndarray) -> np.ndarray:
    """Whole units stay where the LP put them; each split unit (largest first) goes to the centre among
    its shares where the territory totals end up least outside their bounds (ties: the larger share)."""
    owner = centre_of.copy()
    whole = x >= 1 - 1e-7
    owner[rows[whole]] = to[whole]
    split = np.setdiff1d(np.unique(rows[x > 1e-7]), rows[whole])
    fractional = (x > 1e-7) & np.isin(rows, split)
    values = np.array([spec.geography.attributes[r.attribute] for r in spec.balance]).reshape(len(spec.balance), -1)
    lower = np.array([r.lower for r in spec.balance])[:, None]
    upper = np.array([r.upper for r in spec.balance])[:, None]
    assigned = np.ones(len(owner), dtype=bool)
    assigned[split] = False
    totals = {int(c): values[:, assigned & (owner == c)].sum(axis=1) for c in np.unique(to)}
    scale = np.maximum((lower + upper)[:, 0] / 2, 1e-12)
    shares: dict[int, list[tuple[int, float]]] = {}
    for r, c, share in zip(rows[fractional], to[fractional], x[fractional]):  # the split units' shares
        shares.setdefault(int(r), []).append((int(c), float(share)))
    for u in sorted(split, key=lambda u: -float((values[:, u] / scale).max())):
        options = shares[int(u)]

        def outside(c: int) -> float:
            t = totals[c] + values[:, u]
            return float(((np.maximum(0, lower[:, 0] - t) + np.maximum(0, t - upper[:, 0])) / scale).sum())

        c = min(options, key=lambda o: (outside(int(o[0])), -o[1]))[0]
        owner[u] = c
        totals[int(c)] = totals[int(c)] + values[:, u]
    return owner


def candidate_pairs(spec: TerritorySpec, centres: np.ndarray, centre_of: np.ndarray, zone: np.ndarray):
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
    if spec.locks and spec.centres is not None:
        rows, cols = _locks_kept(spec, pairs[:, 0], pairs[:, 1], centres)
        order = np.lexsort((cols, rows))
        return rows[order], cols[order]
    return pairs[:, 0], pairs[:, 1]


def _locks_kept(spec: TerritorySpec, rows: np.ndarray, cols: np.ndarray, centres: np.ndarray):
    """The (unit, centre position) pairs with each locked unit's replaced by the one to its own territory's
    centre (fixed centres; `centres` gives the unit of each position)."""
    locked = np.array([u for u, _ in spec.locks])
    at = {int(c): i for i, c in enumerate(centres)}
    keep = ~np.isin(rows, locked)
    return (np.concatenate([rows[keep], locked]),
            np.concatenate([cols[keep], [at[spec.centres[t]] for _, t in spec.locks]]))
