"""A plan: which centre each unit belongs to. Territories are identified by their centre unit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from model.spec import TerritorySpec


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


def group_labels(spec: TerritorySpec, plan: Plan) -> dict[str, list[str]]:
    """Per nesting level (coarsest first), the group of every unit as a readable code: R01, R01.D03, ...
    Groups are numbered in order of their first unit, so a plan always gets the same codes."""
    labels: dict[str, list[str]] = {}
    prefix = [""] * spec.geography.n
    for (name, _), groups in zip(spec.levels, plan.groups):
        numbers: dict[tuple[str, int], int] = {}
        used: dict[str, int] = {}  # groups numbered so far inside each parent
        codes = []
        for i, g in enumerate(groups):
            key = (prefix[i], g)
            if key not in numbers:
                used[prefix[i]] = numbers[key] = used.get(prefix[i], 0) + 1
            codes.append(f"{prefix[i]}{name[:1].upper()}{numbers[key]:02d}")
        labels[name] = codes
        prefix = [c + "." for c in codes]
    return labels
