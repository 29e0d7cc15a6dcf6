"""Large-neighbourhood search: re-solve two or three touching territories at a time exactly.

Every other territory stays as it is, so each sub-problem is small (the units of a few territories)
and solves in a fraction of a second, yet it can redraw the whole border between them: moves no
single-unit local search can make, and a way to pass balance along a chain of territories. Used to
improve (or repair) the first plan before the full model.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from geodata.instance import Geography
from model.check import is_valid
from model.plan import Plan
from model.spec import Limit, SearchInterrupted, TerritorySpec
from solvers import interrupt


def restrict(spec: TerritorySpec, units: np.ndarray, centres: list[int],
             centre_of: list[int] | None = None) -> TerritorySpec:
    """The same problem on a subset of units, holding the territories centred on `centres`; side
    limits keep what the other units use under `centre_of` (the current plan, needed with limits)."""
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
    limits = []
    if spec.limits:
        outside = np.setdiff1d(np.arange(geo.n), units)
        owners = np.asarray(centre_of)[outside]
        for lim in spec.limits:
            held = float(lim.coef[outside, owners].sum())
            limits.append(Limit(lim.name, lim.coef[np.ix_(units, units)], lim.rhs - held))
    return replace(
        spec, geography=sub_geo, count=len(centres), weight=spec.weight[units], centres=fixed, locks=tuple(locks),
        extra_cost=None if spec.extra_cost is None else spec.extra_cost[np.ix_(units, units)],
        offsets=None if spec.offsets is None else spec.offsets[:, units],
        limits=tuple(limits), levels=(),
    )


def territory_groups(spec: TerritorySpec, plan: Plan, size: int,
                     zone: np.ndarray | None = None) -> list[tuple[int, ...]]:
    """Groups of `size` touching territories, as sorted centre tuples: each pair that shares a border
    (size 2), or each territory with the size - 1 neighbours it shares most border with. With `zone`
    (nested levels) only territories of the same zone are grouped."""
    c = plan.centre_of
    border: dict[tuple[int, int], int] = {}
    for a, b in spec.geography.edges:
        if c[a] != c[b] and (zone is None or zone[a] == zone[b]):
            key = (min(c[a], c[b]), max(c[a], c[b]))
            border[key] = border.get(key, 0) + 1
    if size == 2:
        return sorted(border)
    groups = set()
    for t in sorted(set(c)):
        nbrs = sorted(((n, -w) for (x, y), w in border.items() for n in (x, y) if t in (x, y) and n != t),
                      key=lambda p: (p[1], p[0]))
        if len(nbrs) >= size - 1:
            groups.add(tuple(sorted([t] + [n for n, _ in nbrs[: size - 1]])))
    return sorted(groups)


def improve_pairs(spec: TerritorySpec, plan: Plan, solve_exact, budget: float, sizes=(2, 3),
                  zone: np.ndarray | None = None, on_plan: Callable[[Plan], None] | None = None) -> Plan:
    """Sweep over groups of touching territories (pairs, then triples), re-solving each exactly, until
    a sweep of every size changes nothing or the budget (seconds) is spent.
    `solve_exact(sub_spec, sub_plan, seconds, units)` returns a plan or None (`units` are the
    sub-problem's units in the full problem). `on_plan` hears of every improvement (still invalid if the plan
    started invalid)."""
    current = list(plan.centre_of)
    try:
        return _sweep(spec, current, solve_exact, budget, sizes, zone, on_plan)
    except KeyboardInterrupt:
        raise SearchInterrupted(Plan(tuple(current))) from None


def _sweep(spec: TerritorySpec, current: list[int], solve_exact, budget: float, sizes, zone, on_plan) -> Plan:
    start = time.perf_counter()
    done: set[tuple[tuple[int, ...], ...]] = set()
    improved = True
    while improved:
        improved = False
        for size in sizes:
            if size > spec.count:
                continue
            for group in territory_groups(spec, Plan(tuple(current)), size, zone):
                interrupt.check()
                left = budget - (time.perf_counter() - start)
                if left <= 0.2:
                    return Plan(tuple(current))
                if any(current[c] != c for c in group):
                    continue  # a centre moved during this sweep
                if _resolve(spec, current, list(group), solve_exact, min(left, 10.0), done):
                    improved = True
                    if on_plan is not None:
                        on_plan(Plan(tuple(current)))
            if improved:
                break  # restart from pairs: they are cheap
    return Plan(tuple(current))


def _resolve(spec: TerritorySpec, current: list[int], group: list[int], solve_exact, seconds: float,
             done: set) -> bool:
    """Re-solve one group of territories; update `current` in place if the group got better."""
    units = np.flatnonzero(np.isin(current, group))
    key = (tuple(units), tuple(np.asarray(current)[units]))
    if key in done:
        return False
    done.add(key)
    if spec.centres is not None and spec.locks:
        members = set(units.tolist())
        if any(u in members and spec.centres[t] not in group for u, t in spec.locks):
            return False  # a unit of the group is locked to a territory outside it (the plan breaks the lock)
    sub = restrict(spec, units, group, current)
    pos = {int(u): i for i, u in enumerate(units)}
    sub_plan = Plan(tuple(pos[current[u]] for u in units))
    # An invalid group (e.g. unbalanced) is worth any valid redraw.
    before = sub_plan.objective(sub.cost()) if is_valid(sub, sub_plan) else np.inf
    found = solve_exact(sub, sub_plan if np.isfinite(before) else None, seconds, units)
    if found is None:
        return False
    after = found.objective(sub.cost())
    if after < before - 1e-9 * max(1.0, abs(after)):
        for i, u in enumerate(units):
            current[u] = int(units[found.centre_of[i]])
        return True
    return False


__all__ = ["improve_pairs", "restrict", "territory_groups"]
