"""Large-neighbourhood search: re-solve two adjacent territories at a time exactly.

Every other territory stays as it is, so each sub-problem is small (the units of two territories,
two centres) and solves in a fraction of a second, yet it can redraw the whole border between the
two: moves no single-unit local search can make. Used to improve the first plan before the full model.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from geodata.instance import Geography
from model.check import is_valid
from model.plan import Plan
from model.spec import TerritorySpec


def restrict(spec: TerritorySpec, units: np.ndarray, centres: list[int]) -> TerritorySpec:
    """The same problem on a subset of units, holding the territories centred on `centres`."""
    geo = spec.geography
    units = np.sort(np.asarray(units))
    pos = {int(u): i for i, u in enumerate(units)}
    sub_geo = Geography(
        ids=tuple(geo.ids[u] for u in units),
        attributes={a: v[units] for a, v in geo.attributes.items()},
        x=geo.x[units],
        y=geo.y[units],
        edges=tuple((pos[a], pos[b]) for a, b in geo.edges if a in pos and b in pos),
        distance=geo.distance[np.ix_(units, units)],
        distance_unit=geo.distance_unit,
    )
    fixed = None
    locks = []
    if spec.centres is not None:
        fixed = tuple(pos[c] for c in centres)
        label_of = {c: t for t, c in enumerate(centres)}
        locks = [(pos[u], label_of[spec.centres[t]]) for u, t in spec.locks if u in pos]
    else:
        locks = [(pos[u], label) for u, label in spec.locks if u in pos]
    return replace(
        spec, geography=sub_geo, count=len(centres), weight=spec.weight[units], centres=fixed, locks=tuple(locks)
    )


def adjacent_territories(spec: TerritorySpec, plan: Plan) -> list[tuple[int, int]]:
    """Pairs of centres whose territories share a border, sorted."""
    c = plan.centre_of
    return sorted({(min(c[a], c[b]), max(c[a], c[b])) for a, b in spec.geography.edges if c[a] != c[b]})


def improve_pairs(spec: TerritorySpec, plan: Plan, solve_exact, budget: float) -> Plan:
    """Sweep over adjacent territory pairs, re-solving each exactly, until a sweep changes nothing
    or the budget (seconds) is spent. `solve_exact(sub_spec, sub_plan, seconds, units)` returns a plan
    or None (`units` are the sub-problem's units in the full problem)."""
    start = time.perf_counter()
    cost = spec.cost()
    current = list(plan.centre_of)
    done: set[tuple[tuple[int, ...], ...]] = set()
    improved = True
    while improved:
        improved = False
        for a, b in adjacent_territories(spec, Plan(tuple(current))):
            left = budget - (time.perf_counter() - start)
            if left <= 0.2:
                return Plan(tuple(current))
            if a not in current or b not in current or current[a] != a or current[b] != b:
                continue  # a centre moved during this sweep
            units = np.flatnonzero(np.isin(current, [a, b]))
            key = (tuple(units), tuple(np.asarray(current)[units]))
            if key in done:
                continue
            done.add(key)
            sub = restrict(spec, units, [a, b])
            pos = {int(u): i for i, u in enumerate(units)}
            sub_plan = Plan(tuple(pos[current[u]] for u in units))
            # An invalid pair (e.g. unbalanced) is worth any valid redraw.
            before = sub_plan.objective(sub.cost()) if is_valid(sub, sub_plan) else np.inf
            found = solve_exact(sub, sub_plan if np.isfinite(before) else None, min(left, 3.0), units)
            if found is None:
                continue
            after = found.objective(sub.cost())
            if after < before - 1e-9 * max(1.0, abs(after)):
                for i, u in enumerate(units):
                    current[u] = int(units[found.centre_of[i]])
                improved = True
    return Plan(tuple(current))


__all__ = ["adjacent_territories", "improve_pairs", "restrict"]
