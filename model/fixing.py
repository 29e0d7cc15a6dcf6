"""Safe fixing: pairs (unit, centre) no plan can use, or no plan better than a known one.

Path fixing needs no plan: a connected territory holds a path of units from its centre to each of its
units, so unit i can join the territory centred on j only if the lightest such path (centre and unit
included) fits under the territory's maximum, on every balance rule. On Georgia at 10 territories it
leaves Fulton County alone in its territory: with any neighbour it is above the maximum.

The LP relaxation, solved once, gives reduced-cost fixing against a known plan.

If the LP relaxation has value `lp` and the column (i, j) has reduced cost `rc`, every solution with
assign[i, j] = 1 costs at least lp + rc. With a valid plan of cost `upper`, columns with
lp + rc > upper can be removed without losing any better plan; a centre that cannot open removes its
whole column. The model left is smaller, and its bound, capped by `upper`, is still a valid bound.
The same LP also says which centres it opens, a good start for the heuristic.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from geodata.distances import LazyPairs
from model.contiguity import lightest_paths
from model.spec import TerritorySpec
from model.territory_model import build_territory_model
from solvers.result import SolverOptions, Termination

MIN_LP_SECONDS = 0.5  # below this after building, the LP is not started (it took 5-10 s on Georgia's counties)


@dataclass(frozen=True)
class Relaxation:
    """The LP relaxation's value, how far each centre opens, and every pair's reduced cost
    (in the user's units; +inf for pairs the model does not have)."""

    value: float
    opened: np.ndarray
    reduced_cost: np.ndarray

    def centres(self, count: int) -> list[int]:
        """The `count` most open centres."""
        return sorted(int(j) for j in np.argsort(-self.opened, kind="stable")[:count])


def solve_relaxation(spec: TerritorySpec, engine, options: SolverOptions) -> Relaxation | None:
    """Solve the LP relaxation of the model without contiguity (same bound, far smaller)."""
    started = time.perf_counter()
    m = build_territory_model(replace(spec, contiguity=False), separators_up_front=False)
    if options.time_limit is not None:  # the limit covers building too (1.2 s of Pyomo on Georgia's 25,281 pairs)
        left = options.time_limit - (time.perf_counter() - started)
        if left < MIN_LP_SECONDS:
            return None
        options = replace(options, time_limit=left)
    res = engine.solve(m, replace(options, log_path=None), relax=True)
    # Reduced costs justify fixing only at an optimal LP basis; a stopped LP proves nothing.
    if res.termination is not Termination.OPTIMAL or not res.reduced_costs or res.objective is None:
        return None
    n = spec.geography.n
    rc = np.full((n, n), np.inf)
    opened = np.zeros(n)
    for i, j in m.pairs:
        name = m.assign[i, j].name
        rc[i, j] = res.reduced_costs[name] * m.cost_scale
        if i == j:
            opened[j] = res.values[name]
    return Relaxation(res.objective * m.cost_scale, opened, rc)


@dataclass(frozen=True)
class Fixing:
    """Which (unit, centre) pairs survive, and the LP bound that justified it."""

    allowed: np.ndarray
    lp_bound: float
    kept: int


def reduced_cost_fixing(spec: TerritorySpec, relaxation: Relaxation, upper: float) -> Fixing | None:
    """Keep only the pairs whose reduced cost fits under `upper`."""
    slack = upper - relaxation.value + 1e-6 * max(1.0, abs(upper))  # a margin for the LP's own tolerances
    forced = relaxation.reduced_cost
    geo = spec.geography
    if spec.contiguity and geo.edges and spec.centres is None:
        # i in j's territory forces j open and a path from j to i: their reduced costs add up (LP duality)
        centres = np.arange(geo.n)
        rc = np.maximum(relaxation.reduced_cost, 0.0)
        forced = np.diag(rc)[None, :] + lightest_paths(geo.edges, geo.n, rc, centres)  # 0 path at the centre
    allowed = forced <= slack
    if spec.centres is None:
        allowed[:, ~np.diag(allowed)] = False
    if not allowed.any(axis=1).all():
        return None  # numerically doubtful: keep the full model
    return Fixing(allowed, relaxation.value, int(allowed.sum()))


def balance_paths(spec: TerritorySpec, r: int, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For balance rule r: path[i, c], the lightest total of a connected path from centres[c] to unit i (both
    included); room[c], that centre's maximum (less what is locked to it); fits = path within room. A connected
    territory holds such a path to each of its units (path fixing here, and the precheck's unit that fits nowhere)."""
    geo = spec.geography
    value = geo.attributes[spec.balance[r].attribute].astype(float)
    path = value[centres][None, :] + lightest_paths(geo.edges, geo.n, value, centres)  # unit x centre
    room = spec.bounds()[1][r, centres]
    return path, room, path <= room[None, :] * (1 + 1e-9) + 1e-9


def paths_fit(spec: TerritorySpec, centres: np.ndarray) -> np.ndarray:
    """fits[i, c]: on every balance rule the lightest path from centres[c] to unit i fits the territory's maximum
    (`balance_paths`); only a unit for which it does may join that centre in a connected territory."""
    fits = np.ones((spec.geography.n, len(centres)), dtype=bool)
    for r in range(len(spec.balance)):
        fits &= balance_paths(spec, r, centres)[2]
    return fits


def path_fixing(spec: TerritorySpec) -> np.ndarray | None:
    """allowed[i, j]: the lightest path of units from centre j to unit i (both included) is within the
    territory's maximum on every balance rule (columns of fixed centres only); locked pairs and each
    centre's own pair always stay. None when there is nothing to check (contiguity off, no balance, or
    a geography too large for n x n arrays)."""
    geo = spec.geography
    if not spec.contiguity or not spec.balance or isinstance(geo.distance, LazyPairs) or not geo.edges:
        return None
    n = geo.n
    centres = np.asarray(spec.centres if spec.centres is not None else np.arange(n))
    allowed = np.zeros((n, n), dtype=bool)
    allowed[:, centres] = paths_fit(spec, centres)
    allowed[centres, centres] = True
    if spec.centres is not None:  # with free centres a lock names a group, not a centre
        for unit, label in spec.locks:
            allowed[unit, spec.centres[label]] = True
    return allowed
