"""Contiguity by separator cuts (Validi, Buchanan & Lykhovyd 2022, 'CUT' for Hess models).

If unit i belongs to the territory centred on j, every set C of units whose removal separates i
from j must hold a unit of that territory too:  assign[i, j] <= sum_{c in C} assign[c, j].
The neighbours of i form such a set (used up front); the boundary of a stray component found in a
plan forms another (added lazily). Both are valid for every contiguous plan, so the model stays
correct by construction and only cuts off disconnected plans.

When one centre keeps leaving different pieces behind, round after round (HiGHS restarts its search
for every round), the pocket around the latest piece is cut at once: the boundary of every small
connected set of units there (`pocket_separators`).
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


def stray_parts(centre_of: np.ndarray, neighbours: list[list[int]]) -> list[tuple[int, np.ndarray]]:
    """(centre, stray component) for every piece of a territory cut off from its centre in this plan."""
    return [(int(centre), part) for centre in np.unique(centre_of)
            for part in stray_components(np.flatnonzero(centre_of == centre), int(centre), neighbours)]


# Pocket cuts: connected sets of up to POCKET_SIZE units within POCKET_RADIUS steps of a stray piece.
# On GA k = 10 ±5% the rounds without them each cut off one more piece of the same pocket; the exact
# phase from the same plan and pairs ended 0.717% from its bound at 300 s, with them (from the second
# piece a centre leaves) 0.128% (tests/benchmarks/bench_exact_phase.py). From the first piece they slowed
# GA k = 6 ±0.5% (proven in 93 s against 75 s), whose rounds each find a piece of a different centre.
# At most POCKET_SETS sets per piece, smallest first: dense adjacency (an edge list) could have millions.
POCKET_SIZE, POCKET_RADIUS, POCKET_STRIKE, POCKET_SETS = 5, 2, 2, 20_000


def connected_sets(pocket: set[int], neighbours: list[list[int]], size: int,
                   most: int = POCKET_SETS) -> list[frozenset[int]]:
    """The connected sets of at most `size` units of `pocket`, grown one neighbour at a time, smallest
    first, at most `most` of them."""
    layer = sorted((frozenset([u]) for u in pocket), key=sorted)
    found = list(layer)
    seen = set(layer)
    while layer and len(found) < most and len(layer[0]) < size:
        grown = {s | {v} for s in layer for u in s for v in neighbours[u] if v in pocket and v not in s}
        layer = sorted(grown - seen, key=sorted)[: most - len(found)]
        found.extend(layer)
        seen.update(layer)
    return found


def pocket_separators(part: np.ndarray, centre: int, neighbours: list[list[int]], usable: np.ndarray,
                      size: int = POCKET_SIZE, radius: int = POCKET_RADIUS) -> list[tuple[int, list[int]]]:
    """(unit, separator) around a stray piece: for every connected set S of at most `size` `usable`
    units within `radius` steps of `part`, not touching the centre, each unit of S with the usable
    units on the boundary of S (every path from the centre into S crosses it; units that cannot join
    the centre add nothing). Per unit only the minimal separators are kept (a cut whose units include
    another's is weaker)."""
    pocket = {int(u) for u in part}
    for _ in range(radius):
        pocket |= {v for u in pocket for v in neighbours[u] if usable[v]}
    pocket -= {centre, *neighbours[centre]}
    by_unit: dict[int, set[frozenset[int]]] = {}
    for group in connected_sets(pocket, neighbours, size):
        sep = frozenset(v for u in group for v in neighbours[u] if v not in group and usable[v])
        for i in group:
            by_unit.setdefault(i, set()).add(sep)
    cuts = []
    for i, seps in sorted(by_unit.items()):
        kept: list[frozenset[int]] = []
        for sep in sorted(seps, key=lambda s: (len(s), sorted(s))):
            if not any(k <= sep for k in kept):
                kept.append(sep)
        cuts.extend((i, sorted(sep)) for sep in kept)
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
