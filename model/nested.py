"""Nested plans (scenario key territories.nesting): regions -> districts -> territories.

Bottom up first: a group's balance band is its territories' bands added up, so any plan whose
territories are balanced has balanced groups of every size. Nesting then only asks to group the
territories into connected groups of the same number of territories, level by level: `nest` cuts
the territories' own adjacency graph by spanning trees (model.tree_partition with one unit per
territory). The territories stay exactly as the un-nested search made them, so nesting costs nothing.

Top down when no such grouping is found: cutting every level from random spanning trees gives balanced,
nested parts, but ragged regions and districts that local search on the territories cannot leave. So
`top_down_partition` solves each level above the territories as a plan of its own (one "territory" per
group, a territory's bounds times the territories it holds), makes the groups compact by local search
and location-allocation (model.allocation), and cuts the next level inside them. A level whose improved
groups cannot be cut further keeps its spanning-tree groups.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np

from geodata.instance import Geography
from model.allocation import allocate
from model.check import is_valid
from model.local_search import polish
from model.plan import Plan
from model.spec import BalanceRule, TerritorySpec
from model.tree_partition import Partition, Splitter, medoids, tree_partition

GROUP_BAND = 0.5  # share of the band a group's total may use (around the middle)
NEST_TRIES = 4  # groupings drawn; the most compact is kept
NEST_SECONDS = 10.0
CUT_TRIES = 10  # fresh starts of the spanning-tree cuts of one group before it counts as uncuttable

Leaves = list[tuple[int, tuple[int, ...], np.ndarray]]  # (parent group, path below it, units) per leaf


def nest(spec: TerritorySpec, plan: Plan, seed: int, deadline: float) -> Plan | None:
    """The plan with its territories grouped into the spec's levels (each group connected and holding
    the same number of territories), the most compact of a few groupings; None if none was found."""
    territories = territory_graph(spec, plan)
    deadline = min(deadline, time.perf_counter() + NEST_SECONDS)  # a grouping may not exist: do not hunt long
    best, best_cost = None, np.inf
    for s in range(NEST_TRIES):
        part = tree_partition(territories, spec.level_counts(), seed=seed + s, deadline=deadline)
        if part is None:
            break
        cost = sum(_spread(territories, labels) for labels in part.labels[:-1])
        if cost < best_cost:
            best, best_cost = part, cost
    if best is None:
        return None
    position = np.searchsorted(np.unique(plan.centre_of), plan.centre_of)
    groups = tuple(tuple(int(g) for g in labels[position]) for labels in best.labels[:-1])
    nested = replace(plan, groups=groups)
    return nested if is_valid(spec, nested) else None


def territory_graph(spec: TerritorySpec, plan: Plan) -> TerritorySpec:
    """The plan's territories as units of their own (at their centres, weighted by the objective's
    weight, adjacent where their units are), to be cut into groups of equal numbers of territories."""
    geo = spec.geography
    centre_of = np.asarray(plan.centre_of)
    centres = np.unique(centre_of)
    position = np.searchsorted(centres, centre_of)
    edges = {(min(a, b), max(a, b)) for a, b in (position[list(e)] for e in geo.edges) if a != b}
    k = len(centres)
    graph = Geography(
        ids=tuple(geo.ids[c] for c in centres),
        attributes={"territories": np.ones(k)},
        x=geo.x[centres], y=geo.y[centres],
        edges=tuple(sorted((int(a), int(b)) for a, b in edges)),
        distance=np.asarray(geo.distance[np.ix_(centres, centres)], dtype=float),
        distance_unit=geo.distance_unit,
    )
    weight = np.bincount(position, weights=np.asarray(spec.weight, dtype=float), minlength=k)
    return TerritorySpec(graph, k, (BalanceRule("territories", 1.0, 1.0),), weight=weight, power=spec.power,
                         levels=spec.levels)


def _spread(territories: TerritorySpec, labels: np.ndarray) -> float:
    """How far the territories of each group lie from the group's medoid (the Hess cost of the groups)."""
    centre_of = medoids(territories, labels)
    return float(territories.cost()[np.arange(len(labels)), centre_of].sum())


def level_spec(spec: TerritorySpec, depth: int) -> TerritorySpec:
    """The groups of level `depth` (0 = coarsest) as a territory problem of their own: as many
    groups as the level has, each balanced like the territories it holds put together, in the inner
    GROUP_BAND of that band (a group at the edge of its band can hardly be cut into parts that all
    lie inside theirs)."""
    held = spec.territories_per_group(depth)
    rules = tuple(replace(r, lower=held * ((r.lower + r.upper) / 2 - GROUP_BAND * (r.upper - r.lower) / 2),
                          upper=held * ((r.lower + r.upper) / 2 + GROUP_BAND * (r.upper - r.lower) / 2))
                  for r in spec.balance)
    return replace(spec, count=spec.count // held, balance=rules, levels=(), max_distance=None)


def top_down_partition(spec: TerritorySpec, engine, seed: int, deadline: float) -> Partition | None:
    """A balanced, contiguous, nested partition whose groups at every level were made compact before
    the level below was cut inside them. None if no spanning-tree partition was found by the deadline."""
    counts = spec.level_counts()
    n = spec.geography.n
    splitter = Splitter(spec, np.random.default_rng(seed), deadline)
    parent = np.zeros(n, dtype=int)
    leaves = _cut(splitter, parent, counts, 0)
    if leaves is None:
        return None
    labels = []
    for depth in range(len(counts) - 1):
        tree_groups = _labels(leaves, counts[depth], n)
        groups = _compact_groups(level_spec(spec, depth), engine, tree_groups, parent, counts[depth], deadline)
        below = _cut(splitter, groups, counts, depth + 1) if groups is not None else None
        if below is None:  # keep the spanning-tree groups, and the cuts already made inside them
            groups = tree_groups
            below = [(int(tree_groups[units[0]]), path[1:], units) for _, path, units in leaves]
        labels.append(groups)
        parent, leaves = groups, below
    territories = _labels(leaves, counts[-1], n)
    labels.append(territories)
    return Partition(tuple(labels), medoids(spec, territories))


def _cut(splitter: Splitter, parent: np.ndarray, counts: tuple[int, ...], depth: int) -> Leaves | None:
    """Every group of `parent` cut into counts[depth] parts, and those down to the territories."""
    leaves: Leaves = []
    for g in np.unique(parent):
        units = np.flatnonzero(parent == g)
        for _ in range(CUT_TRIES):
            inner = splitter.split(units, counts[depth], math.prod(counts[depth + 1:]), counts[depth + 1:])
            if inner is not None or time.perf_counter() > splitter.deadline:
                break
        if inner is None:
            return None
        leaves += [(int(g), path, leaf) for path, leaf in inner]
    return leaves


def _labels(leaves: Leaves, per_parent: int, n: int) -> np.ndarray:
    """Unit -> group at the level just below the parents (numbered parent x per_parent + part)."""
    labels = np.full(n, -1)
    for g, path, units in leaves:
        labels[units] = g * per_parent + path[0]
    return labels


def _compact_groups(level: TerritorySpec, engine, groups: np.ndarray, parent: np.ndarray, per_parent: int,
                    deadline: float) -> np.ndarray | None:
    """The groups after local search and location-allocation inside their parents, numbered as in
    `_labels`; None if local search lost the balance."""
    plan = polish(level, medoids(level, groups), deadline=deadline, zone=parent)
    if not is_valid(level, plan):
        return None
    plan = allocate(level, engine, plan, parent, deadline)
    centre_of = np.asarray(plan.centre_of)
    improved = np.full(len(centre_of), -1)
    for g in np.unique(parent):
        centres = np.unique(centre_of[parent == g])
        if len(centres) != per_parent:
            return None
        for rank, c in enumerate(centres):
            improved[centre_of == c] = g * per_parent + rank
    return improved
