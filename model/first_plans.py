"""How the first territory plan is found, by the path the instance takes (model.search decides which):
local search from several starts (`first_plan`), CP-SAT's assignment to a plan's centres (`assignment_plan`),
balanced spanning-tree partitions on large or nested maps with free centres (`tree_first_plan`), and for fixed
centres the balanced transportation LP repaired (`transport_first_plan`, on groups of units without a distance
matrix: `coarse_first_plan`); `swapped_centres` re-plans at centres swapped on the LP.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from geodata.distances import LazyPairs
from model.allocation import allocate
from model.balance_repair import balance_violation, closest_balance, rebalance
from model.centre_swaps import recentred_on, swap_centres
from model.check import is_valid
from model.coarsen import coarsen
from model.fixing import Relaxation
from model.lagrangian import lagrangian_bound
from model.local_search import polish, tight_band
from model.nested import nest, top_down_partition
from model.path_transport import path_assignment, usable_for_paths
from model.plan import Plan
from model.spec import SearchInterrupted, TerritorySpec
from model.star_assignment import star_descent, usable, widened
from model.star_windows import balance_windows, improve_windows
from model.transport import balanced_assignment
from model.tree_partition import tree_partition
from solvers.result import SolverOptions

# From this many units (or with nested levels) the first plan comes from spanning-tree cuts
# (model.tree_partition): local search from nearest-centre starts does not reach the balance band there.
TREE_UNITS = 1_500
TREE_STARTS = 3
TRANSPORT_SWAP_SHARE = 0.3  # of `swapped_centres`' time after the swaps, at most, for its first plan
BALANCE_SHARE = 0.25  # of transport_first_plan's budget, at most, for its balance windows per start
# On groups of units (coarse_first_plan) never less than this many seconds (within the budget): on the mixed
# counties' 6,000 groups with 200 reps' homes the windows balance the path LP's plan in 8.3 s; a 90 s run gave them
# 6.5 s (a quarter of 26), stopped them at 0.0008 half-bands out, the chains found nothing in 15 s more and the run
# ended without a plan. Not on single units: on the US counties (20 reps, ±20%, 120 s) 15 s there cost the end plan
# 3.5% (4.158e13 against 4.019e13), the windows around New York finding nothing where the chains then do.
BALANCE_MIN_SECONDS = 15.0
TRANSPORT_CHAIN_CYCLES = 8  # rounds of ejection chains and local search (±20% on the counties took three)
# Without a distance matrix the plan on groups of units is lifted back and polished by local search for this
# share of the windows' time (see model.search's note on the groups' path).
POLISH_SHARE = 0.2
# The centres swapped on the transportation LP take at most this share of `swapped_centres`' time.
SWAP_LP_SHARE = 0.5


def initial_centres(spec: TerritorySpec, seed: int) -> list[int]:
    """k weighted medoids: a seeded k-means++ start followed by alternating improvement."""
    cost = spec.cost()
    n, k = spec.geography.n, spec.count
    rng = np.random.default_rng(seed)
    centres = [int(rng.integers(n))] if seed else [int(np.argmin(cost.sum(axis=0)))]
    while len(centres) < k:
        nearest = cost[:, centres].min(axis=1)
        nearest[centres] = 0.0
        total = nearest.sum()
        pick = int(rng.choice(n, p=nearest / total)) if total > 0 else int(np.setdiff1d(np.arange(n), centres)[0])
        centres.append(pick)
    for _ in range(50):
        owner = np.argmin(cost[:, centres], axis=1)
        new = []
        for t in range(k):
            members = np.flatnonzero(owner == t)
            new.append(int(members[np.argmin(cost[np.ix_(members, members)].sum(axis=0))]) if len(members) else centres[t])
        if new == centres or len(set(new)) < k:
            break
        centres = new
    return sorted(centres)


def nearest_plan(spec: TerritorySpec, centres: list[int]) -> np.ndarray:
    """Every unit to its cheapest centre (centres to themselves)."""
    cost = spec.cost()
    owner = np.asarray(centres)[np.argmin(cost[:, centres], axis=1)]
    owner[centres] = centres
    if spec.centres is not None:
        for u, t in spec.locks:
            owner[u] = spec.centres[t]
    return owner


def first_plan(spec: TerritorySpec, relaxation: Relaxation | None, options: SolverOptions,
               budget: float, seeded_only: bool = False) -> tuple[Plan | None, Plan | None]:
    """(best valid plan, an invalid fallback) from several starts repaired by iterated local search.
    `seeded_only`: only the seeded k-medoid starts, not the relaxations' open centres (a second start
    that differs from the first; in a fork, where the Lagrangian's compiled parallel loops would stop
    the process: GNU OpenMP is not fork-safe)."""
    start = time.perf_counter()
    cost = spec.cost()
    seed = options.seed
    if spec.centres is not None:
        starts = [list(spec.centres)]
    else:
        starts = [relaxation.centres(spec.count)] if relaxation is not None and not seeded_only else []
        if not isinstance(spec.geography.distance, LazyPairs) and not seeded_only:  # (n x n arrays: not lazy)
            relaxed = lagrangian_bound(spec, iterations=150, time_limit=0.3 * budget)
            starts += [list(relaxed.centres)] if len(relaxed.centres) == spec.count else []
        starts += [initial_centres(spec, seed + s) for s in range(3)]
    best: Plan | None = None
    fallback: Plan | None = None
    tight = tight_band(spec)
    try:
        for tried, centres in enumerate(starts):
            if (best or fallback) is not None and time.perf_counter() - start > budget:
                break  # a safety net: at benchmark sizes every start runs, so the plan does not depend on speed
            # Under a tight band, with and without swaps: they end in different local optima; keep the better.
            plans = [polish(spec, nearest_plan(spec, centres), seed=seed + tried, kicks=150, patience=40,
                            deadline=start + budget, swaps=swaps) for swaps in ((True, False) if tight else (False,))]
            plan = min(plans, key=lambda p: (balance_violation(spec, p), p.objective(cost)))
            if not is_valid(spec, plan):
                if fallback is None or balance_violation(spec, plan) < balance_violation(spec, fallback):
                    fallback = plan  # the least unbalanced: the best start for ejection chains
            elif best is None or plan.objective(cost) < best.objective(cost) - 1e-9:
                best = plan
        if best is None and fallback is not None and spec.balance:
            best = _balance_by_chains(spec, fallback, seed, start + 2 * budget)
    except KeyboardInterrupt:
        raise SearchInterrupted(best) from None
    return best, fallback


def transport_first_plan(spec: TerritorySpec, engine, options: SolverOptions, budget: float,
                         on_plan: Callable[[Plan], None] | None = None,
                         windows_at_least: float = 0.0) -> tuple[Plan | None, Plan | None]:
    """(valid plan, invalid fallback) for fixed centres on a large map: the balanced transportation LP to the
    centres (contiguity aside, locks kept), rounded, its cut-off pieces given to their neighbours by local
    search, then (with a distance matrix) the territories out of band repaired by windows at least cost
    (model.star_windows.balance_windows), and where that leaves some, ejection chains and local search in turn
    until the plan is balanced (model.balance_repair).
    With a distance matrix the LP with shortest-path rows (model.path_transport) goes first, repaired the same
    way, and the plain LP only where that gives no valid plan: on the ZIP cells' 7,500 groups with 200 reps' homes
    (±5%) the windows alone balance the path LP's plan, 2.084e12 in 24 s (the plain LP's repair: 2.775e12 in 91 s
    more; with the chains alone 2.448e12 and 2.874e12); on the US counties with 20 reps' cities 5.012e13 in 16 s
    at ±20% and 6.850e13 at ±15% (the plain LP's: 5.403e13 and 8.332e13). Local search from the nearest-centre
    start is the caller's fallback. `on_plan` hears each valid plan that beats the one before as soon as found.
    The balance windows get BALANCE_SHARE of the budget, or `windows_at_least` seconds if more (within the budget)."""
    deadline = time.perf_counter() + budget
    by_windows = usable(spec) and not spec.limits and isinstance(spec.geography.distance, np.ndarray)
    starts = [lambda: path_assignment(spec, engine)] if usable_for_paths(spec) else []
    starts.append(lambda: balanced_assignment(spec, engine, nearest_plan(spec, list(spec.centres)), None, margin=0.0))
    best, fallback = None, None
    cost = spec.cost()
    try:
        for start in starts:
            if best is not None:  # (the plain LP's repair cost the ZIP cells' groups 91 s for a plan 34% dearer)
                break
            owner = start()
            if owner is None:
                continue
            plan = polish(spec, owner, seed=options.seed, deadline=deadline)
            if not is_valid(spec, plan) and by_windows:  # (a share of the budget: the chains may follow)
                now = time.perf_counter()
                plan = balance_windows(spec, engine, plan, None,
                                       min(now + max(BALANCE_SHARE * budget, windows_at_least), deadline))
            if not is_valid(spec, plan):
                plan = closest_balance(spec, np.asarray(plan.centre_of), options.seed, deadline,
                                       cycles=TRANSPORT_CHAIN_CYCLES)
            valid = is_valid(spec, plan)
            if valid and (best is None or plan.objective(cost) < best.objective(cost)):
                best = plan
                if on_plan is not None:
                    on_plan(plan)
            elif not valid and (fallback is None or balance_violation(spec, plan) < balance_violation(spec, fallback)):
                fallback = plan
    except KeyboardInterrupt:  # (the plans found are with on_plan: on coarse units `best` is not a plan of the run's)
        raise SearchInterrupted(None) from None
    return (best, None) if best is not None else (None, fallback)


def swapped_centres(spec: TerritorySpec, engine, options: SolverOptions, plan: Plan, deadline: float,
                    on_plan: Callable[[Plan], None]) -> Plan:
    """Free centres: `plan`'s centres swapped on the transportation LP (model.centre_swaps, SWAP_LP_SHARE of the
    time), then a plan at the swapped centres by the fixed-centre path (`transport_first_plan`), or where that finds
    none, `plan` with each territory re-centred on its swapped centre; the windows at those centres for the time left.
    Returns the better of that and `plan` (`on_plan` hears only of plans that beat it); Ctrl-C raises
    SearchInterrupted with the best of them so far."""
    cost = spec.cost()
    target = plan.objective(cost)
    best = plan

    def heard(found: Plan) -> None:
        nonlocal best
        if found.objective(cost) < best.objective(cost) - 1e-9 * abs(target) and is_valid(spec, found):
            best = found
            on_plan(found)

    try:
        now = time.perf_counter()
        swapped = swap_centres(spec, engine, np.asarray(plan.centre_of), now + SWAP_LP_SHARE * (deadline - now))
        if swapped is None or np.array_equal(np.unique(swapped[0]), np.unique(plan.centre_of)):
            return plan
        labels = swapped[0]
        fixed = replace(spec, centres=tuple(int(c) for c in np.unique(labels)))
        start, _ = transport_first_plan(fixed, engine, options, TRANSPORT_SWAP_SHARE * (deadline - time.perf_counter()))
        if start is None:
            start = recentred_on(plan, labels)
            fixed = replace(spec, centres=start.centres)
        heard(start)
        heard(improve_windows(fixed, engine, start, None, deadline, on_plan=heard, workers=options.threads))
    except (KeyboardInterrupt, SearchInterrupted):
        raise SearchInterrupted(best) from None
    return best


def coarse_first_plan(spec: TerritorySpec, engine, options: SolverOptions, budget: float, window_budget: float,
                      on_plan: Callable[[Plan], None], end: float = np.inf) -> tuple[Plan | None, Plan | None]:
    """`transport_first_plan` and the windows on coarse units (model.coarsen) for fixed centres on a map without
    a distance matrix; the plan lifted back to the units and polished by local search, the windows and the polish
    ending by `end` (perf_counter seconds) if it comes first: a plan first, then the bound's time, then gains.
    (valid plan, invalid fallback) as `transport_first_plan`; `on_plan` hears each lifted plan (the first as soon
    as it is found)."""
    coarse = coarsen(spec)

    def lifted(p: Plan) -> None:
        on_plan(coarse.lift(spec, p))

    plan, near = transport_first_plan(coarse.spec, engine, options, budget, on_plan=lifted,
                                      windows_at_least=BALANCE_MIN_SECONDS)
    if plan is None:
        return None, None if near is None else coarse.lift(spec, near)
    if usable(coarse.spec):
        plan = improve_windows(coarse.spec, engine, plan, None, min(time.perf_counter() + window_budget, end),
                               on_plan=lifted, workers=options.threads)
    fine = coarse.lift(spec, plan)
    try:
        polished = polish(spec, np.asarray(fine.centre_of), seed=options.seed,
                          deadline=min(time.perf_counter() + POLISH_SHARE * window_budget, end))
    except KeyboardInterrupt:
        raise SearchInterrupted(fine) from None
    cost = spec.cost()
    return (polished if is_valid(spec, polished) and polished.objective(cost) < fine.objective(cost) else fine), None


def assignment_plan(spec: TerritorySpec, engine, options: SolverOptions, budget: float,
                    plan: Plan | None, seeded_only: bool = False,
                    on_plan: Callable[[Plan], None] | None = None) -> Plan | None:
    """CP-SAT assigns the units to the centres of `plan` (under a narrow band: of a plan under a wider
    band, where local search works well, from `first_plan`'s starts), re-centring while it gains
    (model.star_assignment); about `budget` seconds. None if it finds no valid plan. Fixed centres need
    no plan (it is only a hint). `on_plan` hears of CP-SAT's plans as it finds them."""
    t = time.perf_counter()
    if spec.centres is not None:
        return star_descent(spec, engine, plan, t + budget, options.seed, on_plan)
    if tight_band(spec):  # Ctrl-C: the wider band's plan is not valid here
        plan, _ = first_plan(widened(spec), None, options, budget / 3, seeded_only=seeded_only)
    return None if plan is None else star_descent(spec, engine, plan, t + budget, options.seed, on_plan)


def uses_tree_partition(spec: TerritorySpec) -> bool:
    """Large (or nested) problems with free centres and nothing that ties units to a territory."""
    plain = spec.centres is None and not spec.locks and not spec.limits and spec.offsets is None
    return plain and bool(spec.balance) and (bool(spec.levels) or spec.geography.n >= TREE_UNITS)


def tree_first_plan(spec: TerritorySpec, options: SolverOptions, budget: float, engine=None,
                    allocate_each: bool = True, on_plan: Callable[[Plan], None] | None = None) -> Plan | None:
    """The best of a few balanced spanning-tree partitions, each polished by local search and
    (`allocate_each`, cheap when a distance matrix is stored) by location-allocation. With nested
    levels each plan's territories are then grouped (model.nested.nest); where no grouping is found
    the levels are cut top down, which needs the `engine` for its LPs."""
    start = time.perf_counter()
    deadline = start + budget
    cost = spec.cost()
    flat = replace(spec, levels=())
    best: Plan | None = None
    try:
        for s in range(TREE_STARTS):
            if best is not None and time.perf_counter() - start > budget / 2:
                break
            seed = options.seed + s
            part = tree_partition(flat, flat.level_counts(), seed=seed, deadline=deadline)
            if part is None:
                break
            plan = _polish_partition(flat, part, engine if allocate_each else None, seed, deadline)
            if spec.levels:
                nested = nest(spec, plan, seed, deadline) if is_valid(flat, plan) else None
                plan = nested if nested is not None else _top_down_plan(spec, engine, allocate_each, seed, deadline)
            better = best is None or (plan is not None and plan.objective(cost) < best.objective(cost) - 1e-9)
            if plan is not None and better and is_valid(spec, plan):
                best = plan
                if on_plan is not None:
                    on_plan(best)
    except KeyboardInterrupt:
        raise SearchInterrupted(best) from None
    return best


def _polish_partition(spec: TerritorySpec, part, engine, seed: int, deadline: float) -> Plan:
    """Local search inside the finest groups of a partition, then location-allocation (given an engine)."""
    zone = part.labels[-2] if spec.levels else None
    plan = polish(spec, part.centre_of, seed=seed, kicks=min(30, 100_000 // spec.geography.n),
                  patience=10, deadline=deadline, zone=zone)  # kicks cost O(n) each
    plan = replace(plan, groups=tuple(tuple(int(g) for g in labels) for labels in part.labels[:-1]))
    if engine is not None and is_valid(spec, plan):
        plan = allocate(spec, engine, plan, zone, deadline)
    return plan


def _top_down_plan(spec: TerritorySpec, engine, allocate_each: bool, seed: int, deadline: float) -> Plan | None:
    """A nested plan cut level by level (compact groups first, given an engine; else plain spanning-tree
    cuts of every level)."""
    if engine is not None:
        part = top_down_partition(spec, engine, seed=seed, deadline=deadline)
    else:
        part = tree_partition(spec, spec.level_counts(), seed=seed, deadline=deadline)
    return None if part is None else _polish_partition(spec, part, engine if allocate_each else None, seed, deadline)


def _balance_by_chains(spec: TerritorySpec, plan: Plan, seed: int, deadline: float, cycles: int = 4) -> Plan | None:
    """When no start reached the balance band (large instances with very uneven units), alternate
    ejection chains and local search from the best unbalanced plan."""
    if spec.centres is not None:  # (k-medoid centres would not be the fixed ones)
        return rebalance(spec, np.asarray(plan.centre_of), seed + 100, deadline, cycles)
    fresh = polish(spec, nearest_plan(spec, initial_centres(spec, seed)), deadline=deadline)  # no kicks
    for current in (plan, fresh):
        found = rebalance(spec, np.asarray(current.centre_of), seed + 100, deadline, cycles)
        if found is not None:
            return found
    return None
