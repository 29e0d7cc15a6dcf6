"""A plan: which centre each unit belongs to. Territories are identified by their centre unit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Plan:
    """`centre_of[i]` is the index of the centre unit of unit i's territory."""

    centre_of: tuple[int, ...]
    # With nested levels: per level (coarsest first) the group label of every unit.
    groups: tuple[tuple[int, ...], ...] = ()

    @property
    def centres(self) -> tuple[int, ...]:
        """Centre units, sorted."""
        return tuple(sorted(set(self.centre_of)))

    def members(self) -> dict[int, np.ndarray]:
        """Unit indices of each territory, keyed by centre."""
        arr = np.asarray(self.centre_of)
        return {c: np.flatnonzero(arr == c) for c in self.centres}

    def objective(self, cost: np.ndarray) -> float:
        """Compactness: sum of cost[i, centre of i]."""
        return float(cost[np.arange(len(self.centre_of)), list(self.centre_of)].sum())
