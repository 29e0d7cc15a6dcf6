"""Coarse units for maps too large for a distance matrix (the 32,984 ZIP cells): neighbouring units merged
into connected groups, the plan made on the groups (1,500 to 6,000, with a matrix, so the steps that need one
can run), then lifted back unit by unit. A group is connected, and fixed centres and locked units are groups
of their own, so a connected, balanced plan of groups is a connected, balanced plan of units with the same locks
(the converse fails: groups can leave no room where single units would, so callers fall back to the units).

Groups are formed by rounds of greedy matching along the shortest edges (each group merges with at most one
neighbour per round), which keeps them compact and of similar size; a group's representative is its unit
nearest to its weighted centre, and distances between groups are those of the representatives (a fixed
centre's group is represented by the centre itself)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from geodata.distances import DENSE_MAX_UNITS
from geodata.instance import Geography
from model.plan import Plan
from model.spec import TerritorySpec

# Groups aimed at: at least COARSE_UNITS, GROUPS_PER_TERRITORY per territory, at most what a distance matrix
# allows. On the ZIP cells with 20 reps' cities (±20%, one-off script, 54 s of windows after the start, one run
# each): 1,500 groups 3.27e13, 3,000 groups (GROUP_SHARE 0.1) 3.84e13 (each window's program about twice the size,
# fewer windows in the time).
COARSE_UNITS = 1_500
GROUPS_PER_TERRITORY = 30
GROUP_SHARE = 0.25  # most of a balance band's width one group may hold (heavier units stay alone)
GROUP_SIZE = 4  # most units in a group, as a multiple of the average n / target


@dataclass(frozen=True)
class Coarse:
    """The problem on groups of units, and which group each unit is in."""

    spec: TerritorySpec
    group_of: np.ndarray
    reps: np.ndarray  # group -> its representative unit

    def lift(self, fine: TerritorySpec, plan: Plan) -> Plan:
        """The plan of groups as a plan of units: each unit goes where its group went (fixed centres)."""
        centre_of = np.asarray(plan.centre_of)[self.group_of]
        fine_centre = {int(g): int(c) for g, c in zip(self.spec.centres, fine.centres)}
        return Plan(tuple(fine_centre[int(g)] for g in centre_of))


def coarsenable(spec: TerritorySpec) -> bool:
    """Fixed centres and nothing priced or limited per unit pair (those would need their own aggregation)."""
    return (spec.centres is not None and spec.extra_cost is None and spec.offsets is None and not spec.limits
            and not spec.levels and spec.max_distance is None and spec.geography.n > COARSE_UNITS)


def coarsen(spec: TerritorySpec, target: int | None = None) -> Coarse:
    """Connected groups of about n / target units each (by default the target of COARSE_UNITS), and the problem on
    them (see the module docstring)."""
    geo = spec.geography
    target = target or min(DENSE_MAX_UNITS, max(COARSE_UNITS, GROUPS_PER_TERRITORY * spec.count))
    anchors = np.zeros(geo.n, dtype=bool)
    anchors[list(spec.centres or ())] = True
    anchors[[u for u, _ in spec.locks]] = True
    ring = anchors.copy()  # and their neighbours: one group touching several centres would wall all but one in
    nbrs = geo.neighbours()
    for u in np.flatnonzero(anchors):
        ring[nbrs[u]] = True
    values = np.array([geo.attributes[r.attribute] for r in spec.balance], dtype=float).reshape(len(spec.balance), geo.n)
    cap = np.array([GROUP_SHARE * (r.upper - r.lower) for r in spec.balance], dtype=float)
    group_of = _match_groups(geo, values, cap, ring, target, GROUP_SIZE * max(1, geo.n // target))
    reps = _representatives(spec, group_of)
    return Coarse(_coarse_spec(spec, group_of, reps), group_of, reps)


def _match_groups(geo: Geography, values: np.ndarray, cap: np.ndarray, anchors: np.ndarray, target: int,
                  most_units: int) -> np.ndarray:
    """Unit -> group (0..g-1): rounds of greedy matching of neighbouring groups, shortest edge first, a merge
    allowed while the group stays within `cap` on every balance value and within `most_units` units. Anchors
    (fixed centres, locked units and their neighbours) stay alone: six centres in a grid's corner were walled in
    by the groups around them. Stops at `target` groups or when a round merges nothing."""
    label = np.arange(geo.n)
    edges = np.array(geo.edges, dtype=int).reshape(-1, 2)
    groups = geo.n
    while groups > target:
        sums = np.array([np.bincount(label, weights=v, minlength=geo.n) for v in values]).reshape(-1, geo.n)
        size = np.bincount(label, minlength=geo.n)
        anchored = np.bincount(label, weights=anchors, minlength=geo.n) > 0
        a, b = label[edges[:, 0]], label[edges[:, 1]]
        cross = a != b
        a, b, ua, ub = a[cross], b[cross], edges[cross, 0], edges[cross, 1]
        fits = ((sums[:, a] + sums[:, b] <= cap[:, None]).all(axis=0) & (size[a] + size[b] <= most_units)
                & ~anchored[a] & ~anchored[b])
        a, b, ua, ub = a[fits], b[fits], ua[fits], ub[fits]
        if len(a) == 0:
            break
        length = np.asarray(geo.distance[ua, ub], dtype=float)
        taken = np.zeros(geo.n, dtype=bool)
        into = np.arange(geo.n)
        merged = 0
        for i in np.lexsort((b, a, length)):  # shortest edge first, ties by group labels: repeatable
            x, y = int(a[i]), int(b[i])
            if taken[x] or taken[y]:
                continue
            taken[x] = taken[y] = True
            into[y] = x
            merged += 1
            if groups - merged <= target:
                break
        if merged == 0:
            break
        label = into[label]
        groups -= merged
    _, group_of = np.unique(label, return_inverse=True)
    return group_of


def _representatives(spec: TerritorySpec, group_of: np.ndarray) -> np.ndarray:
    """Each group's fixed centre if it holds one, else its unit nearest to its weighted centre."""
    geo = spec.geography
    count = int(group_of.max()) + 1
    w = spec.weight + 1e-9 * (1.0 + float(np.max(spec.weight, initial=0.0)))  # groups of weightless units too
    total = np.bincount(group_of, weights=w, minlength=count)
    cx = np.bincount(group_of, weights=w * geo.x, minlength=count) / total
    cy = np.bincount(group_of, weights=w * geo.y, minlength=count) / total
    far = (geo.x - cx[group_of]) ** 2 + (geo.y - cy[group_of]) ** 2
    order = np.lexsort((far, group_of))  # by group, nearest first
    first = np.searchsorted(group_of[order], np.arange(count))
    reps = order[first]
    if spec.centres is not None:
        reps[group_of[list(spec.centres)]] = list(spec.centres)
    return reps


def _coarse_spec(spec: TerritorySpec, group_of: np.ndarray, reps: np.ndarray) -> TerritorySpec:
    geo = spec.geography
    count = len(reps)
    ends = group_of[np.array(geo.edges, dtype=int).reshape(-1, 2)]
    ends = np.unique(np.sort(ends[ends[:, 0] != ends[:, 1]], axis=1), axis=0)  # touching groups, each pair once
    numeric = {k: v for k, v in geo.attributes.items() if np.issubdtype(np.asarray(v).dtype, np.number)}
    coarse_geo = Geography(
        ids=tuple(geo.ids[r] for r in reps),
        attributes={k: np.bincount(group_of, weights=np.asarray(v, dtype=float), minlength=count)
                    for k, v in numeric.items()},
        x=geo.x[reps], y=geo.y[reps], edges=tuple((int(a), int(b)) for a, b in ends),
        distance=np.asarray(geo.distance[np.ix_(reps, reps)], dtype=float),
        distance_unit=geo.distance_unit,
    )
    return replace(spec, geography=coarse_geo,
                   weight=np.bincount(group_of, weights=spec.weight, minlength=count),
                   centres=None if spec.centres is None else tuple(int(group_of[c]) for c in spec.centres),
                   locks=tuple((int(group_of[u]), t) for u, t in spec.locks))
