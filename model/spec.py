"""The territory problem as plain data: what to balance, how to measure compactness, what is fixed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geodata.distances import LazyPairs
from geodata.instance import Geography


class ModelError(Exception):
    """The problem as stated cannot have a plan (named cause and what to change)."""


class InfeasibleError(ModelError):
    """The model was proven to have no plan; `family` names the constraints that cause it."""

    def __init__(self, message: str, family: str):
        super().__init__(message)
        self.family = family


class SearchInterrupted(Exception):
    """Ctrl-C during a heuristic; carries the best plan it had (or None)."""

    def __init__(self, plan):
        super().__init__("interrupted")
        self.plan = plan


@dataclass(frozen=True)
class BalanceRule:
    """Each territory's total of `attribute` must lie in [lower, upper]."""

    attribute: str
    lower: float
    upper: float
    tolerance: float | None = None  # relative tolerance the bounds came from, for reports


@dataclass(frozen=True)
class Limit:
    """A side limit on the plan: sum over units of coef[i, centre of i] <= rhs.

    Used for disruption limits (share of accounts, potential or relationship value that may change
    rep); `coef` is n x n, indexed by unit and centre unit, like the cost matrix."""

    name: str
    coef: np.ndarray
    rhs: float
    base: float | None = None  # the total a share limit refers to (rhs = share x base), for messages

    def usage(self, centre_of) -> float:
        """The limited amount a plan uses."""
        return float(self.coef[np.arange(len(centre_of)), np.asarray(centre_of)].sum())


@dataclass(frozen=True)
class TerritorySpec:
    """A territory design problem on a geography.

    `centres` holds unit indices when centres are fixed (territory t is centred on centres[t]),
    or None when the model chooses them. `locks` maps a unit index to a territory label; with
    fixed centres the label is the territory index, with free centres units sharing a label
    share a territory and different labels are kept apart.
    """

    geography: Geography
    count: int
    balance: tuple[BalanceRule, ...]
    weight: np.ndarray
    power: int = 2
    contiguity: bool = True
    centres: tuple[int, ...] | None = None
    locks: tuple[tuple[int, int], ...] = ()
    names: tuple[str, ...] = ()
    # Redesign terms (model.redesign): a priced disruption added to the cost, the balance totals
    # each centre's territory holds whatever its units (accounts locked to their rep), side limits.
    extra_cost: np.ndarray | None = None  # n x n, added to compactness
    offsets: np.ndarray | None = None  # len(balance) x n, per centre unit
    limits: tuple[Limit, ...] = ()
    # Nested levels above the territories, coarsest first: (name, groups per parent group), e.g.
    # (("region", 6), ("district", 5)); each group holds the same number of territories.
    levels: tuple[tuple[str, int], ...] = ()
    max_distance: float | None = None  # no unit farther than this from its centre (distance units)

    def level_counts(self) -> tuple[int, ...]:
        """Parts per parent at every level down to the territories: (6, 5, 6) for 180 territories
        in 6 regions of 5 districts; (count,) without levels."""
        counts = tuple(c for _, c in self.levels)
        per_group = self.count // max(1, int(np.prod(counts))) if counts else self.count
        return counts + (per_group,)

    def territories_per_group(self, depth: int) -> int:
        """How many territories one group of level `depth` (0 = coarsest) holds."""
        return int(np.prod(self.level_counts()[depth + 1:]))

    def compactness(self) -> np.ndarray:
        """compactness[i, j]: weight of unit i times its distance to centre j to the power."""
        distance = self.geography.distance
        if isinstance(distance, LazyPairs):  # large geographies: computed on demand
            return distance.scaled(self.weight, self.power)
        return self.weight[:, None] * distance**self.power

    def cost(self) -> np.ndarray:
        """The objective's coefficient of (unit i, centre j): compactness plus priced disruption."""
        if self.extra_cost is None:
            return self.compactness()
        return self.compactness() + self.extra_cost

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper), each len(balance) x n: the bounds on what the units of the territory
        centred on unit j may add up to (the rule's bounds less what that territory holds anyway)."""
        n = self.geography.n
        lower = np.array([[r.lower] * n for r in self.balance], dtype=float).reshape(len(self.balance), n)
        upper = np.array([[r.upper] * n for r in self.balance], dtype=float).reshape(len(self.balance), n)
        if self.offsets is not None:
            lower, upper = lower - self.offsets, upper - self.offsets
        return lower, upper

    def territory_names(self) -> tuple[str, ...]:
        return self.names or default_names(self.count)


def default_names(count: int) -> tuple[str, ...]:
    """T01, T02, ... padded to the count's digits (T001 ... T200), so that names sort in their order."""
    width = max(2, len(str(count)))
    return tuple(f"T{t + 1:0{width}d}" for t in range(count))


def balance_bounds(values: np.ndarray, count: int, tolerance: float) -> tuple[float, float]:
    """[lower, upper] around the mean territory total for a relative tolerance."""
    mean = float(values.sum()) / count
    return mean * (1 - tolerance), mean * (1 + tolerance)
