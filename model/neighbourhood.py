"""Large-neighbourhood search: re-solve two or three touching territories at a time exactly.

Every other territory stays as it is, so each sub-problem is small (the units of a few territories)
and solves in a fraction of a second, yet it can redraw the whole border between them: moves no
single-unit local search can make, and a way to pass balance along a chain of territories. Used to
improve (or repair) the first plan before the full model.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from multiprocessing.connection import wait

import numpy as np

from geodata.instance import Geography
from model.check import is_valid
from model.plan import Plan
from model.spec import Limit, SearchInterrupted, TerritorySpec
from solvers import interrupt
from solvers.portfolio import Pending

# A group whose plan is within this share of its bound is taken as optimal there (the LP's tolerances).
EXCESS_TOLERANCE = 1e-7
# The ranked search moves on to the next size when the last STALL_GROUPS answers of this size gained less than
# STALL_SHARE of the plan together (and comes back to the smaller size only after the larger stalls too): the
# pairs' excess over their LPs never reaches 0 (the LP drops contiguity), so without it the triples never ran. On
# the ZIP cells with 200 reps' homes (±5%), from a 900 s run's end plan (pairs had gained 0.02% in its last 63 s),
# 150 s more of pairs gained 0.007%, of triples 0.128%; in that run's productive first 110 s the pairs gained
# about 0.4% per 20 answers.
STALL_GROUPS = 20
STALL_SHARE = 2e-4


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


Excess = Callable[[TerritorySpec, Plan], float]  # a group's plan cost above a lower bound of its own
StartExact = Callable[[TerritorySpec, Plan | None, float, np.ndarray], Pending]  # `solve_exact`, in a fork


def improve_pairs(spec: TerritorySpec, plan: Plan, solve_exact, budget: float, sizes=(2, 3),
                  zone: np.ndarray | None = None, on_plan: Callable[[Plan], None] | None = None,
                  excess: Excess | None = None, start_exact: StartExact | None = None, workers: int = 1,
                  seconds_each: Callable[[int], float] = lambda units: 10.0,
                  on_size: Callable[[int], None] | None = None) -> Plan:
    """Sweep over groups of touching territories (pairs, then triples), re-solving each exactly, until
    a sweep of every size changes nothing or the budget (seconds) is spent.
    `solve_exact(sub_spec, sub_plan, seconds, units)` returns a plan or None (`units` are the
    sub-problem's units in the full problem). `on_plan` hears of every improvement (still invalid if the plan
    started invalid). With `excess(sub_spec, sub_plan)`, how far a group's plan lies above a lower bound of its
    own sub-problem, the groups go largest excess first and a group without excess is skipped (its plan is
    optimal there); see `_ranked_sweep`, which with `start_exact` (as `solve_exact`, returning a
    solvers.portfolio.Pending) solves up to `workers` groups at once, each for at most `seconds_each(its units)`."""
    current = list(plan.centre_of)
    try:
        if excess is not None:
            return _ranked_sweep(spec, current, solve_exact, budget, sizes, zone, on_plan, excess, start_exact,
                                 workers, seconds_each, on_size or (lambda size: None))
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


def _ranked_sweep(spec: TerritorySpec, current: list[int], solve_exact, budget: float, sizes, zone, on_plan,
                  excess: Excess, start_exact: StartExact | None, workers: int,
                  seconds_each: Callable[[int], float], on_size: Callable[[int], None]) -> Plan:
    """The groups of the smallest size first, each time the one whose plan lies furthest above its bound, until
    no group of any size has excess left or the budget is spent; after a gain, back to the smallest size that has
    not stalled (STALL_GROUPS, STALL_SHARE; when the largest stalls, all sizes are open again). On
    the ZIP cells with 200 reps' homes (±5%), from a 900 s run's plan, the plain order gained 0.09% in 250 s (its
    first groups in the North-East), this one took a Californian pair 12.7e9 above its LP first: -0.57% at once.
    A group's excess depends only on its units and their territories, so it is kept under that key and only
    the groups a gain redrew are scored again. With `start_exact` up to `workers` groups are solved at once, on
    disjoint territories (a sub-problem moves units only among its own territories, so the answers combine)."""
    start = time.perf_counter()
    done: set[tuple[tuple[int, ...], ...]] = set()
    scores: dict[tuple[tuple[int, ...], ...], float] = {}
    running: list[_Running] = []
    # (side limits tie every group to the rest of the plan: one at a time, as the plan stands)
    launch = start_exact if start_exact is not None and not spec.limits else _solved_here(solve_exact)
    at_once = max(1, workers) if launch is start_exact else 1
    size_at = floor = 0  # floor: the smallest size that has not stalled
    cost = spec.cost()
    total = Plan(tuple(current)).objective(cost)  # the plan's cost now
    recent: deque[float] = deque(maxlen=STALL_GROUPS)  # the gains of the last answers at this size
    told = sizes[0]  # the size of the groups on_size last heard of (the caller knows the first)
    try:
        while True:
            interrupt.check()
            left = budget - (time.perf_counter() - start)
            if left <= 0.2:
                break
            group = None
            if size_at < len(sizes) and len(running) < at_once:
                busy = {t for r in running for t in r.group}
                group = _largest(spec, current, sizes[size_at], zone, done, scores, busy, excess,
                                 start + budget - 0.2)  # (scoring 497 pairs took 16 s)
                if group is _OUT_OF_TIME:
                    break
            if group is not None:
                if len(group) != told:
                    told = len(group)
                    on_size(told)
                opened = _open(spec, current, list(group), launch, lambda n: min(left, seconds_each(n)), done)
                if opened is not None:
                    running.append(opened)
                continue
            if not running:  # no group of this size left with excess
                size_at += 1
                recent.clear()
                if size_at >= len(sizes) and floor > 0:  # (the stalled sizes may still hold groups untried)
                    size_at = floor = 0
                elif size_at >= len(sizes):
                    break
                continue
            if not any(r.pending.ready() for r in running):
                wait([r.pending.connection for r in running if r.pending.connection is not None],
                     timeout=min(0.25, max(0.0, left - 0.2)))
            for r in [r for r in running if r.pending.ready()]:
                running.remove(r)
                gain = _merge(current, r, r.pending.result())
                total = Plan(tuple(current)).objective(cost) if gain > 0 else total
                recent.append(gain)
                if len(recent) == STALL_GROUPS and sum(recent) < STALL_SHARE * total:
                    floor = size_at + 1 if size_at + 1 < len(sizes) else 0  # this size has stalled
                    size_at = floor
                    recent.clear()
                elif gain > 0:
                    if size_at != floor:
                        recent.clear()
                    size_at = floor
                if gain > 0 and on_plan is not None:
                    on_plan(Plan(tuple(current)))
        for r in running:  # the budget is spent: what is in counts
            if r.pending.ready() and _merge(current, r, r.pending.result()) > 0 and on_plan is not None:
                on_plan(Plan(tuple(current)))
    finally:
        for r in running:
            r.pending.cancel()
    return Plan(tuple(current))


_OUT_OF_TIME = object()  # what `_largest` returns once scoring reaches the deadline


def _largest(spec: TerritorySpec, current: list[int], size: int, zone, done: set, scores: dict, busy: set,
             excess: Excess, deadline: float):
    """The group of `size` territories, none of them `busy`, with the largest excess (None if none has any);
    groups are scored once per key (`scores`), and `_OUT_OF_TIME` when scoring reaches `deadline`."""
    if size > spec.count:
        return None
    plan = Plan(tuple(current))
    members = plan.members()
    best_group, best_score = None, 0.0
    for group in territory_groups(spec, plan, size, zone):
        if busy.intersection(group):
            continue
        key = _key(current, group, members)
        if key in done:
            continue
        if key not in scores:
            interrupt.check()
            if time.perf_counter() > deadline:
                return _OUT_OF_TIME
            scores[key] = _excess(spec, current, list(group), key[0], excess)
        if scores[key] > best_score:
            best_group, best_score = group, scores[key]
    return best_group


def _key(current: list[int], group, members: dict[int, np.ndarray] | None = None) -> tuple[tuple[int, ...], ...]:
    """A group's units and their territories: what its sub-problem depends on (`members`: the units of each
    territory, Plan.members, to save a pass over all units)."""
    if members is None:
        units = np.flatnonzero(np.isin(current, group))
    else:
        units = np.sort(np.concatenate([members[c] for c in group]))
    return tuple(int(u) for u in units), tuple(current[u] for u in units)


def _excess(spec: TerritorySpec, current: list[int], group: list[int], units, excess: Excess) -> float:
    """The group's plan cost above its own bound (inf if the group is invalid: any valid redraw is worth it);
    0 when within EXCESS_TOLERANCE of that cost."""
    sub, sub_plan = _sub_problem(spec, current, group, np.asarray(units))
    if not is_valid(sub, sub_plan):
        return np.inf
    before = sub_plan.objective(sub.cost())
    above = excess(sub, sub_plan)
    return above if above > EXCESS_TOLERANCE * max(1.0, abs(before)) else 0.0


def _sub_problem(spec: TerritorySpec, current: list[int], group: list[int],
                 units: np.ndarray) -> tuple[TerritorySpec, Plan]:
    """The group's sub-problem (its `units`, sorted) and the current plan on it."""
    pos = {int(u): i for i, u in enumerate(units)}
    return restrict(spec, units, group, current), Plan(tuple(pos[current[u]] for u in units))


@dataclass
class _Running:
    """A group's sub-problem being solved."""

    group: list[int]
    units: np.ndarray  # its units in the full problem, sorted
    sub: TerritorySpec
    before: float  # its plan's cost there (inf if invalid)
    pending: Pending


def _solved_here(solve_exact) -> StartExact:
    """`solve_exact` as a `StartExact` whose answer is in when it returns."""
    return lambda sub, warm, seconds, units: Pending(None, 0.0, solve_exact(sub, warm, seconds, units))


def _open(spec: TerritorySpec, current: list[int], group: list[int], launch: StartExact,
          seconds: Callable[[int], float], done: set) -> _Running | None:
    """Start re-solving one group of territories for `seconds(its units)` (None if it was tried in this state, or
    holds a lock to a territory outside it)."""
    key = _key(current, group)
    units = np.asarray(key[0])
    if key in done:
        return None
    done.add(key)
    if spec.centres is not None and spec.locks:
        members = set(units.tolist())
        if any(u in members and spec.centres[t] not in group for u, t in spec.locks):
            return None  # a unit of the group is locked to a territory outside it (the plan breaks the lock)
    sub, sub_plan = _sub_problem(spec, current, group, units)
    # An invalid group (e.g. unbalanced) is worth any valid redraw.
    before = sub_plan.objective(sub.cost()) if is_valid(sub, sub_plan) else np.inf
    warm = sub_plan if np.isfinite(before) else None
    return _Running(group, units, sub, before, launch(sub, warm, seconds(len(units)), units))


def _merge(current: list[int], running: _Running, found: Plan | None) -> float:
    """Take a group's answer into `current` (in place) if it is cheaper than the group's plan; how much cheaper
    (0 if not taken; inf if the group's plan was invalid)."""
    if found is None:
        return 0.0
    after = found.objective(running.sub.cost())
    if after < running.before - 1e-9 * max(1.0, abs(after)):
        for i, u in enumerate(running.units):
            current[u] = int(running.units[found.centre_of[i]])
        return running.before - after
    return 0.0


def _resolve(spec: TerritorySpec, current: list[int], group: list[int], solve_exact, seconds: float,
             done: set) -> bool:
    """Re-solve one group of territories; update `current` in place if the group got better."""
    opened = _open(spec, current, group, _solved_here(solve_exact), lambda n: seconds, done)
    return opened is not None and _merge(current, opened, opened.pending.result()) > 0


__all__ = ["improve_pairs", "restrict", "territory_groups"]
