"""Balanced, contiguous (and nested) partitions by recursive spanning-tree cuts: the first plan of
large instances, where local search from nearest-centre starts does not reach the balance band.

Removing one edge of a spanning tree splits a connected set of units into two connected parts. Draw
a spanning tree that favours short edges (minimum spanning tree of randomly stretched distances), cut
the edge whose sides hold the right shares of every balance attribute (q1/q and q2/q of the part's q
territories, within the bounds), and recurse: k balanced, contiguous parts. With nested levels (e.g.
6 regions x 5 districts x 6 territories) the recursion splits regions first, then districts, then
territories, so every level is balanced and every territory lies inside one district and one region.
A part that cannot be split after a few trees sends the search back to a new cut of its parent.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order, minimum_spanning_tree

from model.spec import TerritorySpec
from solvers import interrupt

TREES_PER_SPLIT = 12  # new trees drawn before a part gives up and its parent re-cuts
MEDOID_CANDIDATES = 400  # units tried as a group's medoid (those nearest its weighted mean)


@dataclass(frozen=True)
class Partition:
    """Unit -> part label at every level (level 0 = the coarsest), and the leaves' weighted medoids."""

    labels: tuple[np.ndarray, ...]
    centre_of: np.ndarray  # unit -> the centre unit of its leaf part (territory)


class Splitter:
    """Balanced spanning-tree cuts of sets of units (see the module docstring)."""

    def __init__(self, spec: TerritorySpec, rng: np.random.Generator, deadline: float):
        geo = spec.geography
        self.rng = rng
        self.deadline = deadline
        self.values = np.array([geo.attributes[r.attribute] for r in spec.balance], dtype=float).reshape(
            len(spec.balance), geo.n)
        self.lower = np.array([r.lower for r in spec.balance], dtype=float)
        self.upper = np.array([r.upper for r in spec.balance], dtype=float)
        a, b = (np.array(e, dtype=int) for e in zip(*geo.edges)) if geo.edges else (np.zeros(0, int),) * 2
        self.a, self.b = a, b
        self.length = np.maximum(geo.distance[a, b], 1e-9) if len(a) else np.zeros(0)

    def fits(self, totals: np.ndarray, leaves: int) -> bool:
        return bool(np.all(totals >= leaves * self.lower - 1e-9) and np.all(totals <= leaves * self.upper + 1e-9))

    def split(self, units: np.ndarray, m: int, t: int, rest: tuple[int, ...]) -> list[tuple[tuple[int, ...], np.ndarray]] | None:
        """Split `units` into m groups of t leaves each (then each group by the levels in `rest`).
        Returns (path, units) per leaf, path[0] being the group at this level; None if it fails."""
        interrupt.check()
        if m == 1:
            if not rest:
                return [((0,), units)]
            inner = self.split(units, rest[0], math.prod(rest[1:]), rest[1:])
            return None if inner is None else [((0,) + path, leaf) for path, leaf in inner]
        m1 = m // 2
        for _ in range(TREES_PER_SPLIT):
            if time.perf_counter() > self.deadline:
                return None
            side = self.cut(units, m1 * t, (m - m1) * t)
            if side is None:
                continue
            left = self.split(units[side], m1, t, rest)
            if left is None:
                continue
            right = self.split(units[~side], m - m1, t, rest)
            if right is None:
                continue
            return left + [((path[0] + m1,) + path[1:], leaf) for path, leaf in right]
        return None

    def cut(self, units: np.ndarray, q1: int, q2: int) -> np.ndarray | None:
        """A mask over `units`: one side of a spanning-tree edge whose two sides hold q1 and q2
        territories' worth of every balance attribute (the most even such edge), or None."""
        size = len(units)
        pos = np.full(self.values.shape[1], -1)
        pos[units] = np.arange(size)
        inside = (pos[self.a] >= 0) & (pos[self.b] >= 0)
        ia, ib = pos[self.a[inside]], pos[self.b[inside]]
        stretch = self.length[inside] * self.rng.uniform(1.0, 3.0, size=len(ia))
        tree = minimum_spanning_tree(coo_matrix((stretch, (ia, ib)), shape=(size, size)).tocsr())
        root = int(self.rng.integers(size))
        order, parent = breadth_first_order(tree, root, directed=False, return_predecessors=True)
        if len(order) < size:
            return None  # not connected: cannot happen for parts cut from a connected graph
        values = self.values[:, units]
        below = values.copy()
        for v in order[:0:-1]:  # children before parents
            below[:, parent[v]] += below[:, v]
        total = below[:, root]
        share = q1 / (q1 + q2)
        best, best_dev = -1, np.inf
        for flip in (False, True):  # the subtree holds the q1 side, or the q2 side
            sub = below[:, order[1:]]
            low, high = (sub, total[:, None] - sub) if not flip else (total[:, None] - sub, sub)
            ok = np.all((low >= q1 * self.lower[:, None] - 1e-9) & (low <= q1 * self.upper[:, None] + 1e-9)
                        & (high >= q2 * self.lower[:, None] - 1e-9) & (high <= q2 * self.upper[:, None] + 1e-9), axis=0)
            if not ok.any():
                continue
            dev = np.max(np.abs(low / np.maximum(total[:, None], 1e-12) - share), axis=0)
            dev = np.where(ok, dev, np.inf)
            j = int(np.argmin(dev))
            if dev[j] < best_dev:
                best, best_dev, best_flip = j, dev[j], flip
        if best < 0:
            return None
        node = int(order[1:][best])
        side = np.zeros(size, dtype=bool)
        side[_subtree(order, parent, node)] = True
        return ~side if best_flip else side


def _subtree(order: np.ndarray, parent: np.ndarray, node: int) -> np.ndarray:
    """The nodes below `node` (itself included) in a tree given by BFS order and predecessors."""
    below = np.zeros(len(parent), dtype=bool)
    below[node] = True
    for v in order:  # parents come before children in BFS order
        p = parent[v]
        if p >= 0 and below[p]:
            below[v] = True
    return np.flatnonzero(below)


def tree_partition(spec: TerritorySpec, levels: tuple[int, ...] | None = None, seed: int = 0,
                   deadline: float | None = None) -> Partition | None:
    """A balanced, contiguous partition into `spec.count` territories, nested by `levels` (whose
    product is the count; default one level). None if no partition was found by the deadline."""
    levels = tuple(levels) if levels else (spec.count,)
    if math.prod(levels) != spec.count:
        raise ValueError(f"levels {levels} multiply to {math.prod(levels)}, not {spec.count} territories")
    n = spec.geography.n
    splitter = Splitter(spec, np.random.default_rng(seed), deadline if deadline is not None else np.inf)
    leaves = None
    while leaves is None and time.perf_counter() < splitter.deadline:  # start over with new trees
        leaves = splitter.split(np.arange(n), levels[0], math.prod(levels[1:]), levels[1:])
        if deadline is None:
            break
    if leaves is None:
        return None
    labels = [np.full(n, -1) for _ in levels]
    for depth in range(len(levels)):
        names: dict[tuple[int, ...], int] = {}
        for path, units in leaves:
            labels[depth][units] = names.setdefault(path[: depth + 1], len(names))
    return Partition(tuple(labels), medoids(spec, labels[-1]))


def medoids(spec: TerritorySpec, labels: np.ndarray) -> np.ndarray:
    """Unit -> the unit of its group (same label) with the least total cost to the group's units. In
    large groups only the units nearest the group's weighted mean position are tried as medoids."""
    cost = spec.cost()
    centre_of = np.full(spec.geography.n, -1)
    for g in np.unique(labels):
        units = np.flatnonzero(labels == g)
        centre_of[units] = medoid(spec, cost, units)
    return centre_of


def medoid(spec: TerritorySpec, cost, units: np.ndarray, share: np.ndarray | None = None) -> int:
    """The unit of `units` with the least total `cost` (spec.cost()) to them, each weighted by its `share` (default 1);
    in large groups only the MEDOID_CANDIDATES units nearest their weighted mean position are tried."""
    geo = spec.geography
    tried = units
    if len(units) > MEDOID_CANDIDATES:
        w = np.maximum(np.asarray(spec.weight, dtype=float)[units], 0) + 1e-12
        w = w if share is None else w * share
        mx, my = np.average(geo.x[units], weights=w), np.average(geo.y[units], weights=w)
        near = np.argpartition((geo.x[units] - mx) ** 2 + (geo.y[units] - my) ** 2, MEDOID_CANDIDATES)
        tried = units[near[:MEDOID_CANDIDATES]]
    block = cost[np.ix_(units, tried)]
    return int(tried[int(np.argmin(block.sum(axis=0) if share is None else share @ block))])

