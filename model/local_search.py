"""Local search for territory plans: repair contiguity, then move boundary units between adjacent
territories while the penalised objective improves (compactness + a large price per unit of
balance violation), re-centring free territories after each pass.

Plain numpy and breadth-first search: it gives the exact model a strong first plan (warm start),
which is what lets HiGHS prune and fix variables early.
"""

from __future__ import annotations

import numpy as np

from model.contiguity import reachable
from model.plan import Plan
from model.spec import TerritorySpec


class _State:
    def __init__(self, spec: TerritorySpec, centre_of: np.ndarray):
        geo = spec.geography
        self.spec = spec
        self.cost = spec.cost()
        self.nbrs = geo.neighbours()
        self.n = geo.n
        self.values = np.array([geo.attributes[r.attribute] for r in spec.balance]).reshape(len(spec.balance), geo.n)
        self.lower = np.array([r.lower for r in spec.balance])
        self.upper = np.array([r.upper for r in spec.balance])
        self.scale = np.maximum((self.lower + self.upper) / 2, 1e-9)
        self.free = spec.centres is None
        self.locked = np.zeros(geo.n, dtype=bool)
        for u, _ in spec.locks:
            self.locked[u] = True
        self.centre_of = centre_of.copy()
        # A violation of 1% of the target costs as much as the whole plan: balance comes first.
        self.price = 100.0 * max(float(self.cost.max()), 1.0) * geo.n

    def totals(self) -> dict[int, np.ndarray]:
        return {int(c): self.values[:, self.centre_of == c].sum(axis=1) for c in np.unique(self.centre_of)}

    def violation(self, total: np.ndarray) -> float:
        return float((np.maximum(0, self.lower - total) + np.maximum(0, total - self.upper)).dot(1 / self.scale))

    def penalised(self) -> float:
        obj = float(self.cost[np.arange(self.n), self.centre_of].sum())
        return obj + self.price * sum(self.violation(t) for t in self.totals().values())

    def connected_without(self, unit: int) -> bool:
        """Would the territory of `unit` stay connected to its centre if `unit` left?"""
        c = self.centre_of[unit]
        inside = self.centre_of == c
        inside[unit] = False
        count = int(inside.sum())
        return count == 0 or int(reachable(int(c), inside, self.nbrs).sum()) == count


def repair_contiguity(state: _State) -> None:
    """Give every piece cut off from its centre to the adjacent territory where it costs least."""
    while True:
        moved = False
        for c in np.unique(state.centre_of):
            inside = state.centre_of == c
            stray = inside & ~reachable(int(c), inside, state.nbrs)
            while stray.any():
                seed = int(np.flatnonzero(stray)[0])
                piece = np.flatnonzero(reachable(seed, stray, state.nbrs))
                stray[piece] = False
                around = {int(state.centre_of[v]) for u in piece for v in state.nbrs[u]} - {int(c)}
                if not around:
                    continue
                best = min(around, key=lambda t: state.cost[piece, t].sum())
                state.centre_of[piece] = best
                moved = True
        if not moved:
            return


def improve(state: _State, max_passes: int = 200) -> None:
    """First-improvement boundary moves until none helps; re-centre free territories between passes."""
    totals = state.totals()
    for _ in range(max_passes):
        improved = False
        for u in range(state.n):
            a = int(state.centre_of[u])
            if u == a or state.locked[u]:
                continue
            targets = {int(state.centre_of[v]) for v in state.nbrs[u]} - {a}
            if not targets:
                continue
            vu = state.values[:, u]
            before_a = state.violation(totals[a])
            best, best_delta = None, -1e-9
            for b in sorted(targets):
                delta = state.cost[u, b] - state.cost[u, a]
                delta += state.price * (
                    state.violation(totals[a] - vu) + state.violation(totals[b] + vu)
                    - before_a - state.violation(totals[b])
                )
                if delta < best_delta:
                    best, best_delta = b, delta
            if best is not None and state.connected_without(u):
                state.centre_of[u] = best
                totals[a] = totals[a] - vu
                totals[best] = totals[best] + vu
                improved = True
        if state.free and recentre(state):
            totals = state.totals()
            improved = True
        if not improved:
            return


def recentre(state: _State) -> bool:
    """Move each free territory's centre to the member that makes it most compact."""
    changed = False
    for c in np.unique(state.centre_of):
        members = np.flatnonzero(state.centre_of == c)
        best = int(members[np.argmin(state.cost[np.ix_(members, members)].sum(axis=0))])
        if best != c:
            state.centre_of[members] = best
            changed = True
    return changed


def perturb(state: _State, rng: np.random.Generator, moves: int) -> None:
    """Random boundary moves that keep every territory connected: a kick out of a local optimum."""
    for _ in range(moves):
        u = int(rng.integers(state.n))
        a = int(state.centre_of[u])
        if u == a or state.locked[u]:
            continue
        targets = sorted({int(state.centre_of[v]) for v in state.nbrs[u]} - {a})
        if targets and (not state.spec.contiguity or state.connected_without(u)):
            state.centre_of[u] = targets[int(rng.integers(len(targets)))]


def polish(spec: TerritorySpec, centre_of: np.ndarray, seed: int = 0, kicks: int = 0, patience: int = 60) -> Plan:
    """Repair and improve a (possibly disconnected or unbalanced) plan, then iterate: kick, improve,
    keep the better (penalised) plan; stop after `kicks` kicks or `patience` kicks without gain.
    The result may still break balance, so callers check it."""
    state = _State(spec, np.asarray(centre_of, dtype=int))
    if spec.contiguity:
        repair_contiguity(state)
    improve(state)
    best, best_value = state.centre_of.copy(), state.penalised()
    rng = np.random.default_rng(seed)
    idle = 0
    for _ in range(kicks):
        perturb(state, rng, moves=max(3, state.n // 20))
        improve(state)
        value = state.penalised()
        if value < best_value - 1e-9:
            best, best_value, idle = state.centre_of.copy(), value, 0
        else:
            state.centre_of = best.copy()
            idle += 1
            if idle >= patience:
                break
    return Plan(tuple(int(c) for c in best))
