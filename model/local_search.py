"""Local search for territory plans: repair contiguity, then move boundary units between adjacent
territories while the penalised objective improves (compactness + a large price per unit of
balance violation), re-centring free territories after each pass, and swap two boundary units
between touching territories when no single move helps.

Plain numpy and breadth-first search: it gives the exact model a strong first plan (warm start),
which is what lets HiGHS prune and fix variables early.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np

from geodata.distances import LazyPairs
from model.contiguity import reachable
from model.plan import Plan
from model.spec import TerritorySpec
from solvers import interrupt


# Swaps (see `swap`) serve tight balance bands: narrower than SWAP_BAND median units, where a single
# move of a typical unit overshoots the band. On the county benchmark they improved every ±0.5% plan
# they touched and made ±5% runs slower to prove; above SWAP_MAX_UNITS they have not been measured.
SWAP_BAND = 1.0
SWAP_MAX_UNITS = 1_500
SWAP_CANDIDATES = 8  # best-priced swaps of a pair of territories tried for contiguity


def tight_band(spec: TerritorySpec) -> bool:
    """Is some balance band narrower than SWAP_BAND typical (median) units of its attribute?"""
    if not spec.balance or spec.geography.n > SWAP_MAX_UNITS:
        return False
    for rule in spec.balance:
        values = np.asarray(spec.geography.attributes[rule.attribute], dtype=float)
        positive = values[values > 0]
        if len(positive) and rule.upper - rule.lower < SWAP_BAND * float(np.median(positive)):
            return True
    return False


class _State:
    def __init__(self, spec: TerritorySpec, centre_of: np.ndarray, zone: np.ndarray | None = None,
                 swaps: bool = True):
        geo = spec.geography
        self.zone = zone  # with nested levels: units move only between territories of the same zone
        self.spec = spec
        self.cost = spec.cost()
        self.nbrs = geo.neighbours()
        self.n = geo.n
        self.values = np.array([geo.attributes[r.attribute] for r in spec.balance]).reshape(len(spec.balance), geo.n)
        self.lower, self.upper = spec.bounds()  # per rule and centre unit
        self.scale = np.maximum(np.array([(r.lower + r.upper) / 2 for r in spec.balance]), 1e-9)
        if len(spec.balance) == 1:
            self._lower1, self._upper1 = self.lower[0].tolist(), self.upper[0].tolist()
            self._scale1 = float(self.scale[0])
        self.limit_coef = [lim.coef for lim in spec.limits]
        self.limit_rhs = np.array([lim.rhs for lim in spec.limits])
        self.limit_scale = np.maximum(np.abs(self.limit_rhs), 1e-9)
        self.free = spec.centres is None
        self.locked = np.zeros(geo.n, dtype=bool)
        for u, _ in spec.locks:
            self.locked[u] = True
        self.centre_of = centre_of.copy()
        self.edge_ends = np.array(geo.edges, dtype=int).reshape(-1, 2).T  # 2 x edges: both ends of every edge
        self.swaps = swaps and tight_band(spec)
        # A violation of 1% of the target costs as much as the whole plan: balance comes first.
        self.price = 100.0 * max(float(self.cost.max()), 1.0) * geo.n
        if spec.max_distance is not None:  # so is the distance limit: every km beyond it is priced
            self.cost = with_distance_price(self.cost, geo.distance, spec.max_distance, self.price)

    def touching(self, units) -> set[int]:
        """Territories (centres) adjacent to `units` that they may move to (same zone), their own included."""
        zone = self.zone
        return {int(self.centre_of[v]) for u in units for v in self.nbrs[u] if zone is None or zone[v] == zone[u]}

    def totals(self) -> dict[int, np.ndarray]:
        return {int(c): self.values[:, self.centre_of == c].sum(axis=1) for c in np.unique(self.centre_of)}

    def violation(self, total: np.ndarray, centre: int) -> float:
        """Relative amount by which the territory centred on `centre` breaks its balance bounds."""
        if len(total) == 1:  # the common case, in plain floats: local search calls this millions of times
            t, lo, hi = float(total[0]), self._lower1[centre], self._upper1[centre]
            return ((lo - t) if t < lo else (t - hi) if t > hi else 0.0) / self._scale1
        lo, hi = self.lower[:, centre], self.upper[:, centre]
        return float((np.maximum(0, lo - total) + np.maximum(0, total - hi)).dot(1 / self.scale))

    def usage(self) -> np.ndarray:
        """What the plan uses of each side limit."""
        rows = np.arange(self.n)
        return np.array([coef[rows, self.centre_of].sum() for coef in self.limit_coef])

    def limit_violation(self, usage: np.ndarray) -> float:
        return float((np.maximum(0, usage - self.limit_rhs) / self.limit_scale).sum()) if len(usage) else 0.0

    def penalised(self) -> float:
        obj = float(self.cost[np.arange(self.n), self.centre_of].sum())
        balance = sum(self.violation(t, c) for c, t in self.totals().items())
        return obj + self.price * (balance + self.limit_violation(self.usage()))

    def connected_without(self, unit: int) -> bool:
        """Would the territory of `unit` stay connected to its centre if `unit` left? Most units answer
        locally: with at most one neighbour in the territory, or with those neighbours connected among
        themselves, no path needs `unit`; otherwise search the territory."""
        c = self.centre_of[unit]
        same = [v for v in self.nbrs[unit] if self.centre_of[v] == c]
        if len(same) <= 1 and unit != c:
            return True
        if unit != c and _connected_among(same, self.nbrs):
            return True
        inside = self.centre_of == c
        inside[unit] = False
        count = int(inside.sum())
        return count == 0 or int(reachable(int(c), inside, self.nbrs).sum()) == count


def with_distance_price(cost, distance, limit: float, price: float):
    """cost[i, j] plus `price` per share of `limit` by which unit i lies beyond it from centre j."""
    if isinstance(cost, LazyPairs):
        return LazyPairs(cost.n, lambda r, c: cost[r, c] + price * np.maximum(0.0, distance[r, c] - limit) / limit,
                         cost.max() + price * distance.max() / limit)
    return cost + price * np.maximum(0.0, distance - limit) / limit


def _connected_among(units: list[int], nbrs: list[list[int]]) -> bool:
    """Are `units` connected to each other using only themselves?"""
    group = set(units)
    seen, stack = {units[0]}, [units[0]]
    while stack:
        for v in nbrs[stack.pop()]:
            if v in group and v not in seen:
                seen.add(v)
                stack.append(v)
    return len(seen) == len(group)


def repair_contiguity(state: _State, rounds: int = 100) -> None:
    """Give every piece cut off from its centre to the adjacent territory where it costs least. A piece
    holding a locked unit cannot be given away: it takes the shortest path of unlocked units back to its
    territory instead (a balanced assignment at fixed centres can leave a lock cut off from its centre)."""
    for _ in range(rounds):  # reconnecting can cut another territory, whose pieces the next round repairs
        moved = False
        for c in np.unique(state.centre_of):
            inside = state.centre_of == c
            stray = inside & ~reachable(int(c), inside, state.nbrs)
            while stray.any():
                seed = int(np.flatnonzero(stray)[0])
                piece = np.flatnonzero(reachable(seed, stray, state.nbrs))
                stray[piece] = False
                if state.locked[piece].any():
                    path = _path_home(state, piece, int(c))
                    if path is not None:
                        state.centre_of[path] = c
                        moved = True
                        break  # the territory's body has grown: look at its pieces afresh
                    continue
                around = state.touching(piece) - {int(c)}
                if not around:
                    continue
                best = min(around, key=lambda t: state.cost[piece, t].sum())
                state.centre_of[piece] = best
                moved = True
        if not moved:
            return


def _path_home(state: _State, piece: np.ndarray, c: int) -> list[int] | None:
    """The fewest units of other territories (same zone; not locked, not a centre) joining `piece` to the part
    of territory `c` connected to its centre; None if there is no such path."""
    inside = state.centre_of == c
    body = reachable(c, inside, state.nbrs)
    zone = state.zone
    parent = {int(u): -1 for u in piece}
    queue = deque(int(u) for u in piece)
    while queue:
        u = queue.popleft()
        for v in state.nbrs[u]:
            if v in parent or (zone is not None and zone[v] != zone[u]):
                continue
            if body[v]:
                path = []
                while parent[u] != -1:
                    path.append(u)
                    u = parent[u]
                return path
            if state.locked[v] or inside[v] or state.centre_of[v] == v:  # (another territory's centre stays too)
                continue
            parent[v] = u
            queue.append(v)
    return None


def improve(state: _State, max_passes: int = 200, deadline: float | None = None) -> None:
    """First-improvement boundary moves until none helps (or the deadline passes); re-centre free
    territories between passes."""
    totals = state.totals()
    usage = state.usage()
    for _ in range(max_passes):
        interrupt.check()
        if deadline is not None and time.perf_counter() > deadline:
            return
        improved = False
        for u in range(state.n):
            a = int(state.centre_of[u])
            if u == a or state.locked[u]:
                continue
            targets = state.touching((u,)) - {a}
            if not targets:
                continue
            vu = state.values[:, u]
            before_a = state.violation(totals[a], a)
            before_limits = state.limit_violation(usage)
            best, best_delta, best_usage = None, -1e-9, usage
            for b in sorted(targets):
                delta = state.cost[u, b] - state.cost[u, a]
                delta += state.price * (
                    state.violation(totals[a] - vu, a) + state.violation(totals[b] + vu, b)
                    - before_a - state.violation(totals[b], b)
                )
                moved = usage
                if state.limit_coef:
                    moved = usage + np.array([coef[u, b] - coef[u, a] for coef in state.limit_coef])
                    delta += state.price * (state.limit_violation(moved) - before_limits)
                if delta < best_delta:
                    best, best_delta, best_usage = b, delta, moved
            if best is not None and state.connected_without(u):
                state.centre_of[u] = best
                totals[a] = totals[a] - vu
                totals[best] = totals[best] + vu
                usage = best_usage
                improved = True
        if state.free and recentre(state):
            totals = state.totals()
            usage = state.usage()
            improved = True
        if not improved and state.swaps and swap(state, deadline):
            totals = state.totals()
            usage = state.usage()
            improved = True
        if not improved:
            return


def swap(state: _State, deadline: float | None = None) -> bool:
    """Exchange two boundary units of touching territories (u of a to b, v of b to a) wherever that lowers
    the penalised cost. Under a tight balance band almost every single move breaks it, while a swap
    shifts only the difference of two units. One sweep over the touching pairs; True if anything moved."""
    co = state.centre_of
    one, other = state.edge_ends
    crossing = co[one] != co[other]
    if state.zone is not None:
        crossing &= state.zone[one] == state.zone[other]
    low, high = np.minimum(co[one], co[other])[crossing], np.maximum(co[one], co[other])[crossing]
    touching = sorted(set(zip(low.tolist(), high.tolist())))
    totals = state.totals()
    moved = False
    for a, b in touching:
        if deadline is not None and time.perf_counter() > deadline:
            break
        ua, ub = _border(state, a, b), _border(state, b, a)
        if not len(ua) or not len(ub):
            continue
        delta = (state.cost[ua, b] - state.cost[ua, a])[:, None] + (state.cost[ub, a] - state.cost[ub, b])[None, :]
        shift = state.values[:, ub][:, None, :] - state.values[:, ua][:, :, None]  # what a gains, b loses
        before = state.violation(totals[a], a) + state.violation(totals[b], b)
        after = _violations(state, totals[a][:, None, None] + shift, a) + _violations(state, totals[b][:, None, None] - shift, b)
        delta = np.where(after > before + 1e-12, np.inf, delta + state.price * (after - before))  # balance first
        for flat in np.argsort(delta, axis=None)[:SWAP_CANDIDATES]:
            i, j = np.unravel_index(flat, delta.shape)
            gain = float(delta[i, j])
            u, v = int(ua[i]), int(ub[j])
            if state.limit_coef:
                usage = state.usage()
                change = np.array([coef[u, b] - coef[u, a] + coef[v, a] - coef[v, b] for coef in state.limit_coef])
                gain += state.price * (state.limit_violation(usage + change) - state.limit_violation(usage))
            if gain >= -1e-9:
                continue
            co[u], co[v] = b, a
            if not state.spec.contiguity or (_whole(state, a) and _whole(state, b)):
                totals[a], totals[b] = totals[a] + shift[:, i, j], totals[b] - shift[:, i, j]
                moved = True
                break
            co[u], co[v] = a, b
    return moved


def _border(state: _State, a: int, b: int) -> np.ndarray:
    """Units of territory a (not its centre, not locked) that touch territory b."""
    ends = state.edge_ends
    owner = state.centre_of[ends]
    units = np.unique(np.concatenate([ends[0][(owner[0] == a) & (owner[1] == b)],
                                      ends[1][(owner[1] == a) & (owner[0] == b)]]))
    return units[(units != a) & ~state.locked[units]]


def _violations(state: _State, totals: np.ndarray, centre: int) -> np.ndarray:
    """`violation` for many candidate totals at once (rules on the first axis)."""
    lo, hi = state.lower[:, centre][:, None, None], state.upper[:, centre][:, None, None]
    scale = state.scale[:, None, None]
    return ((np.maximum(0, lo - totals) + np.maximum(0, totals - hi)) / scale).sum(axis=0)


def _whole(state: _State, centre: int) -> bool:
    """Is the territory centred on `centre` connected?"""
    inside = state.centre_of == centre
    return int(reachable(int(centre), inside, state.nbrs).sum()) == int(inside.sum())


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
        targets = sorted(state.touching((u,)) - {a})
        if targets and (not state.spec.contiguity or state.connected_without(u)):
            state.centre_of[u] = targets[int(rng.integers(len(targets)))]


def polish(spec: TerritorySpec, centre_of: np.ndarray, seed: int = 0, kicks: int = 0, patience: int = 60,
           deadline: float | None = None, zone: np.ndarray | None = None, swaps: bool = True) -> Plan:
    """Repair and improve a (possibly disconnected or unbalanced) plan, then iterate: kick, improve,
    keep the better (penalised) plan; stop after `kicks` kicks, `patience` kicks without gain, or at
    `deadline` (perf_counter seconds). `swaps`: also exchange units between territories when no single
    move helps (see `swap`). The result may still break balance, so callers check it."""
    state = _State(spec, np.asarray(centre_of, dtype=int), zone, swaps)
    if spec.contiguity:
        repair_contiguity(state)
    improve(state, deadline=deadline)
    best, best_value = state.centre_of.copy(), state.penalised()
    rng = np.random.default_rng(seed)
    idle = 0
    for _ in range(kicks):
        interrupt.check()
        if deadline is not None and time.perf_counter() > deadline:
            break
        perturb(state, rng, moves=max(3, state.n // 20))
        improve(state, deadline=deadline)
        value = state.penalised()
        if value < best_value - 1e-9:
            best, best_value, idle = state.centre_of.copy(), value, 0
        else:
            state.centre_of = best.copy()
            idle += 1
            if idle >= patience:
                break
    return Plan(tuple(int(c) for c in best))
