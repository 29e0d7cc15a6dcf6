"""How a territory plan is found and proven.

1. First plan (model.first_plans): start centres (the Lagrangian relaxation's open centres, seeded weighted
   k-medoids, or the fixed centres), units to their nearest centre, then iterated local search (model.local_search);
   then CP-SAT assigns the units to its centres, re-centring while it gains (model.star_assignment).
   Free centres from 1,500 units (or nested levels): balanced spanning-tree partitions, location-allocation,
   then the centres moved on the transportation LP alone (model.allocation.relocate) and one LP step
   at a time (model.allocation.drift; without a distance matrix only the latter); with a matrix and no
   nesting, windows of neighbouring territories re-assigned at fixed centres (model.star_windows).
   With fixed centres (reps' homes) from 1,500 units: the balanced transportation LP to those centres (and, with a
   distance matrix, the same LP with shortest-path rows: model.path_transport), repaired by local search and
   ejection chains (`transport_first_plan`), then the same windows.
2. Bound and fixing: the Lagrangian bound (model.lagrangian) and, up to 50 units, the LP relaxation's
   reduced costs drop every (unit, centre) pair that cannot appear in a plan better than the first.
3. Large-neighbourhood search: re-solve pairs of adjacent territories exactly on the reduced pairs (with
   `threads` of 2 or more from two origins at once, one in a fork: model.two_origins). With fixed centres and
   no distance matrix, after the windows, ranked by each group's excess over its own transportation LP.
4. The exact model on the reduced pairs, warm-started from the best plan, with lazy contiguity cuts.

The engine is passed in, so this module stays solver-agnostic.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from geodata.distances import LazyPairs
from model.bound_aside import BoundAside, fixed_centre_body
from model.balance_repair import balance_violation
from model.check import is_valid
from model.coarsen import coarsenable
from model.first_plans import (
    TREE_UNITS,
    assignment_plan,
    coarse_first_plan,
    first_plan,
    swapped_centres,
    transport_first_plan,
    tree_first_plan,
    uses_tree_partition,
)
from model.fixing import Fixing, Relaxation, path_fixing, reduced_cost_fixing, solve_relaxation
from model.knapsack_kernels import compile_kernels, compiled
from model.lagrangian import LagrangianBound, lagrangian_bound
from model.lagrangian_sparse import sparse_lagrangian_bound
from model.lp_bound import lp_dual_bound
from model.live import Live
from model.local_search import tight_band
from model.neighbourhood import improve_pairs
from model.plan import Plan
from model.spec import ModelError, SearchInterrupted, TerritorySpec
from model.star_assignment import LOOSE_BAND, star_descent, usable
from model.star_windows import improve_windows
from model.allocation import allocate, drift, relocate
from model.nested import NEST_SECONDS, nest
from model.transport import excess_over_lp, fixed_centre_bound, fixed_centre_fixing
from model.two_origins import improve_origins
from model.regions import REGION_UNITS, improve_districts, improve_regions
from model.territory_model import (
    NoPairLeft,
    build_territory_model,
    contiguity_separator,
    plan_from_model,
    plan_repairer,
    start_from_plan,
)
from solvers import interrupt
from solvers.portfolio import Pending, Worker
from solvers.result import Progress, SolveResult, SolverOptions, Termination, relative_gap

# Above this many pairs (50 units) the LP relaxation costs more than it saves: on the county benchmark (100 and
# 159 units) it took 1.6-8.2 s of a 60 s run, and without it the Lagrangian ascent runs until it converges, fixes
# more pairs (GA k = 8 ±5%: 8% kept against 24%) and the runs end as close or closer to their bound (benchmarks
# README, "Without the LP relaxation on the county instances"; it was 40,000 pairs before).
LP_FIXING_MAX_PAIRS = 2_500
# Share of the time limit for the first Lagrangian bound and fixing stage. With the LP relaxation's
# reduced costs (small models) 400 iterations suffice; without them the ascent runs until it converges
# or this share is spent, since every pair it fixes shrinks the exact model. Measured on 1,000 generated
# cells from the same plan (1.69014e10): 30 s gave 1.65216e10 and kept 20.2% of the pairs, 90 s
# 1.66160e10 and 16.1%; in a full 600 s run with 30 s and no later plan to fix against, 1.63826e10 and 26%.
BOUND_SHARE, BOUND_SHARE_WITHOUT_LP = 0.05, 0.15
EXACT_MAX_PAIRS = 750_000  # above this many pairs left after fixing, building the exact model (Pyomo) costs GBs and minutes
# Neighbour separator rows from the start pay off on small models (fewer cut rounds) and slow the LP
# of large ones (measured on the county benchmark): used when at most this many pairs are left.
SEPARATOR_PAIRS_MAX = 8_000
# Above this many pairs the final exact model, warm-started from the search's plan, is run for its bound: the
# engine skips its improvement heuristics and solves the root LP by interior point. On 500 generated cells
# (38,093 pairs, 441 s from the same plan) HiGHS's sub-MIPs took 100 s and found nothing and branching began
# only at 376 s (gap 1.014%); without them 0.693%; with the interior-point root too, whose reduced costs fixed
# 29% of the columns at once (6% after the simplex root), branching began at 100 s and the gap ended at
# 0.560%. On the county instances (at most 8,105 pairs) the sub-MIPs find better plans (GA k = 6 and 10 at
# ±5%) and the interior root gained nothing for sure (NC k = 10 ±5%: 38 s either way), so HiGHS keeps its
# defaults there.
PROOF_PAIRS_MIN = 20_000
# Above PROOF_PAIRS_MIN pairs (and without the LP relaxation's reduced costs) the Lagrangian bound is also
# taken at the duals of the LP relaxation solved by a first-order method (model.lp_bound), with at most
# this share of the time limit for the LP.
LP_DUAL_SHARE = 0.1
ASIDE_STAGE = "bound_aside"  # the bound's fork's seconds in the stage timings
ASIDE_SPARE = 0.5  # seconds before the end at which the search and the bound's fork (model.bound_aside) stop
SPARE_REGIONS = 0.05  # share of the limit left after the last bound that goes back to the regions (no matrix)
FIRST_PLAN_SHARE = 0.9  # share of the limit the first-plan stages may take when they find no plan at first
# Fixed centres from this many units: the first plan starts from the balanced transportation LP to the centres
# (`transport_first_plan`; local search from the nearest centres if it finds none), then the windows, and CP-SAT's
# assignment is skipped. On the US counties with 20 reps' cities (±20%) CP-SAT's program (62,000 pairs) found no
# plan in 240 s, nor in 26 s from the LP start's plan; the LP start found one in 5-9 s (benchmarks README,
# "Fixed centres at national scale").
TRANSPORT_START_UNITS = TREE_UNITS
# Share of the limit for the windows (model.star_windows) after that start: on the counties with 20 reps' cities
# (±20%) 60 s of them took the first plan from 5.40e13 to 4.24e13 (-21.6%), where a whole 120 s run without them
# ended at 5.39e13.
FIXED_WINDOW_SHARE = 0.3
TRANSPORT_BOUND_SHARE = 0.05  # of the limit, at most, for the transportation LP bound at fixed centres with a matrix
# Without a distance matrix (above 6,000 units) the same steps run on groups of units (model.coarsen) and the
# plan is lifted back and polished by local search (model.first_plans.POLISH_SHARE of the windows' time). On the
# 32,984 ZIP cells with the 20 reps' cities (±20%) a run found no plan in 180 s before (the ejection chains move
# single cells); on 1,500 groups (one-off script): a plan in 1.7 s (5.25e13), 3.27e13 after 54 s of windows. The
# bound there is the transportation LP over every unit and centre (7.5 s; the Lagrangian ascent over the same pairs
# reached 3.0818e13 in 46 s, the LP 3.0843e13), and the time left goes to windows on the units region by region
# (model.regions), in passes cut along turned axes until two in a row gain less than MIN_REGION_GAIN, but for
# FIXED_REGIONS_SPARE seconds.
# On the groups the windows sweep until a sweep gains less than 0.1% or this share of the limit has passed (or the
# bound's time comes): with 200 reps (ZIP cells, ±5%) a whole sweep over the groups took 265 s and 2.90e12 to
# 2.13e12 (a second 2.09e12), where 0.3 of the limit cut the first sweep short (2.50e12) and the regions' windows on
# the cells took the rest of a 600 s run only to 2.35e12 (one-off traces of `solve_territories`). With the whole
# limit (1.0) the later sweeps gained little (2 threads: 2.056e12 at 600 s, 2.057e12 at 900 s, no time left for the
# cells); at 0.6 the first sweep ended at 188 s (2 threads), the groups at 365 s (2.057e12) and the regions on the
# cells took the plan to 2.000e12 by 600 s (benchmarks README, "Both cores on the national paths"). With the ranked
# pairs after the cells' windows (900 s, 2 threads, search.log): at 0.6 the groups gained 0.4% in their last 190 s
# (2.0748e12 at 348 s, 2.0666e12 at 538 s) where the cells' windows then gained 2.3% in 210 s and the pairs 1.2% in
# 112 s (3.50%); at 0.4 the groups ended on as good a plan 175 s earlier (2.0538e12 at 377 s), and two runs at
# 3.33% and 3.54% (benchmarks README, "Ranked pairs two at a time").
GROUP_WINDOW_SHARE = 0.4
FIXED_REGIONS_SPARE = 1.0
# Fixed centres without a stored matrix, up to this many units (the exact model takes its pairs as an n x n mask:
# 144 MB): the transportation LP's reduced costs summed along the lightest path from each centre fix the pairs no
# cheaper plan can use (model.transport.fixed_centre_fixing), and if at most EXACT_MAX_PAIRS are left the exact
# model gets the last LAZY_EXACT_SHARE of the limit for its bound. Mixed counties, 200 reps' homes (6,761 units;
# one-off script from a 600 s plan): 218,375 of 1,352,200 pairs left (707,791 by the plain reduced costs), the model
# built in 4 s, its root cuts +0.52% over the LP after 50 s and +0.57% after 240 s, 2.5 GB.
LAZY_EXACT_MAX_UNITS = 12_000
LAZY_EXACT_SHARE = 0.15
FIXED_LP_SECONDS_PER_PAIR = 2e-5  # time the first plan leaves for that LP: 7.5 s for 659,680 pairs, and half again
# When less time than that is left (short limits), the Lagrangian ascent over the same pairs gives the bound
# instead, stopping this many seconds before the search's end: on the ZIP cells with 20 reps one step takes
# about 0.1 s (1.50e13 after one, 2.14e13 after 20, 2.90e13 after 100: the LP is 3.08e13).
FIXED_BOUND_SPARE = 0.3
FIXED_ASCENT_SHARE = 0.3  # of the limit, for that ascent, when the LP would take more than half of it
FIXED_LP_FITS = 0.75  # share of FIXED_LP_SECONDS_PER_PAIR below which the LP is not tried (it takes about 0.57)
MIN_REGION_GAIN = 1e-3
# With fixed centres on the ZIP cells, the share of the time after the bound's stage that the ranked pair search
# (model.neighbourhood, `excess`) keeps for itself after the regions' windows: from the 900 s benchmark's ±5% plan it
# gained 0.57% in its first sub-problem and 0.78% in 72 s, where 300 s more of the windows gained 0.06%; given
# half the time before the windows instead, it gained as much as the windows lost (one-off scripts, benchmarks README).
# Two at a time they gain faster (below), and the windows have levelled off well before: 0.35.
FIXED_PAIRS_SHARE = 0.35
# Each of those sub-problems (in a fork, `threads` at a time) stops at this relative gap and after PAIR_SECONDS_PER_UNIT
# seconds a unit, at least PAIR_SECONDS, at most PAIR_MOST_SECONDS: from the same plan, with 10 s each (one at a time,
# gap 1e-6) 10 of 19 sub-problems of pairs of 39-256 cells ran to the limit, 6 of them gaining nothing, -0.86% in
# 120 s; with 3 s and gap 1e-3 -0.88% one at a time and -1.00% two at a time (-0.96% with gap 1e-6). With 20 reps
# a pair holds about 3,300 cells: from the same plan 3 s each gained 0.11% in 157 s, 10 s each 0.28% (benchmarks
# README, "Ranked pairs two at a time").
PAIR_SECONDS = 3.0
PAIR_SECONDS_PER_UNIT = 0.01
PAIR_MOST_SECONDS = 10.0
PAIR_GAP = 1e-3
REGION_TURN = 0.6  # radians the regions' cuts turn from one pass to the next (until two passes gain too little)
RETRY_SEED = 1000  # seed offset of those further partitions (the same seed would draw the same trees again)
# Share of the time left after location-allocation that improving the plan gets when no distance matrix is
# stored (model.regions, then model.allocation.drift); the bound gets the rest. Measured on the 32,984 ZIP
# cells (600 s): with 308 s and with 122 s of neighbourhood search alone the plan ended the same
# (1.2013772e12), so the regions replace it there. Drift steps from that plan: -0.60% after one step (48 s),
# -1.31% after two, -1.77% after five (238 s); regions from a later plan: -2.76% in 330 s (benchmarks README).
LAZY_NEIGHBOURHOOD = 0.5
# Of the time left after location-allocation, the share for the windows (model.star_windows) before the
# pair search: on the mixed counties at 100 territories they gained 7.9% in 200 s where the pairs gain 0.8%.
WINDOW_SHARE = 0.7
# Of the time left after those windows, the share for the centres swapped on the transportation LP and the territories
# re-solved at them (model.centre_swaps, `swapped_centres`), before the pair search; the swaps take at most
# model.first_plans.SWAP_LP_SHARE of it. From 600 s plans (one-off scripts): US counties at 20 territories 1.2169e13 to 1.2138e13 in
# 34 s + 18 s, mixed counties at 100 2.4069e12 to 2.3907e12 in 150 s + 150 s.
SWAP_SHARE = 0.5
# Under a narrow band (model.local_search.tight_band) local search's first plan ends far above CP-SAT's (on the
# ±0.5% county rows 5-35% above it, or none), and CP-SAT does not start from it: local search gets this share of
# the limit there (0.2 elsewhere), and its plan is no second origin of the neighbourhood search (the second
# process draws a start of its own instead). Benchmarks README, "Local search's share under a narrow band".
NARROW_FIRST_SHARE = 0.05
REGION_SHARE = 0.85  # of that time, for the regional re-solves (model.regions) before the national drift steps
NESTED_FALLBACK = 0.3  # share of the time kept for the nested heuristic if the exact plan's territories do not group
# Below this many seconds left the exact model is not built: building it and the solver's least time
# (1 s, `solve_exact`) took 1.3 s on Georgia's 159 counties, and a 12 s `tplan run` ended 1-1.5 s late.
MIN_EXACT_SECONDS = 1.5
# Building the exact model takes about this long per pair (Pyomo): 6.4 s for 350,909 pairs (mixed counties, 100 reps),
# 4.2 s for 222,412 (200 reps, distances computed on demand), 13 s for 758,295. HiGHS's presolve then takes about as
# long again before it looks at its time limit, so with a plan the model is built only if twice that fits: a 90 s run
# of the 100 reps built it with 4.5 s left and ended 4.3 s late.
EXACT_BUILD_SECONDS_PER_PAIR = 2e-5
# With `threads` of 2 or more the neighbourhood search runs its two origins at once (model.two_origins); with
# one origin the fork draws its own: another seed (its k-medoid starts disjoint from the first's three) assigned
# by CP-SAT within this share of the stage's time, the rest for its pairs. Where a tight band's bound so far is
# more than SECOND_START_GAP below the plan (the open ±0.5% rows of the county benchmark; the exact phase does not
# prove those in the time anyway) one process draws that start too, after its origins, with the stage's time again.
SECOND_SEED = 3
SECOND_START_SHARE = 0.75
SECOND_START_GAP = 0.05
EXACT_GRACE = 5.0  # seconds past its time limit a neighbourhood sub-problem may take before its fork is ended
TRANSPORT_BOUND_WORDS = ("the transportation LP over every unit and fixed centre (balance bounds kept, contiguity and "
                         "integrality dropped)")
BOUND_METHOD = (
    "max of (a) the LP relaxation (models up to 2,500 pairs), (b) the Lagrangian bound (assignment rows "
    "relaxed, continuous knapsack per centre; by subgradient ascent and, above 20,000 pairs, also at the "
    "duals of the LP relaxation solved by a first-order method) and (c) the HiGHS branch-and-bound dual bound of the Hess "
    "model with separator cuts on the pairs left by safe Lagrangian and LP reduced-cost fixing (reduced "
    "costs summed along the lightest path from the centre, which a connected territory holds; each "
    "round of lazy cuts is a relaxation); all on the pairs left by path fixing (a unit whose lightest "
    "path to a centre is above the territory maximum cannot join it)"
)


@dataclass(frozen=True)
class SearchOutcome:
    """The best plan found (or None), the final solve's record and what each stage took."""

    plan: Plan | None
    result: SolveResult
    heuristic_objective: float | None
    stage_seconds: dict[str, float]
    fixing_kept: tuple[int, int] | None = None  # (pairs kept, pairs in the full model) after fixing
    first_plan_seconds: float | None = None  # when the first valid plan existed
    bound_method: str = BOUND_METHOD
    closest: Plan | None = None  # with no valid plan: the least unbalanced plan the search ended on (for the message)


def pair_seconds(units: int) -> float:
    """The time a ranked pair search's sub-problem of `units` units gets (see PAIR_SECONDS)."""
    return min(PAIR_MOST_SECONDS, max(PAIR_SECONDS, PAIR_SECONDS_PER_UNIT * units))


def fix_pairs(spec: TerritorySpec, relaxation: Relaxation | None, plan: Plan, multipliers: np.ndarray | None,
              seconds: float, iterations: int = 400, on_bound: Callable[[float], None] | None = None,
              possible: np.ndarray | None = None, fixing: bool = True):
    """Pairs that can appear in a plan better than `plan`: Lagrangian, and LP reduced costs where the
    LP relaxation was solved, within the `possible` pairs of path fixing. Without `fixing` only the
    bound is computed (allowed is None)."""
    upper = plan.objective(spec.cost())
    # From each unit's cost in the plan: on the ZIP cells 2.8e11 after 60 s against 2.0e11 from the nearest units.
    start = multipliers if multipliers is not None else spec.cost()[np.arange(spec.geography.n), list(plan.centre_of)]
    if isinstance(spec.geography.distance, LazyPairs):  # no n x n arrays: sparse bound, no fixing
        return None, sparse_lagrangian_bound(spec, start, upper, iterations=iterations, time_limit=seconds,
                                             on_bound=on_bound)
    lag = lagrangian_bound(spec, upper=upper, start=start, time_limit=seconds, iterations=iterations, on_bound=on_bound,
                           possible=possible, fixing=fixing)
    allowed = lag.allowed
    if allowed is not None and relaxation is not None:
        by_lp = reduced_cost_fixing(spec, relaxation, upper)
        if by_lp is not None:
            allowed = allowed & by_lp.allowed  # both are valid, so is their intersection
    if allowed is not None:
        allowed[np.arange(spec.geography.n), list(plan.centre_of)] = True
    return allowed, lag


def _free_bound_body(spec: TerritorySpec, relaxation: Relaxation | None, plan: Plan, lag: LagrangianBound | None,
                     possible: np.ndarray | None, seconds: float):
    """The Lagrangian bound of the paths without an exact model, for a fork (model.bound_aside): from the bound
    stage's multipliers (if any), aiming at `plan`'s cost, for `seconds`."""
    multipliers = lag.multipliers if lag is not None else None

    def body(send) -> None:
        fix_pairs(spec, relaxation, plan, multipliers, seconds, iterations=1_000_000,
                  on_bound=lambda bound: send(bound, 1), possible=possible, fixing=False)

    return body


def final_termination(termination: Termination, gap: float | None, rel_gap: float) -> Termination:
    """What the run says of its plan, from the plan's own cost and the bound: optimal within the requested
    gap, and never "optimal" beyond it, whatever the solver said (its incumbent may not be the plan)."""
    if gap is not None and gap <= rel_gap + 1e-12:
        return Termination.OPTIMAL
    if termination is Termination.OPTIMAL and (gap is None or gap > rel_gap * 1.0001 + 1e-9):
        return Termination.TIME_LIMIT
    return termination


def _pairs(spec: TerritorySpec, allowed: np.ndarray | None) -> int:
    """Assignment pairs the exact model would have: those left by fixing, or all."""
    n = spec.geography.n
    return int(allowed.sum()) if allowed is not None else n * (spec.count if spec.centres is not None else n)


def solve_exact(spec: TerritorySpec, engine, options: SolverOptions, warm: Plan | None = None,
                progress: Callable[[Progress], None] | None = None,
                allowed: np.ndarray | None = None) -> tuple[Plan | None, SolveResult, float]:
    """Build the model (only `allowed` pairs), warm-start it from `warm`, solve with lazy contiguity
    cuts. Returns the plan (None if none found), the result in the user's units, and the build time."""
    t = time.perf_counter()
    if spec.max_distance is not None:  # pairs beyond the limit are not in the model
        within = spec.geography.distance <= spec.max_distance
        allowed = within if allowed is None else allowed & within
    pairs = _pairs(spec, allowed)
    try:
        m = build_territory_model(spec, separators_up_front=pairs <= SEPARATOR_PAIRS_MAX, allowed=allowed)
    except NoPairLeft:  # e.g. a neighbourhood group redrawn from an invalid plan, whose pairs fixing may drop
        built = time.perf_counter() - t
        return None, SolveResult(Termination.INFEASIBLE, False, None, None, None, built, engine.name, "", options), built
    built = time.perf_counter() - t
    if options.time_limit is not None:  # building counts against the limit (2 s on 1,000 units); with no plan
        # to start from the solver gets 1 s at least to find one, with one it keeps the rest of the limit only
        options = replace(options, time_limit=max(1.0 if warm is None else 0.1, options.time_limit - built))
    result = engine.solve(
        m, options, warm_start=start_from_plan(m, warm) if warm is not None else None,
        separate=contiguity_separator(m, spec), progress=_scaled_progress(progress, m.cost_scale),
        repair=plan_repairer(m, spec, None if options.time_limit is None else time.perf_counter() + options.time_limit)
        if spec.contiguity else None,
    )
    return (plan_from_model(m) if result.has_solution else None), unscale(result, m.cost_scale), built


def _scaled_progress(progress, scale: float):
    if progress is None:
        return None
    return lambda p: progress(replace(
        p, incumbent=None if p.incumbent is None else p.incumbent * scale,
        bound=None if p.bound is None else p.bound * scale,
    ))


def unscale(result: SolveResult, scale: float) -> SolveResult:
    """Objective and bound back in the user's units (the model's objective is divided by `scale`)."""
    return replace(
        result,
        objective=None if result.objective is None else result.objective * scale,
        bound=None if result.bound is None else result.bound * scale,
    )


def _interrupted_outcome(spec: TerritorySpec, best: Plan | None, lag, relaxation: Relaxation | None,
                         value: float | None, stages: dict, allowed: np.ndarray | None,
                         first_seen: float | None, termination: Termination = Termination.INTERRUPTED,
                         method: str = "heuristic", rel_gap: float | None = None,
                         transport: float | None = None) -> SearchOutcome:
    """What to report when the exact model does not run (Ctrl-C, too large, or no time left): the best plan
    and the best bound proven so far (Lagrangian, LP relaxation, or the transportation LP at fixed centres,
    `transport`), also when there is no plan; a time limit whose bound is within `rel_gap` of the plan is
    reported as optimal."""
    bound = _best_bound(None, lag, relaxation, transport)
    bound = bound if value is None or bound is None else min(bound, value)
    gap = relative_gap(value, bound)
    if termination is Termination.TIME_LIMIT and rel_gap is not None and gap is not None and gap <= rel_gap + 1e-12:
        termination = Termination.OPTIMAL  # the bound alone proves the plan
    result = SolveResult(
        termination=termination, has_solution=best is not None, objective=value, bound=bound,
        gap=gap, seconds=sum(v for name, v in stages.items() if name != ASIDE_STAGE), engine="heuristic", version="",
        options=SolverOptions(),
    )
    kept = (int(allowed.sum()), allowed.size) if allowed is not None else None
    return SearchOutcome(best, result, value, stages, fixing_kept=kept, first_plan_seconds=first_seen,
                         bound_method=method if method != "heuristic" else _bounds_so_far(spec, lag, relaxation,
                                                                                          transport))


def _best_bound(solver: float | None, lag, relaxation: Relaxation | None, transport: float | None) -> float | None:
    """The largest of the bounds in hand (each valid alone), None if there is none."""
    found = [b for b in (solver, lag.bound if lag is not None else None,
                         relaxation.value if relaxation is not None else None, transport)
             if b is not None and np.isfinite(b)]
    return float(max(found)) if found else None


def _bounds_so_far(spec: TerritorySpec, lag, relaxation: Relaxation | None, transport: float | None = None) -> str:
    """How the bound of a search that stopped before the exact model was found (BOUND_METHOD names the
    solver's branch-and-bound bound, which such a run never had)."""
    lazy = isinstance(spec.geography.distance, LazyPairs)
    parts = (["the LP relaxation"] if relaxation is not None and relaxation.value is not None else []) + (
        ["the Lagrangian bound (assignment rows relaxed, a continuous knapsack per centre"
         + ("; distances computed on demand" if lazy else "") + ")"] if lag is not None and lag.bound is not None else []) + (
        [TRANSPORT_BOUND_WORDS] if transport is not None else [])
    if not parts:
        return "none: the search stopped before any bound was computed"
    return ("max of " if len(parts) > 1 else "") + " and ".join(parts) + \
        ", as far as it got before the search stopped (the exact model did not run)"


def solve_territories(
    spec: TerritorySpec,
    engine,
    options: SolverOptions,
    progress: Callable[[Progress], None] | None = None,
    stage: Callable[[str], None] | None = None,
    start: Plan | None = None,
) -> SearchOutcome:
    """Find the best plan within the options' limits and prove how good it is. Ctrl-C stops the search
    at the next check and returns the best plan so far (a second Ctrl-C aborts). `start`, a plan the caller
    already has, replaces the first plan found when it is valid and cheaper (so a short limit still ends on it)."""
    floor = _cost_floor(spec)
    if floor is not None and progress is not None:
        report = progress

        def progress(p: Progress) -> None:
            report(p if p.bound is None or p.bound >= floor else replace(p, bound=floor))

    with interrupt.stop_on_ctrl_c():
        if spec.levels and not uses_tree_partition(replace(spec, levels=())):
            outcome = _search_then_group(spec, engine, options, progress, stage, start)
        else:
            outcome = _search(spec, engine, options, progress, stage, start)
    bound = outcome.result.bound
    if floor is None or bound is None or bound >= floor:
        return outcome
    # An early Lagrangian bound can be far below zero (the ZIP cells: -5.7e12, a gap of 566%); every plan costs at
    # least 0, so 0 is the better bound (the gap then at most 100%).
    result = replace(outcome.result, bound=floor, gap=relative_gap(outcome.result.objective, floor))
    return replace(outcome, result=result)


def _cost_floor(spec: TerritorySpec) -> float | None:
    """0 when no plan can cost less (weights, distances and extra costs all non-negative), else None."""
    if spec.extra_cost is not None and float(np.min(spec.extra_cost)) < 0:
        return None
    return 0.0 if float(np.min(spec.weight)) >= 0 else None


def _search_then_group(spec: TerritorySpec, engine, options: SolverOptions, progress, stage,
                       start: Plan | None = None) -> SearchOutcome:
    """Nesting where the territories alone take the exact path (small, or fixed centres or locks): solve
    them without the nesting, then group them (model.nested.nest). A grouped plan costs what the
    un-nested one costs, so the un-nested bound and gap hold for it, and an optimal one stays optimal.
    If no grouping is found, free centres fall back to the nested heuristic with the time left;
    otherwise the run stops with a message."""
    t0 = time.perf_counter()
    limit = options.time_limit or 600.0
    plain = uses_tree_partition(spec)  # the nested heuristic could take over
    flat = replace(spec, levels=())
    outcome = _search(flat, engine, replace(options, time_limit=(1 - NESTED_FALLBACK) * limit if plain else limit),
                      progress, stage, start)
    if outcome.plan is None:
        return outcome
    (stage or (lambda _: None))("nesting: grouping the territories into " + _level_words(spec))
    grouped = nest(spec, outcome.plan, options.seed, time.perf_counter() + NEST_SECONDS)
    if grouped is not None:
        return replace(outcome, plan=grouped, bound_method=outcome.bound_method + (
            "; for the territories without the nesting, then grouped into the nesting levels (valid: dropping "
            "the nesting only allows more plans, and the grouped plan costs the same)"))
    interrupt.check()  # Ctrl-C: a plan that does not nest is not kept, and no search follows
    if not plain:
        raise ModelError(f"territories.nesting: the {spec.count} territories of the best plan found cannot be grouped "
                         f"into {_level_words(spec)} of equal numbers of territories, each connected; try other "
                         "counts, or drop the nesting")
    left = max(1.0, limit - (time.perf_counter() - t0))
    return _search(spec, engine, replace(options, time_limit=left), progress, stage)


def _level_words(spec: TerritorySpec) -> str:
    """'2 regions x 2 districts' for the message and the progress line."""
    return " x ".join(f"{count} {name}s" for name, count in spec.levels)


def _search(spec: TerritorySpec, engine, options: SolverOptions, progress, stage,
            start: Plan | None = None) -> SearchOutcome:
    """The search and proof (see the module's docstring); with no valid plan found, the outcome names the
    least unbalanced plan the search ended on (`closest`), so the user learns which rule stood in the way."""
    near: list[Plan] = []  # invalid plans the stages ended on
    outcome = _SearchRun(spec, engine, options, progress, stage, near).run(start)
    if outcome.plan is not None or not near or not spec.balance:
        return outcome
    return replace(outcome, closest=min(near, key=lambda plan: balance_violation(spec, plan)))


class _SearchRun:
    """One search, stage by stage (see the module's docstring): the clock and the limit's shares, the best plan and
    the bounds so far, the forks beside it. Each stage is a method that reads and updates this state."""

    def __init__(self, spec: TerritorySpec, engine, options: SolverOptions, progress, stage, near: list[Plan]):
        self.spec, self.engine, self.options, self.near = spec, engine, options, near
        self.say = stage or (lambda _: None)
        self.stages: dict[str, float] = {}
        self.t0 = time.perf_counter()
        self.limit = options.time_limit or 600.0
        self.cost = spec.cost()
        self.live = Live(progress, self.t0)  # incumbent and bound for the display, from every stage
        self.aside: BoundAside | None = None  # a bound computed in a fork beside the search (threads >= 2)
        self.best: Plan | None = None
        self.fallback: Plan | None = None
        self.runner_up: Plan | None = None  # the local-search plan, when the CP-SAT assignment found a better one
        self.allowed: np.ndarray | None = None
        self.lag: LagrangianBound | None = None
        self.possible: np.ndarray | None = None
        self.relaxation: Relaxation | None = None
        self.transport: float | None = None  # the transportation LP at fixed centres, when computed
        self.lazy_fixing: Fixing | None = None  # fixed centres without a stored matrix: pairs the exact model keeps
        self.first_seen: float | None = None
        self.along: Plan | None = None  # the last plan heard()
        self.lazy = isinstance(spec.geography.distance, LazyPairs)  # no n x n arrays, so no full models
        # fixed centres without a matrix: an LP bound, then regions
        self.fixed_lp_bound = self.lazy and coarsenable(spec) and bool(spec.balance)
        self.lp_seconds = FIXED_LP_SECONDS_PER_PAIR * spec.geography.n * spec.count  # (when fixed_lp_bound)
        # Fixed centres need no plan to assign to: CP-SAT goes first (bundled redesigns: plans 0.6-3.1% cheaper,
        # the 12-rep option's first plan at 3 s instead of 34 s, where local search rarely met two balance rules)
        self.transport_start = (spec.centres is not None and bool(spec.balance)
                                and spec.geography.n >= TRANSPORT_START_UNITS)
        # Under a narrow band CP-SAT's assignment (from a ±5% plan's centres) follows and does not start from local
        # search's plan, which ends far above it there (see NARROW_FIRST_SHARE)
        self.narrow = tight_band(spec) and usable(spec)
        self.heuristic_only = False
        self.pairs_when_decided = 0
        self.lns_budget = 0.0
        self.sub_options = replace(options, rel_gap=1e-6, log_path=None, threads=1)  # small: no second process
        self.solver = Worker(self._solve_request)

    # --- the clock -----------------------------------------------------------------------------------------------
    def clock(self, name: str, since: float) -> None:
        self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - since

    def remaining(self) -> float:
        return self.limit - (time.perf_counter() - self.t0)

    def within(self, share: float) -> float:
        """A stage's seconds: its share of the limit, but never past the limit (short limits on a slow machine:
        Georgia at 10 territories with 5.4 s took 9.3 s when each stage took its share whatever was left)."""
        return max(0.0, min(share * self.limit, self.remaining()))

    # --- plans and bounds as they come ---------------------------------------------------------------------------
    def report_plan(self, plan: Plan) -> None:
        self.live.plan(plan.objective(self.cost))
        if self.aside is not None and self.aside.latest() is not None:
            self.live.lower(self.aside.bound)

    def take_aside(self, wait: float) -> None:
        """End the bound's fork, after waiting up to `wait` seconds for it to finish (an LP still running), and keep
        its bound (the largest it sent) if it beats the one in hand."""
        if self.aside is None:
            return
        found, self.aside = self.aside.finish(self.spec.geography.n, wait), None
        if found is not None:
            self.stages[ASIDE_STAGE] = found.seconds  # when its best bound came (overlapping the others: not summed)
        if found is not None and (self.lag is None or found.bound > self.lag.bound):
            self.lag = found
            self.live.lower(found.bound)

    def heard(self, plan: Plan) -> None:
        """A plan CP-SAT found along the way: shown at once if valid and better, and the first plan's time
        is when the first of them came."""
        value = plan.objective(self.cost)
        if (self.live.incumbent is None or value < self.live.incumbent) and is_valid(self.spec, plan):
            self.seen_now()
            self.along = plan  # kept if Ctrl-C stops the stage before it returns
            self.report_plan(plan)

    def seen_now(self) -> None:
        """The first valid plan exists from now on (if none did before)."""
        if self.first_seen is None:
            self.first_seen = time.perf_counter() - self.t0

    def cheaper(self, plan: Plan | None) -> bool:
        """`plan` exists and costs less than the best plan so far (or there is none)."""
        if plan is None:
            return False
        return self.best is None or plan.objective(self.cost) < self.best.objective(self.cost) - 1e-9

    # --- exact sub-problems --------------------------------------------------------------------------------------
    # They are solved in a fork that is ended if one is not back EXACT_GRACE seconds past its limit: HiGHS 1.16's MIP
    # presolve hung (HPresolve::strengthenInequalities) in one on the counties, 13 minutes into a 10-minute run.
    def _solve_request(self, request, rel_gap: float | None = None) -> Plan | None:
        sub, warm, seconds, sub_allowed = request
        rel_gap = self.sub_options.rel_gap if rel_gap is None else rel_gap
        return solve_exact(sub, self.engine, replace(self.sub_options, time_limit=seconds, rel_gap=rel_gap), warm,
                           allowed=sub_allowed)[0]

    def _request(self, sub: TerritorySpec, warm: Plan, seconds: float, units: np.ndarray) -> tuple:
        """A sub-problem (a few territories' units) with the pairs fixing left among its units."""
        return sub, warm, seconds, (self.allowed[np.ix_(units, units)] if self.allowed is not None else None)

    def exact(self, sub: TerritorySpec, warm: Plan, seconds: float, units: np.ndarray) -> Plan | None:
        """Solve a sub-problem exactly (None if the solver found nothing or hung; Ctrl-C raises
        KeyboardInterrupt)."""
        return self.solver.call(self._request(sub, warm, seconds, units), seconds + EXACT_GRACE, interrupt.requested)

    def start_exact(self, sub: TerritorySpec, warm: Plan, seconds: float, units: np.ndarray) -> Pending:
        """The same in a fork of its own (several at once on several cores), ended if it hangs."""
        asked = self._request(sub, warm, seconds, units)
        return Pending.start(lambda: self._solve_request(asked, PAIR_GAP), seconds + EXACT_GRACE)

    # --- the run -------------------------------------------------------------------------------------------------
    def run(self, start: Plan | None) -> SearchOutcome:
        interrupted = False
        try:
            self.prepare()
            self.first_plans(start)
            self.fix_against_first()
            self.choose_path()
            self.fixed_centre_windows()
            self.location_allocation()
            if self.fixed_lp_bound and self.best is not None:
                self.fixed_centres_without_matrix()
            elif self.lazy:  # the rest goes to the bound: sub-problems without fixing rarely finish
                # (LAZY_NEIGHBOURHOOD)
                self.lns_budget = (self.lns_budget if self.aside is not None
                                   else min(self.lns_budget, LAZY_NEIGHBOURHOOD * self.remaining()))
                if self.best is not None and uses_tree_partition(self.spec):
                    t = time.perf_counter()
                    self.best = self.by_regions(self.best, self.lns_budget, self.options.seed)
                    self.lns_budget -= time.perf_counter() - t
            # On the large path without a distance matrix the regions take the neighbourhood search's place
            # (zips-6x5x6 at 600 s: 103 s of it after the regions, and the bound 1.02e12 against 1.07e12 without).
            if self.fallback is not None:
                self.near.append(self.fallback)
            if ((self.best or self.fallback) is not None and self.spec.count > 1
                    and not (self.lazy and (uses_tree_partition(self.spec) or self.lag))):
                self.neighbourhood()
            self.lp_dual_bound()
            self.last_seconds()
        except (KeyboardInterrupt, SearchInterrupted) as stop:  # Ctrl-C: keep the best plan so far, skip the rest
            interrupted = True
            self.take_aside(wait=0.0)
            for found in (getattr(stop, "plan", None), self.along):
                if found is not None and is_valid(self.spec, found) and (
                        self.best is None or found.objective(self.cost) < self.best.objective(self.cost)):
                    self.best = found
            self.say("interrupted: writing the best plan found so far")
        self.take_aside(wait=0.0)  # (no plan to improve: the fork may still be running)
        if interrupted:
            return self.outcome_without_exact(Termination.INTERRUPTED)
        if self.heuristic_only:
            return self.heuristic_outcome()
        return self.exact_outcome()

    def prepare(self) -> None:
        """Compiled kernels, the pairs no territory can hold, and on small instances the LP relaxation."""
        spec = self.spec
        t = time.perf_counter()
        if not compiled(sparse=self.lazy):
            self.say("compiling the bound's loops (once after an install, 10-25 s)")
        compile_kernels(sparse=self.lazy)  # here, not inside the first stage, whose budget it would use up
        self.clock("kernels", t)
        t = time.perf_counter()
        self.possible = path_fixing(spec)  # pairs no connected, balanced territory can hold are gone for good
        self.allowed = self.possible
        self.clock("bound", t)
        if spec.geography.n ** 2 <= LP_FIXING_MAX_PAIRS and not self.lazy:
            self.say("LP relaxation")
            t = time.perf_counter()
            self.relaxation = solve_relaxation(spec, self.engine, replace(self.options, time_limit=self.within(0.2)))
            self.clock("relaxation", t)
            if self.relaxation is not None:
                self.live.lower(self.relaxation.value)

    def first_plans(self, start: Plan | None) -> None:
        """The first plan, by the path the instance takes (fixed centres from the transportation LP, CP-SAT's
        assignment, spanning-tree partitions or local search), then CP-SAT from it; the caller's `start` if cheaper."""
        spec, options, say = self.spec, self.options, self.say
        if self.transport_start:
            self.transport_first()
        assign_first = (usable(spec) and spec.centres is not None and not uses_tree_partition(spec)
                        and not self.transport_start)
        if assign_first:
            say("first plan: CP-SAT assigns the units to the fixed centres, territories connected by rule")
            t = time.perf_counter()
            self.best = assignment_plan(spec, self.engine, options, self.within(0.2), None, on_plan=self.heard)
            self.clock("assignment", t)
        if self.best is None and not self.transport_start:
            t = time.perf_counter()
            if uses_tree_partition(spec):
                say("first plan: balanced spanning-tree partitions, then local search")
                self.best = tree_first_plan(spec, options, 0.2 * self.limit, self.engine, allocate_each=not self.lazy,
                                            on_plan=self.report_plan)
                if self.best is None:  # without a plan nothing else can run: more trees (new seeds) while time lasts
                    more = FIRST_PLAN_SHARE * self.limit - (time.perf_counter() - self.t0)
                    say(f"first plan: none yet; more spanning-tree partitions for up to {more:.0f} s")
                    self.best = tree_first_plan(spec, replace(options, seed=options.seed + RETRY_SEED), more,
                                                self.engine, allocate_each=not self.lazy, on_plan=self.report_plan)
            else:
                say("first plan: local search from several starts")
                first_share = NARROW_FIRST_SHARE if self.narrow else 0.2
                self.best, self.fallback = first_plan(spec, self.relaxation, options, first_share * self.limit)
            self.clock("first_plan", t)
        if start is not None and is_valid(spec, start) and (
                self.best is None or start.objective(self.cost) < self.best.objective(self.cost)):
            self.best = start
        if self.best is not None:
            self.seen_now()
            self.report_plan(self.best)
        # (not after the transportation start: on the US counties CP-SAT found nothing from its plan in 26 s)
        if (not assign_first and not self.transport_start and usable(spec) and not uses_tree_partition(spec)
                and (self.best is not None or tight_band(spec))):
            source = f"a ±{100 * LOOSE_BAND:g}% plan" if tight_band(spec) else "the first plan"
            say(f"assignment: CP-SAT assigns the units to the centres of {source}, re-centring while it gains")
            t = time.perf_counter()
            star = assignment_plan(spec, self.engine, options, self.within(0.2), self.best, on_plan=self.heard)
            self.clock("assignment", t)
            if self.cheaper(star):
                self.runner_up, self.best = (None if self.narrow else self.best), star
                self.seen_now()
                self.report_plan(self.best)
        if self.best is None and not uses_tree_partition(spec) and not self.transport_start:
            # No plan from the first stages (a short limit: North Carolina's two rules at 10 s ended with none, its
            # first plan needing about 2 s where its share was 1.6 s): further starts while there is time, since
            # the later stages need a plan to improve and the exact model rarely finds one in time
            more = (FIRST_PLAN_SHARE * self.limit - (time.perf_counter() - self.t0)) / 2  # its chains may take twice
            if more > 0:
                say(f"first plan: none yet; local search from further starts for up to {2 * more:.0f} s")
                t = time.perf_counter()
                self.best, other = first_plan(spec, None, replace(options, seed=options.seed + RETRY_SEED), more,
                                              seeded_only=True)
                self.fallback = self.fallback or other
                self.clock("first_plan", t)
                if self.best is not None:
                    self.first_seen = time.perf_counter() - self.t0
                    self.report_plan(self.best)

    def transport_first(self) -> None:
        """Fixed centres from TRANSPORT_START_UNITS units: the balanced transportation LP to them, repaired (on
        groups of units first when there is no distance matrix, with the bound in a fork beside it on two cores)."""
        spec, options, say = self.spec, self.options, self.say
        say("first plan: balanced transportation LP to the fixed centres, then local search, windows for the "
            "territories out of band and, where needed, ejection chains")
        t = time.perf_counter()
        if self.fixed_lp_bound:
            say("first plan: the same on groups of neighbouring units, then windows of territories re-assigned "
                "at fixed centres; the plan lifted back to the units and polished by local search")
            # the bound's time kept: the LP's if it fits in half the limit, else a share for the ascent; with a
            # second core the bound runs beside the search from now on (model.bound_aside) and keeps none
            if options.threads >= 2:
                self.aside = BoundAside.start(fixed_centre_body(spec, self.engine, self.remaining() - FIXED_BOUND_SPARE,
                                                                self.lp_seconds, FIXED_LP_FITS))
            reserve = self.lp_seconds + FIXED_REGIONS_SPARE
            reserve = (FIXED_REGIONS_SPARE if self.aside is not None else
                       reserve if 2 * reserve <= self.limit else FIXED_ASCENT_SHARE * self.limit)
            self.best, self.fallback = coarse_first_plan(spec, self.engine, options, self.within(0.3),
                                                         self.within(GROUP_WINDOW_SHARE), on_plan=self.heard,
                                                         end=self.t0 + self.limit - reserve)
            if self.best is None:  # (groups can wall a crowded centre in where single units leave it a lane)
                say("first plan: none on the groups; the transportation LP on the units themselves")
                self.best, unit_fallback = transport_first_plan(spec, self.engine, options, self.within(0.3),
                                                                on_plan=self.heard)
                self.fallback = unit_fallback or self.fallback
        else:
            self.best, self.fallback = transport_first_plan(spec, self.engine, options, self.within(0.3),
                                                            on_plan=self.heard)
            self.clock("first_plan", t)
            # A bound whether or not a plan was found (0.3 s on the US counties at 20 centres); without it a run
            # with no plan reported only the exact model's bound after a few seconds (3.2e11 against 6.3e13).
            # With a distance matrix only: on a map without one (33,000 ZIP cells x 200 centres) this LP takes
            # 80-96 s, more than its share; the groups' path above has its own time for it.
            if not self.lazy:
                say("bound: " + TRANSPORT_BOUND_WORDS)
                t = time.perf_counter()
                self.transport = fixed_centre_bound(spec, self.engine, self.within(TRANSPORT_BOUND_SHARE))
                self.clock("bound", t)
                if self.transport is not None:
                    self.live.lower(self.transport)
            t = time.perf_counter()
        if self.best is None:  # (with a plan the windows below gain far more than a second start)
            say("first plan: none yet; local search from the nearest centres")
            self.best, other_fallback = first_plan(spec, None, options, self.within(0.2))
            self.fallback = self.fallback if self.fallback is not None else other_fallback
        self.clock("first_plan", t)

    def fix_against_first(self) -> None:
        """With a stored matrix: the Lagrangian bound, and the pairs no plan better than the first can use dropped."""
        if self.best is None or self.lazy:  # (lazy: no fixing; the bound gets the time left at the end)
            return
        self.say(f"bound: Lagrangian relaxation and variable fixing against {self.best.objective(self.cost):,.6g}")
        t = time.perf_counter()
        with_lp = self.relaxation is not None
        seconds = self.within(BOUND_SHARE if with_lp else BOUND_SHARE_WITHOUT_LP)
        self.allowed, self.lag = fix_pairs(self.spec, self.relaxation, self.best, None, seconds,
                                           iterations=400 if with_lp else 1_000_000, on_bound=self.live.lower,
                                           possible=self.possible)
        self.clock("bound", t)

    def choose_path(self) -> None:
        """Whether the exact model will run, and the neighbourhood search's time. Without the exact model (nesting,
        or too many pairs for it) the rest of the time goes to the neighbourhood search and then to the
        Lagrangian bound, beside the search when there is a second core."""
        self.pairs_when_decided = _pairs(self.spec, self.allowed)
        self.heuristic_only = bool(self.spec.levels) or self.lazy or self.pairs_when_decided > EXACT_MAX_PAIRS
        self.lns_budget = 0.6 * max(0.0, self.remaining()) if self.heuristic_only else self.within(0.25)
        if (self.heuristic_only and self.options.threads >= 2 and self.best is not None and self.aside is None
                and not self.fixed_lp_bound):
            # The bound would take the last 40% of the time (it does not need the final plan): beside the search
            self.aside = BoundAside.start(_free_bound_body(self.spec, self.relaxation, self.best, self.lag,
                                                           self.possible, self.remaining() - ASIDE_SPARE))
            if self.aside is not None:
                self.say("bound: Lagrangian relaxation in a second process beside the search, until the end")
                self.lns_budget = max(0.0, self.remaining() - ASIDE_SPARE)

    def fixed_centre_windows(self) -> None:
        """Fixed centres with a stored matrix: each territory and its neighbours re-assigned by a 0-1 program."""
        spec = self.spec
        if not (self.best is not None and self.transport_start and usable(spec) and not spec.limits and not self.lazy):
            return
        self.say("windows: each territory and its neighbours re-assigned at once by a 0-1 program, centres fixed, "
                 "territories connected by rule")
        t = time.perf_counter()
        self.best = improve_windows(spec, self.engine, self.best, None, t + self.within(FIXED_WINDOW_SHARE),
                                    on_plan=self.report_plan, workers=self.options.threads)
        self.clock("windows", t)

    def location_allocation(self) -> None:
        """Free centres on the large path: location-allocation, centres moved on the LP, windows, centre swaps."""
        spec, engine, options, say = self.spec, self.engine, self.options, self.say
        if self.best is None or not uses_tree_partition(spec):
            return
        # Centres moved on the LP (model.allocation.relocate) only with a distance matrix. On the 32,984
        # ZIP cells (200 territories) the LP fell from 3.6% to 10.3% below the plan in 24 LPs (56 s), but
        # rounding split heavy cells (a city's population sits in one cell) left the territories far out
        # of band, and the repaired plan cost 11.8% more than the plan: 209 s spent for nothing.
        relocating = not self.lazy
        say("location-allocation: balanced transportation LP to the centres, repair, re-centre" +
            ("; then centres moved on the LP alone, then one LP step at a time" if relocating else ""))
        t = time.perf_counter()
        budget = self.lns_budget
        zone = np.asarray(self.best.groups[-1]) if spec.levels else None
        if spec.levels:  # allocate without the nesting, then group the territories again
            flat = allocate(replace(spec, levels=()), engine, replace(self.best, groups=()), None, t + 0.6 * budget)
            if relocating:
                flat = relocate(replace(spec, levels=()), engine, flat, None, t + 0.6 * budget, options.seed)
            regrouped = nest(spec, flat, options.seed, t + 0.7 * budget)
            if self.cheaper(regrouped):
                self.best, zone = regrouped, np.asarray(regrouped.groups[-1])
                self.report_plan(self.best)
        self.best = allocate(spec, engine, self.best, zone, t + 0.7 * budget, on_plan=self.report_plan)
        if relocating:
            self.best = relocate(spec, engine, self.best, zone, t + 0.7 * budget, options.seed,
                                 on_plan=self.report_plan)
            self.best = drift(spec, engine, self.best, zone, t + 0.7 * budget, on_plan=self.report_plan)
        self.clock("allocation", t)
        self.lns_budget -= time.perf_counter() - t
        if relocating and usable(spec):
            say("windows: each territory and its neighbours re-assigned at once by a 0-1 program, centres "
                "kept, territories connected by rule; then centres moved to their medoids")
            t = time.perf_counter()
            self.best = improve_windows(spec, engine, self.best, None, t + WINDOW_SHARE * self.lns_budget,
                                        on_plan=self.report_plan, workers=options.threads)
            self.clock("windows", t)
            self.lns_budget -= time.perf_counter() - t
            if not spec.levels and self.lns_budget > 0:
                say("centres swapped on the transportation LP, the territories re-solved at the swapped centres as "
                    "for fixed centres; the better plan kept")
                t = time.perf_counter()
                self.best = swapped_centres(spec, engine, options, self.best, t + SWAP_SHARE * self.lns_budget,
                                            self.report_plan)
                self.clock("centre_swaps", t)
                self.lns_budget -= time.perf_counter() - t

    def by_regions(self, plan: Plan, seconds: float, seed: int) -> Plan:
        """Regions re-solved with their own distance matrix, then national drift steps (no matrix)."""
        spec, engine, options, say = self.spec, self.engine, self.options, self.say
        zone = np.asarray(plan.groups[-1]) if spec.levels else None
        t = time.perf_counter()

        def fresh(region: TerritorySpec, deadline: float) -> Plan | None:
            return tree_first_plan(region, options, max(0.0, deadline - time.perf_counter()), engine)

        if spec.levels:  # a district keeps its units; inside it the territories are free (-2.0% on mixed-6x5x6)
            say("districts re-solved one by one with their own distance matrix: centres moved on the LP, "
                "and each district planned afresh; the better kept")
            plan = improve_districts(spec, engine, plan, t + REGION_SHARE * seconds, seed, on_plan=self.report_plan,
                                     fresh=fresh, workers=options.threads)
        say(f"regions of at most {REGION_UNITS:,} units re-solved with their own distance matrix: "
            "centres moved on the LP" + (" inside their districts" if spec.levels else
                                         ", and each region planned afresh; the better kept"))
        plan = improve_regions(spec, engine, plan, zone, t + REGION_SHARE * seconds, seed,
                               on_plan=self.report_plan, fresh=fresh, workers=options.threads)
        self.clock("regions", t)
        say("centres moved one LP step at a time, location-allocation after each")
        now = time.perf_counter()
        plan = drift(spec, engine, plan, zone, t + seconds, on_plan=self.report_plan)
        self.clock("allocation", now)
        return plan

    def fixed_centres_without_matrix(self) -> None:
        """Fixed centres, no stored matrix: the transportation LP as bound (or the ascent when it does not fit), the
        regions' windows, path fixing for the exact model at the end where it fits, then the ranked pair search."""
        spec, engine, options, say = self.spec, self.engine, self.options, self.say
        t = time.perf_counter()
        value = None
        if self.aside is not None:
            say("bound: the transportation LP over every unit and fixed centre (contiguity and integrality "
                "dropped), in a second process beside the search")
        elif self.remaining() - FIXED_REGIONS_SPARE >= FIXED_LP_FITS * self.lp_seconds:
            say("bound: the transportation LP over every unit and fixed centre (contiguity and integrality "
                "dropped)")
            value = fixed_centre_bound(spec, engine, self.remaining() - FIXED_REGIONS_SPARE)
        if value is None and self.aside is None:  # too little time for the LP (or it ran out): the ascent, valid always
            say("bound: Lagrangian relaxation at the fixed centres for the time left")
            self.lag = sparse_lagrangian_bound(spec, iterations=1_000_000,
                                               time_limit=self.remaining() - FIXED_BOUND_SPARE,
                                               on_bound=self.live.lower)
        self.clock("bound", t)
        if value is None and self.aside is None:
            return
        if value is not None:
            self.lag = LagrangianBound(value, np.zeros(spec.geography.n), 0, time.perf_counter() - t)
            self.live.lower(value)
        end = self.t0 + self.limit - FIXED_REGIONS_SPARE
        # the exact model's share at the end, where its pair mask fits (kept only if fixing leaves it few pairs)
        exact_may_fit = spec.geography.n <= LAZY_EXACT_MAX_UNITS and not spec.levels
        exact_from = end - LAZY_EXACT_SHARE * self.limit if exact_may_fit else end
        try:  # the windows first; the pair search last, for the flaws they leave (the largest excess first)
            pairs_from = exact_from - FIXED_PAIRS_SHARE * (exact_from - time.perf_counter())
            say(f"regions of at most {REGION_UNITS:,} units: windows of territories re-assigned at fixed centres")
            t = time.perf_counter()
            idle, turn = 0, 0
            while time.perf_counter() < pairs_from - 1.0 and idle < 2:  # the centres stay, so the cuts turn
                before = self.best.objective(self.cost)
                self.best = improve_regions(spec, engine, self.best, None, pairs_from, options.seed,
                                            on_plan=self.report_plan, angle=REGION_TURN * turn,
                                            workers=options.threads)
                idle = idle + 1 if self.best.objective(self.cost) > before * (1 - MIN_REGION_GAIN) else 0
                turn += 1
            self.clock("regions", t)
            if exact_may_fit:
                say("bound: the transportation LP's reduced costs, summed along the lightest path from each "
                    "centre, fix the pairs no cheaper plan can use")
                t = time.perf_counter()
                self.lazy_fixing = fixed_centre_fixing(spec, engine, self.best.objective(self.cost), exact_from - t)
                self.clock("bound", t)
                if self.lazy_fixing is None or self.lazy_fixing.kept > EXACT_MAX_PAIRS:
                    self.lazy_fixing, exact_from = None, end  # the exact model's time goes back to the pairs
                else:
                    self.transport = self.lazy_fixing.lp_bound
                    self.live.lower(self.transport)
            say("neighbourhood search: pairs, then triples, of adjacent territories re-solved exactly "
                "(contiguity by cuts), those furthest above their own transportation LP first")
            t = time.perf_counter()
            self.best = improve_pairs(spec, self.best, self.exact, exact_from - t, on_plan=self.report_plan,
                                      excess=lambda sub, plan: excess_over_lp(sub, plan, engine),
                                      start_exact=self.start_exact, workers=options.threads,
                                      seconds_each=pair_seconds, on_size=lambda size: say(
                                          f"neighbourhood search: groups of {size} territories"))
            self.clock("neighbourhood", t)
        finally:
            self.solver.close()
        self.take_aside(wait=self.remaining() - FIXED_BOUND_SPARE if self.lazy_fixing is None else 0.0)
        if self.lazy_fixing is not None:  # the exact model on the pairs left, for the time left (below)
            self.allowed, self.heuristic_only = self.lazy_fixing.allowed, False
            if self.lag is None or self.lag.bound < self.lazy_fixing.lp_bound:  # (as the fork's LP would have been:
                # the free-centre neighbourhood search below stays skipped on this path, its worker being closed)
                self.lag = LagrangianBound(self.lazy_fixing.lp_bound, np.zeros(spec.geography.n), 0, 0.0)
            self.allowed[np.arange(spec.geography.n), list(self.best.centre_of)] = True  # (the pairs may have moved it)

    def neighbourhood(self) -> None:
        """Pairs of adjacent territories re-solved exactly, from one or two origins (model.two_origins); a better
        plan refixes the pairs for the exact model."""
        spec, engine, options, say = self.spec, self.engine, self.options, self.say
        say("neighbourhood search: re-solving pairs of adjacent territories")
        t = time.perf_counter()
        origin = self.best or self.fallback
        zone = np.asarray(origin.groups[-1]) if spec.levels else None

        def improving(plan: Plan) -> None:
            plan = replace(plan, groups=origin.groups)
            if is_valid(spec, plan):
                self.report_plan(plan)

        def improve(start: Plan, seconds: float, on_plan) -> Plan:
            return improve_pairs(spec, start, self.exact, seconds, zone=zone, on_plan=on_plan)

        def second_start(deadline: float) -> Plan | None:
            """Another seed's plan, assigned by CP-SAT: one more origin (model.two_origins)."""
            other = replace(options, seed=options.seed + SECOND_SEED)
            seconds = min(0.2 * self.limit, SECOND_START_SHARE * (deadline - time.perf_counter()))
            if tight_band(spec):
                return assignment_plan(spec, engine, other, seconds, None, seeded_only=True)
            plan, _ = first_plan(spec, None, other, seconds / 3, seeded_only=True)
            star = star_descent(spec, engine, plan, time.perf_counter() + seconds, other.seed) if plan else None
            return star if star is not None and star.objective(self.cost) < plan.objective(self.cost) else plan

        two = options.threads >= 2 and not self.lazy and not uses_tree_partition(spec)
        known = max((b for b in (self.relaxation.value if self.relaxation else None,
                                 self.lag.bound if self.lag else None) if b is not None), default=None)
        # In one process a second start costs the exact phase its time: only under a tight band whose bound
        # is far below the plan, where that phase does not prove it anyway (SECOND_START_GAP).
        far = (tight_band(spec) and known is not None
               and known < (1 - SECOND_START_GAP) * origin.objective(self.cost))
        # From the local-search plan too when CP-SAT's beat it: they end in different local optima.
        origins = [origin] + ([self.runner_up] if self.runner_up is not None else [])
        # Two processes with two origins keep the stage at half its time: drawing a third start there (both origins
        # here, the start in the fork) cost GA k = 8 ±0.5% 7 s of exact phase and 1 point of gap (3.3% to 4.3%).
        draw = usable(spec) and ((two and len(origins) == 1) or (far and not two))
        if two and (draw or len(origins) > 1):
            say("neighbourhood search: " + ("a second start (another seed's plan)" if draw else "the second origin")
                + " at the same time, in a second process")
        elif draw:
            say(f"neighbourhood search: then from a second start (another seed's plan), the bound being more than "
                f"{SECOND_START_GAP:.0%} below the plan")
        try:
            ends = improve_origins(origins, improve, self.lns_budget, improving, parallel=two,
                                   second_start=second_start if draw else None)
        finally:
            self.solver.close()
        ends = [replace(plan, groups=origin.groups) for plan in ends]
        improved = min(ends, key=lambda plan: (not is_valid(spec, plan), plan.objective(self.cost)))
        self.near += [plan for plan in ends if not is_valid(spec, plan)]
        self.clock("neighbourhood", t)
        if is_valid(spec, improved) and self.cheaper(improved):
            self.seen_now()
            self.best = improved
            self.report_plan(self.best)  # (a second process's plan has not been shown yet)
            if not self.heuristic_only:
                t = time.perf_counter()
                self.allowed, self.lag = fix_pairs(spec, self.relaxation, self.best,
                                                   self.lag.multipliers if self.lag else None, self.within(BOUND_SHARE),
                                                   on_bound=self.live.lower, possible=self.possible)
                self.clock("bound", t)

    def lp_dual_bound(self) -> None:
        """Free centres, many pairs left: the LP relaxation by a first-order method, the Lagrangian at its duals."""
        spec = self.spec
        if not (not self.heuristic_only and self.best is not None and self.lag is not None and self.relaxation is None
                and spec.centres is None and _pairs(spec, self.allowed) > PROOF_PAIRS_MIN
                and self.remaining() > LP_DUAL_SHARE * self.limit + MIN_EXACT_SECONDS):
            return
        self.say("bound: LP relaxation on the pairs left, by a first-order method; the Lagrangian at its duals")
        t = time.perf_counter()
        at_lp = lp_dual_bound(spec, self.engine, self.best.objective(self.cost), self.allowed,
                              LP_DUAL_SHARE * self.limit, on_bound=self.live.lower)
        self.clock("bound", t)
        if at_lp is not None and at_lp.bound > self.lag.bound:
            self.lag, self.allowed = at_lp, at_lp.allowed
            self.allowed[np.arange(spec.geography.n), list(self.best.centre_of)] = True

    def last_seconds(self) -> None:
        """Without the exact model: the time left goes to the plan (the bound ran beside it) or to the bound."""
        left = self.remaining()
        spec, options = self.spec, self.options
        if self.aside is not None and self.best is not None:  # the bound ran beside the search: the rest is the plan's
            if self.lazy and uses_tree_partition(spec) and left > SPARE_REGIONS * self.limit:
                self.best = self.by_regions(self.best, left - ASIDE_SPARE, options.seed + 1)
            self.take_aside(wait=self.remaining() - ASIDE_SPARE)
        elif self.heuristic_only and self.best is not None and left > 1.0 and not (self.lazy and self.lag is not None):
            self.say(f"bound: Lagrangian relaxation for the remaining {left:.0f} s")
            t = time.perf_counter()
            # No fixing: nothing uses it after this stage (it overran the limit by 3-8 s at 4,619 units).
            _, self.lag = fix_pairs(spec, self.relaxation, self.best, self.lag.multipliers if self.lag else None,
                                    left - 0.5, iterations=1_000_000, on_bound=self.live.lower,
                                    possible=self.possible, fixing=False)
            self.clock("bound", t)
            left = self.remaining()
            if self.lazy and uses_tree_partition(spec) and left > SPARE_REGIONS * self.limit:
                # The bound levelled off early (its steps shrank to nothing; it does not depend on the
                # plan): the time left improves the plan. Measured in "Mixed geography" (benchmarks README).
                self.best = self.by_regions(self.best, left - 0.5, options.seed + 1)

    # --- the outcome ---------------------------------------------------------------------------------------------
    def outcome_without_exact(self, termination: Termination, method: str = "heuristic",
                              rel_gap: float | None = None) -> SearchOutcome:
        value = self.best.objective(self.cost) if self.best is not None else None
        return _interrupted_outcome(self.spec, self.best, self.lag, self.relaxation, value, self.stages, self.allowed,
                                    self.first_seen, termination, method, rel_gap=rel_gap, transport=self.transport)

    def heuristic_outcome(self) -> SearchOutcome:
        """No exact model: say which bound stands and why."""
        spec, lag = self.spec, self.lag
        if self.lazy and lag is not None and lag.iterations == 0:
            method = ("LP relaxation at the fixed centres (the transportation LP over every unit and centre, balance "
                      "bounds kept, contiguity and integrality dropped; HiGHS): "
                      f"{spec.geography.n:,} units have no stored distance matrix")
        elif self.lazy and spec.centres is not None:
            method = ("Lagrangian bound with distances computed on demand (assignment rows relaxed; per fixed centre a "
                      "continuous knapsack between its capacities over every unit): "
                      f"{spec.geography.n:,} units have no stored distance matrix")
        elif self.lazy:
            method = ("Lagrangian bound with distances computed on demand (assignment rows relaxed; per centre a "
                      "continuous knapsack between its capacities over each unit's nearest units, found once by "
                      "KD-tree; under the capped multipliers every pair left out costs more than the price at which "
                      "the knapsack may fill its lower capacity instead): "
                      f"{spec.geography.n:,} units have no stored distance matrix")
        else:
            method = ("Lagrangian bound (assignment rows relaxed, a continuous knapsack per centre)" +
                      ("" if spec.levels else f": the exact model would have had {self.pairs_when_decided:,} "
                       f"assignment pairs after fixing against the first plan, more than {EXACT_MAX_PAIRS:,}"))
        if spec.levels:  # the exact model has no nesting; its bound would be for fixed groups, not valid
            method += "; for the territories without the nesting, valid because dropping it only allows more plans"
        self.say("exact model skipped: " + method.split(": ", 1)[-1])
        return self.outcome_without_exact(Termination.TIME_LIMIT, method, rel_gap=self.options.rel_gap)

    def exact_outcome(self) -> SearchOutcome:
        """The exact model on the pairs left, warm-started from the best plan, for the time left; its bound folded
        with the bounds in hand."""
        spec, options, best = self.spec, self.options, self.best
        left = self.remaining()
        # the stages spent the limit, or left too little to build the model and presolve it: keep the plan
        build = 2 * EXACT_BUILD_SECONDS_PER_PAIR * _pairs(spec, self.allowed)
        if best is not None and left < MIN_EXACT_SECONDS + build:
            self.say("exact model skipped: the time limit is spent; the search's plan is kept with its bound")
            return self.outcome_without_exact(Termination.TIME_LIMIT, rel_gap=options.rel_gap)
        left = max(left, MIN_EXACT_SECONDS)  # without a plan the exact model is the last chance to find one
        self.say("solve")
        t = time.perf_counter()

        def watch(p: Progress) -> None:
            if p.incumbent is not None:
                self.seen_now()
            self.live.solver(p)

        # With the search's plan as warm start, a large model's time goes to the bound (PROOF_PAIRS_MIN).
        proving = best is not None and _pairs(spec, self.allowed) > PROOF_PAIRS_MIN
        # One process there: on 1,000 cells a second (solvers.portfolio) gave the same gap (0.972% against 0.973%)
        # and ended the 600 s run at 640.6 s, its interior-point root and the first's fighting for the machine.
        final_options = replace(options, time_limit=left, improvement_heuristics=not proving, interior_root=proving,
                                threads=1 if proving else options.threads)
        plan, result, built = solve_exact(spec, self.engine, final_options, best, watch, self.allowed)
        if plan is not None:
            self.seen_now()  # found by the solver in its last moments
        self.stages["build"] = built
        self.clock("solve", t)
        self.stages["solve"] -= built
        plan = plan if plan is not None else best
        if plan is not None:
            objective = plan.objective(self.cost)
            bound = result.bound if result.bound is not None else -np.inf
            if self.allowed is not None:
                bound = min(bound, objective)  # the reduced model holds every plan better than `best`
            known = _best_bound(None, self.lag, self.relaxation, self.transport)
            if known is not None:
                bound = max(bound, min(known, objective))
            bound = None if not np.isfinite(bound) else float(bound)
            termination = result.termination
            if termination in (Termination.INFEASIBLE, Termination.ERROR) or not result.has_solution:
                if termination in (Termination.INFEASIBLE, Termination.ERROR):  # e.g. numerical trouble in HiGHS
                    self.say(f"the solver stopped short of a proof ({result.solver_status or termination.value}); "
                             "the best checked plan is kept with its bound")
                termination = Termination.TIME_LIMIT if termination is not Termination.INTERRUPTED else termination
            gap = relative_gap(objective, bound)
            result = replace(result, has_solution=True, objective=objective, bound=bound, gap=gap,
                             termination=final_termination(termination, gap, options.rel_gap))
        else:  # no plan: still the best bound in hand (what any plan would cost at least)
            result = replace(result, bound=_best_bound(result.bound, self.lag, self.relaxation, self.transport))
        kept = None
        if self.allowed is not None:
            kept = (int(self.allowed.sum()),
                    spec.geography.n * (spec.count if spec.centres is not None else spec.geography.n))
        return SearchOutcome(plan, result, self.best.objective(self.cost) if self.best is not None else None,
                             self.stages, fixing_kept=kept, first_plan_seconds=self.first_seen,
                             bound_method=BOUND_METHOD + (f"; with (d) {TRANSPORT_BOUND_WORDS}"
                                                          if self.transport is not None else ""))
