"""The transportation LP at fixed centres with shortest-path rows, for a first plan whose territories hold together.

The plain transportation LP (model.transport) drops contiguity, and at fixed centres it often gives a territory a
region away from its centre (a rep in a crowded city gets a stretch of the plains, the cells around the home going
to the reps next door). Rounded, such a plan is in pieces, and the repair that joins the pieces breaks the balance.
Here each centre's shortest-path tree over the adjacency graph (edges as long as their units' distance) adds one row
per unit and centre: a unit may go to a centre only as much as its parent on that tree does (Zoltners and Sinha's
shortest-path constraints). A 0-1 solution of these rows is connected by construction, and the LP's own solution is
nearly so: on the ZIP cells' 7,500 groups with 200 reps' homes (±5%) its rounding had one territory in pieces, where
the plain LP's had 76 (674 groups cut off), and the repaired plan was 15% cheaper (tests/benchmarks/README.md, "A
first plan from the LP with shortest-path rows"). The rows forbid some connected plans too (and with a lock far
from its centre they can leave no balanced plan at all), so this finds plans, it proves nothing.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csc_matrix, csr_matrix
from scipy.sparse.csgraph import dijkstra

from model.spec import TerritorySpec
from model.transport import solve_transport

# Centres each unit may go to, nearest first (then whatever the trees' paths need). On the ZIP cells' groups 8 left
# the LP infeasible (a territory's tree could not reach its minimum); 30 gave 225,908 pairs and a 1.9 s LP.
PATH_NEAREST_CENTRES = 30


def usable_for_paths(spec: TerritorySpec) -> bool:
    """Fixed centres and balance on a map with a distance matrix, nothing that restricts pairs in other ways."""
    return (spec.centres is not None and bool(spec.balance) and isinstance(spec.geography.distance, np.ndarray)
            and spec.max_distance is None and not spec.levels)


def tree_parents(spec: TerritorySpec, centres: np.ndarray) -> np.ndarray:
    """parents[j, u]: the unit before u on the shortest path over the adjacency graph from centres[j] (-1 for the
    centre itself and for units it cannot reach). The paths avoid the other centres and the units locked to other
    territories, which no territory but their own can take."""
    geo = spec.geography
    n = geo.n
    edges = np.array(geo.edges, dtype=int).reshape(-1, 2)
    length = np.asarray(geo.distance[edges[:, 0], edges[:, 1]], dtype=float) + 1e-9  # (a zero would drop the edge)
    held = np.full(n, -1)  # unit -> the centre unit it must stay with
    held[centres] = centres
    for unit, territory in spec.locks:
        held[unit] = spec.centres[territory]
    parents = np.full((len(centres), n), -1)
    for j, c in enumerate(centres):
        open_ = (held < 0) | (held == c)
        keep = open_[edges[:, 0]] & open_[edges[:, 1]]
        a, b, w = edges[keep, 0], edges[keep, 1], length[keep]
        graph = csr_matrix((np.r_[w, w], (np.r_[a, b], np.r_[b, a])), shape=(n, n))
        _, found = dijkstra(graph, indices=int(c), return_predecessors=True)
        parents[j] = np.where(found < 0, -1, found)
    return parents


def path_pairs(spec: TerritorySpec, centres: np.ndarray, parents: np.ndarray,
               nearest: int = PATH_NEAREST_CENTRES) -> tuple[np.ndarray, np.ndarray]:
    """(centre position, unit) pairs: each unit with its `nearest` centres, locked units with their own centre only,
    closed under the trees' parents (a pair's parent pair is a pair too; a pair whose path runs through a unit
    locked elsewhere is dropped)."""
    geo = spec.geography
    n, k = geo.n, len(centres)
    near = np.argsort(np.asarray(geo.distance[:, centres], dtype=float), axis=1, kind="stable")[:, :nearest]
    taken = np.zeros((k, n), dtype=bool)
    taken[near.ravel(), np.repeat(np.arange(n), near.shape[1])] = True
    taken[np.arange(k), centres] = True
    barred = np.zeros((k, n), dtype=bool)  # a locked unit goes to its own centre alone
    position = {int(c): j for j, c in enumerate(centres)}
    for unit, territory in spec.locks:
        own = position[int(spec.centres[territory])]
        barred[:, unit] = True
        barred[own, unit] = False
        taken[own, unit] = True
    taken &= ~barred
    while True:  # add the parents' pairs (not barred ones)
        rows, units = np.nonzero(taken)
        up = parents[rows, units]
        rows, up = rows[up >= 0], up[up >= 0]
        new = ~taken[rows, up] & ~barred[rows, up]
        if not new.any():
            break
        taken[rows[new], up[new]] = True
    taken[(parents < 0) & (np.arange(n)[None, :] != centres[:, None])] = False  # units a centre cannot reach
    while True:  # drop the pairs whose parent's pair is barred, and theirs in turn
        rows, units = np.nonzero(taken)
        up = parents[rows, units]
        orphan = (up >= 0) & ~taken[rows, np.maximum(up, 0)]
        if not orphan.any():
            return rows, units
        taken[rows[orphan], units[orphan]] = False


def path_assignment(spec: TerritorySpec, engine, nearest: int = PATH_NEAREST_CENTRES) -> np.ndarray | None:
    """Unit -> centre unit: the transportation LP with shortest-path rows (see the module docstring) at the balance
    bounds, each unit to the centre of its largest share. None if the LP has no solution. (Rounding split units
    along the trees instead, to the territory their parent joined and where the totals end least outside their
    bounds, left the ZIP cells' groups further from balance, 19.1 against 10.3, and the repaired plan 2.4% dearer.)"""
    geo = spec.geography
    n = geo.n
    centres = np.asarray(sorted(spec.centres))
    k = len(centres)
    parents = tree_parents(spec, centres)
    rows, units = path_pairs(spec, centres, parents, nearest)
    m = len(rows)
    column = -np.ones((k, n), dtype=np.int64)
    column[rows, units] = np.arange(m)
    up = parents[rows, units]
    child = np.flatnonzero(up >= 0)
    parent = column[rows[child], up[child]]
    count = len(child)  # one row per pair with a parent: its share at most its parent pair's
    steps = csc_matrix((np.r_[np.ones(count), -np.ones(count)], (np.r_[np.arange(count), np.arange(count)],
                                                                  np.r_[child, parent])), shape=(count, m))
    cost = np.asarray(spec.cost()[units, centres[rows]], dtype=float)
    x = solve_transport(spec, engine, units, rows, k, cost, units == centres[rows], [0.0] * len(spec.balance),
                        extra=(steps, np.full(count, -1.0), np.zeros(count)))
    if x is None:
        return None
    share = np.zeros((k, n))
    share[rows, units] = x
    return centres[np.argmax(share, axis=0)]

