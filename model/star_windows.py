"""Windows of neighbouring territories re-assigned at once, centres kept, every territory kept in one piece.

Location-allocation rounds a transportation LP and repairs it, aiming inside the balance band for room,
and the pair search moves units between two territories at a time. Where single units are heavy
(a county split into ZIP cells holds a city), that leaves much of the band unused: on the mixed
counties at 100 territories the 0-1 assignment to the plan's own centres costs 7.8% less than the plan
(contiguity dropped). This step solves that 0-1 assignment for a territory and its neighbours at a time,
the rest of the plan fixed, with a rule that keeps each territory connected without cut rounds
(model.star_assignment): a unit may join a centre only together with a neighbour that comes earlier in
that centre's order. The order is the plan's own (adjacency steps inside each current territory first,
then steps through the whole graph), so the current plan always satisfies it and each window starts
from it: a window can only gain.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait

import numpy as np
from scipy.sparse import coo_matrix, csr_matrix

from model.check import is_valid
from model.contiguity import lightest_paths
from model.plan import Plan
from model.spec import TerritorySpec
from model.star_assignment import closeness, recentred
from model.transport import candidate_pairs
from solvers import interrupt

REPORT_SECONDS = 5.0  # within a sweep, on_plan hears an improvement at most this often
WINDOW_SECONDS = 5.0  # at most, per window; on the mixed counties a window of ~6 territories took 0.6 s
BALANCE_RINGS = 3  # adjacency steps around a territory out of band, at most, that balance_windows re-assigns
BALANCE_WINDOW_SECONDS = 2.0  # per window of balance_windows: a window that meets the band is kept, cheapest or not
MIN_GAIN = 1e-3  # a sweep gaining less than this share moves the centres (mixed counties, 100: sweeps 2 and 3
# gained 0.06% and 0.02%, moving the centres 1.1%)


def _order(spec: TerritorySpec, centre_of: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """order[i, t]: adjacency steps from centres[t] to unit i inside its current territory, or (outside
    it) n plus the steps through the whole graph; ties broken by distance as in star_assignment.closeness.
    A strict order per centre."""
    geo = spec.geography
    member = centre_of[:, None] == centres[None, :]
    inside = lightest_paths(geo.edges, geo.n, np.where(member, 1.0, np.inf), centres)
    through_all = closeness(spec, list(centres))  # steps through the whole graph + a distance fraction below 1
    steps = np.floor(through_all)
    fraction = np.where(np.isfinite(through_all), through_all - steps, 0.0)  # (a region's graph may be in pieces)
    return np.where(member & np.isfinite(inside), inside, geo.n + steps) + fraction


class _Program:
    """The 0-1 assignment of all units to the plan's centres over candidate pairs, with the order rule."""

    def __init__(self, spec: TerritorySpec, plan: Plan, zone: np.ndarray | None):
        geo = spec.geography
        n = geo.n
        self.centre_of = np.asarray(plan.centre_of)
        self.centres = np.asarray(plan.centres)
        k = len(self.centres)
        zone = np.zeros(n, dtype=int) if zone is None else np.asarray(zone)
        rows, cols = candidate_pairs(spec, self.centres, self.centre_of, zone)
        allowed = np.zeros((n, k), dtype=bool)
        allowed[rows, cols] = True
        allowed[self.centres, :] = False
        allowed[self.centres, np.arange(k)] = True  # a centre belongs to its own territory only
        order = _order(spec, self.centre_of, self.centres)
        e = np.asarray(geo.edges, dtype=np.int64).reshape(-1, 2)
        a, b = np.concatenate([e[:, 0], e[:, 1]]), np.concatenate([e[:, 1], e[:, 0]])
        closer = order[b] < order[a]  # (edge direction, centre): b comes before a
        not_centre = np.ones((n, k), dtype=bool)
        not_centre[self.centres, np.arange(k)] = False
        while True:  # drop pairs with no earlier neighbour that may join the same centre, until none is left
            link = allowed[a] & allowed[b] & closer
            has = np.zeros((n, k), dtype=bool)
            ea, et = np.nonzero(link)
            has[a[ea], et] = True
            drop = allowed & not_centre & ~has
            if not drop.any():
                break
            allowed &= ~drop
        self.unit, self.terr = np.nonzero(allowed)
        m = len(self.unit)
        index = -np.ones((n, k), dtype=np.int64)
        index[self.unit, self.terr] = np.arange(m)
        self.cost = spec.cost()[self.unit, self.centres[self.terr]]
        lower, upper = spec.bounds()
        values = [np.asarray(geo.attributes[r.attribute], dtype=float) for r in spec.balance]
        # Rows: one per unit (exactly one centre), one per rule and territory (band), one per linked pair.
        ea, et = np.nonzero(allowed[a] & allowed[b] & closer & not_centre[a])
        links = index[a[ea], et], index[b[ea], et]
        led = np.unique(links[0])
        link_row = np.full(m, -1, dtype=np.int64)
        link_row[led] = n + k * len(values) + np.arange(len(led))
        r_idx = np.concatenate([self.unit] + [n + q * k + self.terr for q in range(len(values))]
                               + [link_row[led], link_row[links[0]]])
        c_idx = np.concatenate([np.arange(m)] * (1 + len(values)) + [led, links[1]])
        vals = np.concatenate([np.ones(m)] + [v[self.unit] for v in values] + [np.ones(len(led)), -np.ones(len(ea))])
        shape = (n + k * len(values) + len(led), m)
        self.matrix = csr_matrix(coo_matrix((vals, (r_idx, c_idx)), shape=shape))
        self.row_lower = np.concatenate([np.ones(n)] + [lower[q, self.centres] for q in range(len(values))]
                                        + [np.full(len(led), -np.inf)])
        self.row_upper = np.concatenate([np.ones(n)] + [upper[q, self.centres] for q in range(len(values))]
                                        + [np.zeros(len(led))])
        self.row_unit = np.concatenate([np.arange(n), np.full(k * len(values) + len(led), -1)])
        self.row_terr = np.concatenate([np.full(n, -1)] + [np.arange(k)] * len(values) + [np.full(len(led), -1)])
        self.row_pair = np.concatenate([np.full(n + k * len(values), -1), led])
        self.fixed_one = self.unit == self.centres[self.terr]
        self.k = k
        self.rules = len(values)
        self.values = np.array(values).reshape(len(values), n)

    def start_x(self) -> np.ndarray:
        """The 0-1 solution over all pairs of the plan the program was built from."""
        current = np.searchsorted(self.centres, self.centre_of)  # unit -> position of its centre
        return (self.terr == current[self.unit]).astype(float)

    def owner(self, x: np.ndarray) -> np.ndarray:
        """Unit -> position of its centre, from a 0-1 solution over all pairs."""
        owner = np.empty(len(self.centre_of), dtype=np.int64)
        chosen = x > 0.5
        owner[self.unit[chosen]] = self.terr[chosen]
        return owner

    def plan(self, x: np.ndarray, groups) -> Plan:
        """The plan a 0-1 solution over all pairs stands for."""
        return Plan(tuple(int(c) for c in self.centres[self.owner(x)]), groups=groups)

    def start(self, engine, x: np.ndarray, territories: np.ndarray, seconds: float,
              bands: tuple[np.ndarray, np.ndarray] | None = None) -> _Open:
        """The program re-assigning the units of `territories` among them, the rest of x fixed, started on the
        engine (in a fork where it can: `merged` takes its answer later). `bands`: (lower, upper) per rule and
        territory position (rules x k) in place of the balance bounds."""
        inside = np.zeros(self.k, dtype=bool)
        inside[territories] = True
        units = inside[self.owner(x)]
        cols = np.flatnonzero(units[self.unit] & inside[self.terr])
        rows = np.flatnonzero(np.where(self.row_unit >= 0, units[np.maximum(self.row_unit, 0)], False)
                              | np.where(self.row_terr >= 0, inside[np.maximum(self.row_terr, 0)], False)
                              | np.isin(self.row_pair, cols))
        sub = self.matrix[rows][:, cols]
        start = x[cols]
        lo = np.where(self.fixed_one[cols], 1.0, 0.0)
        row_lower, row_upper = self.row_lower, self.row_upper
        if bands is not None:
            n, size = len(self.centre_of), bands[0].size
            row_lower, row_upper = row_lower.copy(), row_upper.copy()
            row_lower[n:n + size], row_upper[n:n + size] = np.ravel(bands[0]), np.ravel(bands[1])
        args = (self.cost[cols], sub, (lo, np.ones(len(cols))), (row_lower[rows], row_upper[rows]), start, seconds)
        if hasattr(engine, "start_binary"):
            pending = engine.start_binary(*args)
        else:
            pending = _Done(engine.solve_binary(*args))
        return _Open(territories, cols, float(self.cost[cols] @ start), pending)

    def merged(self, x: np.ndarray, window: _Open) -> np.ndarray:
        """x with the window's answer in place if it costs less (the window's columns are its own: windows
        on disjoint territories can run at once and be merged in any order)."""
        found = window.pending.result()
        cols, before = window.cols, window.before
        if found is None or float(self.cost[cols] @ found) >= before - 1e-9 * max(1.0, abs(before)):
            return x
        better = x.copy()
        better[cols] = found
        return better

    def bands(self) -> tuple[np.ndarray, np.ndarray]:
        """The balance bounds, (lower, upper), each rules x k (territory positions)."""
        n, size = len(self.centre_of), self.rules * self.k
        return (self.row_lower[n:n + size].reshape(self.rules, self.k).copy(),
                self.row_upper[n:n + size].reshape(self.rules, self.k).copy())

    def window(self, engine, x: np.ndarray, territories: np.ndarray, seconds: float) -> np.ndarray:
        """x with the units of `territories` re-assigned among them by the program (x if nothing better)."""
        return self.merged(x, self.start(engine, x, territories, seconds))


@dataclass
class _Done:
    """An answer already in (an engine that solves in this process)."""

    x: np.ndarray | None

    def ready(self) -> bool:
        return True

    def result(self) -> np.ndarray | None:
        return self.x

    def cancel(self) -> None:
        pass

    connection = None


@dataclass(eq=False)  # (compared by identity: running.remove)
class _Open:
    """A window whose program is running: its territories, its columns and their cost before."""

    territories: np.ndarray
    cols: np.ndarray
    before: float
    pending: object  # solvers.portfolio.Pending or _Done


def _window(spec: TerritorySpec, owner: np.ndarray, t: int) -> np.ndarray:
    """Territory t (a position) and the territories that share an edge with it under `owner`."""
    e = np.asarray(spec.geography.edges, dtype=np.int64).reshape(-1, 2)
    ta, tb = owner[e[:, 0]], owner[e[:, 1]]
    return np.unique(np.concatenate([[t], tb[ta == t], ta[tb == t]]))


def _sweep(spec: TerritorySpec, engine, program: _Program, x: np.ndarray, deadline: float, workers: int,
           heard: Callable[[np.ndarray], None]) -> np.ndarray:
    """One sweep: every territory's window once, in order, up to `workers` at a time on disjoint territories
    (a window's program fixes everything outside its territories, so two such windows' answers combine
    exactly). `heard(x)` is called after each window. Returns the swept x."""
    queue = list(range(program.k))
    running: list[_Open] = []
    try:
        while queue or running:
            interrupt.check()
            left = deadline - time.perf_counter()
            if left <= 0.05:
                break
            busy = np.zeros(program.k, dtype=bool)
            for open_window in running:
                busy[open_window.territories] = True
            owner = program.owner(x) if len(running) < workers else None
            i = 0
            while owner is not None and len(running) < workers and i < len(queue):
                territories = _window(spec, owner, queue[i])
                if busy[territories].any():
                    i += 1
                    continue
                running.append(program.start(engine, x, territories, min(WINDOW_SECONDS, left)))
                busy[territories] = True
                queue.pop(i)
            if not any(w.pending.ready() for w in running):
                wait([w.pending.connection for w in running if w.pending.connection is not None], timeout=0.25)
            for w in [w for w in running if w.pending.ready()]:
                running.remove(w)
                x = program.merged(x, w)
                heard(x)
    finally:
        for w in running:
            w.pending.cancel()
    return x


def balance_windows(spec: TerritorySpec, engine, plan: Plan, zone: np.ndarray | None, deadline: float,
                    rings: int = BALANCE_RINGS, seconds_each: float = BALANCE_WINDOW_SECONDS) -> Plan:
    """A connected plan with territories out of band brought into band by windows, worst territory first: the
    territory and those within 1, then 2, ... `rings` steps of it re-assigned by the program at least cost, its
    band hard, every other band no looser than the plan keeps it (one out of band may stay as far out, no
    further). Ejection chains move pieces by their size and ignore their cost; on the ZIP cells' groups with 200
    reps' homes (±5%) they took the path LP's polished rounding from 2.140e12 to 2.448e12, these windows (5 s each)
    to 2.078e12 (tests/benchmarks/README.md, "Balance by windows"). The result may still break balance where no
    window found a way (heavy units: callers check it)."""
    program = _Program(spec, plan, zone)
    x = program.start_x()
    lower, upper = program.bands()
    scale = np.maximum((upper - lower) / 2, 1e-12)
    hopeless: set[int] = set()
    while time.perf_counter() < deadline:
        interrupt.check()
        owner = program.owner(x)
        totals = np.stack([np.bincount(owner, weights=v, minlength=program.k) for v in program.values])
        out = ((np.maximum(0, lower - totals) + np.maximum(0, totals - upper)) / scale).sum(axis=0)
        worst = [int(t) for t in np.argsort(-out, kind="stable") if out[t] > 1e-12 and int(t) not in hopeless]
        if not worst:
            break
        t = worst[0]
        bands = np.minimum(lower, totals), np.maximum(upper, totals)
        bands[0][:, t], bands[1][:, t] = lower[:, t], upper[:, t]
        territories = np.array([t])
        for _ in range(rings):
            territories = np.unique(np.concatenate([_window(spec, owner, int(s)) for s in territories]))
            seconds = min(seconds_each, deadline - time.perf_counter())
            if seconds <= 0.05:
                break
            window = program.start(engine, x, territories, seconds, bands)
            found = window.pending.result()  # (the fork is ended however this returns, Ctrl-C too)
            if found is not None:
                x = x.copy()
                x[window.cols] = found
                break
        else:
            hopeless.add(t)
    return program.plan(x, plan.groups)


def improve_windows(spec: TerritorySpec, engine, plan: Plan, zone: np.ndarray | None, deadline: float,
                    on_plan: Callable[[Plan], None] | None = None, workers: int = 1) -> Plan:
    """Sweep the windows (each territory with its neighbours) until a sweep gains less than MIN_GAIN, then
    move the centres to their territories' medoids and sweep again, while time lasts. Up to `workers` windows
    run at once (one core each). Returns the best plan (never worse than `plan`); `on_plan` hears each
    improvement."""
    cost = spec.cost()
    best = plan
    while time.perf_counter() < deadline:
        program = _Program(spec, best, zone)
        x = program.start_x()
        value = float(program.cost @ x)
        told, heard_at = value, time.perf_counter()  # the last value on_plan heard, and when

        def tell(solution: np.ndarray, now: float) -> None:
            nonlocal told, heard_at
            on_plan(program.plan(solution, plan.groups))
            told, heard_at = now, time.perf_counter()

        def heard(solution: np.ndarray) -> None:
            if on_plan is not None and time.perf_counter() - heard_at > REPORT_SECONDS:
                now = float(program.cost @ solution)  # (a sweep of 200 territories' windows can take minutes)
                if now < told - 1e-9:
                    tell(solution, now)

        while time.perf_counter() < deadline:
            before = value
            x = _sweep(spec, engine, program, x, deadline, max(1, workers), heard)
            value = float(program.cost @ x)
            if value < told - 1e-9 and on_plan is not None:
                tell(x, value)
            if value > before * (1 - MIN_GAIN):
                break
        swept = program.plan(x, plan.groups)
        if not is_valid(spec, swept) or swept.objective(cost) >= best.objective(cost) - 1e-9:
            break  # (the program's rows hold the band and connectivity; the check guards against solver tolerances)
        best = swept
        if on_plan is not None:
            on_plan(best)
        moved = recentred(spec, best)
        if moved.centres == best.centres:
            break
        best = Plan(moved.centre_of, groups=plan.groups)
    return best
