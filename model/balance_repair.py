"""Ejection chains for plans that boundary moves cannot balance (large instances with very uneven
units): a territory over its upper bound pushes a piece along the shortest path of touching territories
to one with room; one under its lower bound pulls a piece from the nearest one with surplus. A piece is
a boundary unit and whatever of its territory hangs on it, so both territories stay connected. A chain
is kept only if it lowers the total balance violation, so the repair cannot cycle."""

from __future__ import annotations

import time

import numpy as np

from model.check import is_valid
from model.contiguity import reachable
from model.local_search import _State, polish
from model.plan import Plan
from model.spec import TerritorySpec


def rebalance(spec: TerritorySpec, centre_of: np.ndarray, seed: int, deadline: float, cycles: int = 4,
              zone: np.ndarray | None = None) -> Plan | None:
    """Alternate ejection chains and local search (a few kicks) until the plan is valid; None if it
    is not after `cycles` rounds or at `deadline`."""
    plan = closest_balance(spec, centre_of, seed, deadline, cycles, zone)
    return plan if is_valid(spec, plan) else None


def closest_balance(spec: TerritorySpec, centre_of: np.ndarray, seed: int, deadline: float, cycles: int = 4,
                    zone: np.ndarray | None = None) -> Plan:
    """As `rebalance`, but the least unbalanced plan it met when none is valid (a start for the exact
    neighbourhood search, and what a run without a plan reports: on the counties with 20 reps at ±10% New
    York's territory at 1.01 of its maximum after the chains, where their start had it at 1.9)."""
    current = np.asarray(centre_of)
    best = Plan(tuple(int(c) for c in current))
    least = balance_violation(spec, best)
    for cycle in range(cycles):
        if time.perf_counter() > deadline:
            break
        fixed = repair_balance(spec, current, deadline, zone=zone)
        plan = polish(spec, fixed, seed=seed + cycle, kicks=20, patience=10, deadline=deadline, zone=zone)
        if is_valid(spec, plan):
            return plan
        current = np.asarray(plan.centre_of)
        violation = balance_violation(spec, plan)
        if violation < least:
            best, least = plan, violation
    return best


def repair_balance(spec: TerritorySpec, centre_of: np.ndarray, deadline: float, rounds: int = 400,
                   zone: np.ndarray | None = None) -> np.ndarray:
    """A plan with no more (usually much less) balance violation than `centre_of`, contiguity kept
    (and, with `zone`, every unit inside its zone)."""
    state = _State(spec, np.asarray(centre_of, dtype=int), zone)
    current = _violation(state)
    for _ in range(rounds):
        if current <= 1e-12 or time.perf_counter() > deadline:
            break
        totals = state.totals()
        improved = False
        for c in sorted(totals, key=lambda c: -state.violation(totals[c], c)):
            if state.violation(totals[c], c) <= 1e-12:
                break
            before = state.centre_of.copy()
            over = float(((totals[c] - state.upper[:, c]) / state.scale).max()) > 0
            if _push(state, c, totals) if over else _pull(state, c, totals):
                after = _violation(state)
                if after < current - 1e-12:
                    current, improved = after, True
                    break
            state.centre_of = before
        if not improved:
            break
    return state.centre_of.copy()


def _violation(state: _State) -> float:
    return sum(state.violation(t, c) for c, t in state.totals().items())


def balance_violation(spec: TerritorySpec, plan) -> float:
    """Total relative amount by which a plan's territories break their balance bounds (0: balanced)."""
    return _violation(_State(spec, np.asarray(plan.centre_of, dtype=int)))


def _touching(state: _State) -> dict[int, set[int]]:
    touching: dict[int, set[int]] = {}
    for u in range(state.n):
        cu = int(state.centre_of[u])
        for v in state.nbrs[u]:
            cv = int(state.centre_of[v])
            if cv != cu and (state.zone is None or state.zone[u] == state.zone[v]):
                touching.setdefault(cu, set()).add(cv)
    return touching


def _path_to(touching: dict[int, set[int]], start: int, good) -> list[int] | None:
    """Shortest path of touching territories from `start` to the nearest one where good(c) holds."""
    parent, queue = {start: None}, [start]
    while queue:
        x = queue.pop(0)
        for y in sorted(touching.get(x, ())):
            if y in parent:
                continue
            parent[y] = x
            if good(y):
                path = [y]
                while parent[path[-1]] is not None:
                    path.append(parent[path[-1]])
                return path[::-1]
            queue.append(y)
    return None


def _branch(state: _State, unit: int) -> np.ndarray:
    """`unit` and whatever of its territory would lose touch with the centre without it."""
    c = int(state.centre_of[unit])
    inside = state.centre_of == c
    inside[unit] = False
    cut = inside & ~reachable(c, inside, state.nbrs)
    cut[unit] = True
    return np.flatnonzero(cut)


def _move_piece(state: _State, x: int, y: int, need: float) -> float | None:
    """Move the piece of territory x next to y whose value is closest to `need` (relative) into y;
    return the value moved (None when there is no piece)."""
    pieces = [_branch(state, u) for u in range(state.n) if state.centre_of[u] == x and u != x
              and any(state.centre_of[v] == y for v in state.nbrs[u])]
    pieces = [b for b in pieces if not state.locked[b].any() and x not in b]
    if not pieces:
        return None
    share = [float((state.values[:, b].sum(axis=1) / state.scale).max()) for b in pieces]
    best = min(range(len(pieces)), key=lambda i: (abs(share[i] - need), float(state.cost[pieces[i], y].sum())))
    state.centre_of[pieces[best]] = y
    return share[best]


def _push(state: _State, a: int, totals: dict[int, np.ndarray]) -> bool:
    """Forward ejection chain: a gives the piece closest to its excess to the next territory on the
    path to one with room, which passes on what it now has too much, and so on."""
    room = {c: float(((state.upper[:, c] - t) / state.scale).min()) for c, t in totals.items()}
    excess = float(((totals[a] - state.upper[:, a]) / state.scale).max())
    path = _path_to(_touching(state), a, lambda c: room[c] >= excess) or \
        _path_to(_touching(state), a, lambda c: room[c] > 1e-9)  # room for all of it, else any room
    if path is None:
        return False
    need = excess
    for x, y in zip(path[:-1], path[1:]):  # x gives to y
        given = _move_piece(state, x, y, need)
        if given is None:
            return False
        need = given - room[y]  # what y now holds above its bound
        if need <= 1e-12:
            return True
    return True


def _pull(state: _State, b: int, totals: dict[int, np.ndarray]) -> bool:
    spare = {c: float(((t - state.lower[:, c]) / state.scale).min()) for c, t in totals.items()}
    short = float(((state.lower[:, b] - totals[b]) / state.scale).max())
    path = _path_to(_touching(state), b, lambda c: spare[c] >= short) or \
        _path_to(_touching(state), b, lambda c: spare[c] > 1e-9)
    if path is None:
        return False
    need = min(short, spare[path[-1]])
    for x, y in zip(path[:-1], path[1:]):  # the nearest step first: y gives to x
        given = _move_piece(state, y, x, need)
        if given is None:
            return False
        need = given - spare[y]  # what y now lacks below its bound (a whole unit may be more than was asked)
        if need <= 1e-12:
            return True
    return True
