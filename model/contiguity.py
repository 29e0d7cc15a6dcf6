"""Contiguity by separator cuts (Validi, Buchanan & Lykhovyd 2022, 'CUT' for Hess models).

If unit i belongs to the territory centred on j, every set C of units whose removal separates i
from j must hold a unit of that territory too:  assign[i, j] <= sum_{c in C} assign[c, j].
The neighbours of i form such a set (used up front); the boundary of a stray component found in a
plan forms another (added lazily). Both are valid for every contiguous plan, so the model stays
correct by construction and only cuts off disconnected plans.
"""

from __future__ import annotations

from collections import deque

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra


def reachable(start: int, allowed: np.ndarray, neighbours: list[list[int]]) -> np.ndarray:
    """Boolean mask of units reachable from `start` moving only through `allowed` units."""
    seen = np.zeros(len(neighbours), dtype=bool)
    if not allowed[start]:
        return seen
    seen[start] = True
    queue = deque([start])
    while queue:
        u = queue.popleft()
        for v in neighbours[u]:
            if allowed[v] and not seen[v]:
                seen[v] = True
                queue.append(v)
    return seen


def stray_components(members: np.ndarray, centre: int, neighbours: list[list[int]]) -> list[np.ndarray]:
    """Groups of a territory's units not connected to its centre within the territory."""
    n = len(neighbours)
    inside = np.zeros(n, dtype=bool)
    inside[members] = True
    left = inside & ~reachable(centre, inside, neighbours)
    parts = []
    while left.any():
        seed = int(np.flatnonzero(left)[0])
        part = reachable(seed, left, neighbours)
        parts.append(np.flatnonzero(part))
        left &= ~part
    return parts


def separator(part: np.ndarray, centre: int, neighbours: list[list[int]]) -> list[int]:
    """A small set of units separating `part` from `centre`: the boundary of `part` that the
    centre can reach without crossing `part` (other boundary units cannot lie on a path)."""
    n = len(neighbours)
    in_part = np.zeros(n, dtype=bool)
    in_part[part] = True
    boundary = sorted({v for u in part for v in neighbours[u] if not in_part[v]})
    from_centre = reachable(centre, ~in_part, neighbours)
    return [v for v in boundary if from_centre[v]]


def violated_separators(centre_of: np.ndarray, neighbours: list[list[int]]) -> list[tuple[int, int, list[int]]]:
    """(unit, centre, separator) for every unit cut off from its centre in this plan."""
    cuts = []
    for centre in np.unique(centre_of):
        members = np.flatnonzero(centre_of == centre)
        for part in stray_components(members, int(centre), neighbours):
            sep = separator(part, int(centre), neighbours)
            cuts.extend((int(i), int(centre), sep) for i in part)
    return cuts


def lightest_paths(edges, n: int, weight: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """paths[i, c]: the least total `weight` of the units on a path from sources[c] to unit i, the
    source excluded and i included (0 at the source, inf where unreachable). `weight` is one value per
    unit (n) or one per unit and source (n x len(sources)); negative weights count as 0. A territory
    is connected, so it holds such a path from its centre to each of its units: the basis of path
    fixing by balance totals and by reduced costs (model.fixing, model.lagrangian)."""
    sources = np.asarray(sources)
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    tail, head = np.concatenate([e[:, 0], e[:, 1]]), np.concatenate([e[:, 1], e[:, 0]])
    graph = csr_matrix((np.ones(len(tail)), (tail, head)), shape=(n, n))
    graph.sort_indices()
    heads = graph.indices.copy()
    w = np.maximum(np.asarray(weight, dtype=float), 0.0)
    w = np.where(np.isfinite(w), w, 1e300)
    tiny = 1e-12 * max(1.0, float(w[w < 1e300].max(initial=0.0)))  # zero-weight edges stay edges
    out = np.empty((n, len(sources)))
    if w.ndim == 1:
        graph.data = w[heads] + tiny
        for part in np.array_split(np.arange(len(sources)), max(1, len(sources) // 500)):  # memory: 500 rows at a time
            out[:, part] = dijkstra(graph, directed=True, indices=sources[part]).T
    else:
        for c, source in enumerate(sources):
            graph.data = w[heads, c] + tiny
            out[:, c] = dijkstra(graph, directed=True, indices=int(source))
    hops = n * tiny  # the most the tiny edge weights can add up to
    return np.maximum(out - hops, 0.0)
