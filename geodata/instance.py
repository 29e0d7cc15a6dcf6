"""The solver-free picture of a geography: units, their attributes, adjacency and distances."""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np


@dataclass(frozen=True)
class Geography:
    """Units in a fixed order (ids sorted), with everything the models need as arrays.

    `distance[i, j]` is in `distance_unit` (km for coordinates, or the unit of a given matrix).
    `edges` are index pairs (i < j), sorted; `joined` lists the edges added to reach islands.
    """

    ids: tuple[str, ...]
    attributes: dict[str, np.ndarray]
    x: np.ndarray
    y: np.ndarray
    edges: tuple[tuple[int, int], ...]
    distance: np.ndarray
    distance_unit: str
    joined: tuple[tuple[str, str], ...] = ()
    frame: gpd.GeoDataFrame | None = field(default=None, compare=False, repr=False)

    @property
    def n(self) -> int:
        return len(self.ids)

    def index_of(self) -> dict[str, int]:
        """Map from unit id to its position."""
        return {u: i for i, u in enumerate(self.ids)}

    def neighbours(self) -> list[list[int]]:
        """Adjacency lists, each sorted."""
        nbrs: list[list[int]] = [[] for _ in self.ids]
        for a, b in self.edges:
            nbrs[a].append(b)
            nbrs[b].append(a)
        return [sorted(v) for v in nbrs]
