"""Which units touch: queen or rook contiguity from polygons (libpysal), or a user's edge list.

Units or groups of units that touch nothing else (islands) are joined to their nearest unit so that
every unit can belong to a contiguous territory; the joins are reported.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
from libpysal.weights import Queen, Rook
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geodata.errors import GeodataError
from geodata.read_units import short_list
from geodata.tables import as_known_ids, find_column, read_text_csv


def polygon_edges(frame: gpd.GeoDataFrame, method: str) -> set[tuple[int, int]]:
    """Index pairs (i < j) of units sharing a boundary (rook) or a point (queen)."""
    if set(frame.geom_type) == {"Point"}:
        raise GeodataError(
            "units are points, so adjacency cannot be derived; give adjacency.edges (a CSV with columns a,b)"
        )
    builder = Queen if method == "queen" else Rook
    weights = builder.from_dataframe(frame.reset_index(drop=True), use_index=False, silence_warnings=True)
    return {(min(i, j), max(i, j)) for i, nbrs in weights.neighbors.items() for j in nbrs if i != j}


ISLAND_SHARE = 0.5  # an edge list naming fewer than this share of the units is incomplete, not islands


def read_edges(path: Path, ids: tuple[str, ...], key: str = "adjacency.edges") -> set[tuple[int, int]]:
    """Index pairs from an edge-list CSV with columns a,b holding unit ids (`key` names the scenario key)."""
    if not path.is_file():
        raise GeodataError(f"{path}: file not found; check {key} in the scenario")
    table = read_text_csv(path, key)
    a, b = find_column(table, "a"), find_column(table, "b")
    if a is None or b is None:
        raise GeodataError(f"{path.name} ({key}): needs columns 'a' and 'b' holding the ids of adjacent units "
                           f"(it has {short_list(list(table.columns), 8)})")
    table = table[[a, b]].set_axis(["a", "b"], axis=1).apply(lambda s: as_known_ids(s.str.strip(), ids))
    pos = {u: i for i, u in enumerate(ids)}
    unknown = sorted(set(table["a"]).union(table["b"]) - set(pos))
    if unknown:
        raise GeodataError(f"{path.name}: unit ids not in the units file: {short_list(unknown)}; fix or remove those rows")
    itself = sorted({a for a, b in zip(table["a"], table["b"]) if a == b})
    if itself:  # (a unit is no neighbour of itself; a barrier from it to itself cuts nothing)
        raise GeodataError(f"{path.name} ({key}): rows pair units with themselves: {short_list(itself)}; fix or remove "
                           "those rows")
    edges = {(min(pos[a], pos[b]), max(pos[a], pos[b])) for a, b in zip(table["a"], table["b"])}
    if key == "adjacency.edges":
        listed = {u for edge in edges for u in edge}
        if len(ids) > 2 and len(listed) < ISLAND_SHARE * len(ids):
            missing = [u for i, u in enumerate(ids) if i not in listed]
            raise GeodataError(f"{path.name}: {len(missing)} of {len(ids)} units are in no row ({short_list(missing)}); "
                               f"the edge list replaces the adjacency, so list every pair of neighbouring units "
                               f"(or drop {key} to derive it from the polygons)")
    return edges


def remove_barriers(edges: set[tuple[int, int]], barriers: set[tuple[int, int]], name: str,
                    ids: tuple[str, ...]) -> set[tuple[int, int]]:
    """The adjacency without the barrier pairs; a pair that is not adjacent is a mistake worth naming."""
    stray = sorted(barriers - edges)
    if stray:
        pairs = [f"{ids[a]}-{ids[b]}" for a, b in stray]
        raise GeodataError(f"{name}: these units do not touch, so there is no edge to remove: {short_list(pairs)}; "
                           "fix or remove those rows")
    kept = edges - barriers
    cut_off = {u for edge in edges for u in edge} - {u for edge in kept for u in edge}
    if len(ids) > 2 and len(cut_off) > ISLAND_SHARE * len(ids):
        raise GeodataError(f"{name}: removing these {len(barriers)} edges leaves {len(cut_off)} of {len(ids)} units "
                           f"with no neighbour ({short_list(sorted(ids[u] for u in cut_off))}); list only the edges "
                           "a barrier cuts (adjacency.remove), not the whole adjacency")
    return kept


def join_islands(n: int, edges: set[tuple[int, int]], distance: np.ndarray) -> list[tuple[int, int]]:
    """Connect the graph by repeatedly linking its smallest component to the nearest outside unit."""
    added: list[tuple[int, int]] = []
    edges = set(edges)
    while True:
        count, label = _components(n, edges)
        if count <= 1:
            return added
        sizes = np.bincount(label)
        # The smallest component (ties: lowest label) is joined first, so the result is deterministic.
        small = int(np.argmin(sizes))
        inside = np.flatnonzero(label == small)
        outside = np.flatnonzero(label != small)
        sub = distance[np.ix_(inside, outside)]
        a, b = np.unravel_index(int(np.argmin(sub)), sub.shape)
        edge = (int(min(inside[a], outside[b])), int(max(inside[a], outside[b])))
        edges.add(edge)
        added.append(edge)


def _components(n: int, edges: set[tuple[int, int]]) -> tuple[int, np.ndarray]:
    if not edges:
        return n, np.arange(n)
    rows, cols = zip(*edges)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    count, label = connected_components(graph, directed=False)
    return int(count), label
