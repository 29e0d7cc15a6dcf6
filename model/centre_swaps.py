"""Free centres moved by swaps on the balanced transportation LP, then the territories re-solved at the moved
centres as for fixed centres.

Location-allocation's descent (model.allocation) moves each centre to the medoid of its units weighted by their LP
shares, the shares held fixed while it chooses; a swap re-solves the LP, so the balance follows the move. Each
centre is tried at the few units of its territory that the medoid rule ranks next, the first that lowers the LP's
value kept. At the swapped centres the fixed-centre path (model.first_plans.transport_first_plan, then the windows of
model.star_windows) finds the plan; the caller keeps it only if it beats the plan in hand. On the US counties at
20 territories the fixed-centre path at a 600 s free plan's own centres ended where the plan was (1.2154e13 against
1.2156e13), and at centres swapped on the LP (1.19565e13 to 1.19036e13) 0.5% lower (1.2097e13): where the centres
are is what the free plan lacks (tests/benchmarks/README.md, "Centres swapped on the LP").
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from model.plan import Plan
from model.spec import TerritorySpec
from model.transport import transport_lp
from solvers import interrupt

SWAP_TRIES = 4  # units tried per centre and pass, best first by the medoid rule at the LP's shares
SWAP_GAIN = 1e-6  # relative fall of the LP's value a swap must bring


def swap_centres(spec: TerritorySpec, engine, centre_of: np.ndarray, deadline: float,
                 tries: int = SWAP_TRIES) -> tuple[np.ndarray, float, float] | None:
    """Units labelled by centre (as `centre_of`) after first-improvement swaps of single centres on the LP's value,
    passes over all centres until one gains nothing or `deadline`: (labels, LP value before, LP value after). None
    if the LP has no solution, or if one pass (`tries` LPs per centre, timed by the first) would not fit before
    `deadline`: a pass cut short leaves most centres untried (on the mixed counties at 100 territories a pass takes
    about 100 s). The labels are the LP's largest shares, neither connected nor balanced."""
    cost = spec.cost()
    labels = np.asarray(centre_of).copy()
    started = time.perf_counter()
    solved = _lp(spec, engine, cost, labels)
    if solved is None:
        return None
    one = time.perf_counter() - started
    if time.perf_counter() + one * tries * len(np.unique(labels)) > deadline:
        return None
    value, shares = solved
    first = value
    improved = True
    while improved and time.perf_counter() < deadline:
        improved = False
        for c in _by_promise(cost, labels, shares):
            if time.perf_counter() > deadline:
                break
            for u in _candidates(cost, labels, shares, c, tries):
                interrupt.check()
                trial = labels.copy()
                trial[labels == c] = u
                found = _lp(spec, engine, cost, trial)
                if found is not None and found[0] < value * (1 - SWAP_GAIN):
                    (value, shares), labels, improved = found, trial, True
                    break
                if time.perf_counter() > deadline:
                    break
    return labels, first, value


def recentred_on(plan: Plan, labels: np.ndarray) -> Plan:
    """`plan` with each territory centred on the unit its centre was swapped to (`labels`: each unit's swapped centre,
    a centre's own unit labelled with where it went), where that unit lies inside the territory: connected and balanced
    as before, so valid."""
    owner = np.asarray(plan.centre_of)
    moved = owner.copy()
    for c in np.unique(owner):
        u = int(labels[c])
        if u != c and owner[u] == c:
            moved[owner == c] = u
    return replace(plan, centre_of=tuple(int(v) for v in moved))


def _lp(spec: TerritorySpec, engine, cost: np.ndarray, labels: np.ndarray):
    """(value, (units, centres, shares)) of the transportation LP at the centres of `labels`, or None."""
    solved = transport_lp(spec, engine, labels, None, margin=0.0)
    if solved is None:
        return None
    rows, to, share = solved
    return float((cost[rows, to] * share).sum()), solved


def _medoid_costs(cost: np.ndarray, shares, c: int, units: np.ndarray) -> np.ndarray:
    """Cost of serving centre c's LP shares from each of `units` instead (the medoid rule)."""
    rows, to, share = shares
    mine = (to == c) & (share > 1e-9)
    return share[mine] @ cost[np.ix_(rows[mine], units)]


def _candidates(cost: np.ndarray, labels: np.ndarray, shares, c: int, tries: int) -> np.ndarray:
    """The units of c's territory, other than c, that serve its LP shares most cheaply: `tries` of them."""
    mine = np.flatnonzero(labels == c)
    mine = mine[mine != c]
    if not len(mine):
        return mine
    return mine[np.argsort(_medoid_costs(cost, shares, c, mine), kind="stable")[:tries]]


def _by_promise(cost: np.ndarray, labels: np.ndarray, shares) -> list[int]:
    """The centres, those whose best other unit comes closest to (or beats) their own service cost first."""
    order = []
    for c in np.unique(labels):
        best = _candidates(cost, labels, shares, int(c), 1)
        if not len(best):
            continue
        own, other = _medoid_costs(cost, shares, int(c), np.array([c, best[0]]))
        order.append((other / max(own, 1e-12), int(c)))
    return [c for _, c in sorted(order)]
