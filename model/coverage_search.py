"""Solve the coverage plan to a proven gap at 100,000 customers: prune dominated options, price every
hour of rep and tele time by Lagrangian multipliers (the LP's dual prices), build a feasible plan
from them, fix every option that cannot beat that plan, and solve what is left exactly with HiGHS.

Every option uses one resource, so with prices `lam` each customer picks its best option alone and
    profit(any plan) <= D(lam) = sum_c max_o [profit_o - lam_r(o) hours_o] + sum_r lam_r capacity_r,
for any lam >= 0. An option whose reduced profit is more than D(lam) - incumbent below its customer's
best cannot be in a better plan, so it is dropped; the exact model only sees the customers left open."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from model.coverage import CHANNELS, CoveragePlan, CoverageProblem, plan_from_choice
from model.coverage_model import build_coverage_model, chosen
from model.spec import ModelError
from solvers import SolveResult, SolverOptions, Termination, interrupt
from solvers.result import relative_gap

MIP_MAX_OPTIONS = 200_000  # above this the open part is not handed to the MIP (the Lagrangian gap stands)


@dataclass
class CoverageOutcome:
    """The best plan, its proven result (objective = profit, bound = an upper bound on profit), the
    price of an hour of each resource (reps, then tele), and how much of the problem the MIP saw."""

    plan: CoveragePlan | None
    choice: np.ndarray | None
    result: SolveResult
    prices: np.ndarray
    stages: dict[str, float] = field(default_factory=dict)
    options_total: int = 0
    options_kept: int = 0
    open_customers: int = 0


@dataclass
class _Options:
    """The pruned options as flat arrays grouped by customer; resource R+1 is 'none' (price 0)."""

    index: np.ndarray  # into the problem's options
    start: np.ndarray
    customer: np.ndarray
    profit: np.ndarray
    hours: np.ndarray
    res: np.ndarray
    capacity: np.ndarray  # R+2 entries, 'none' last with 0

    def reduced(self, lam: np.ndarray) -> np.ndarray:
        return self.profit - lam[self.res] * self.hours

    def best(self, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(best reduced profit, first option reaching it) per customer."""
        red = self.reduced(lam)
        top = np.maximum.reduceat(red, self.start[:-1])
        hit = red >= np.repeat(top, np.diff(self.start)) - 1e-12 * np.maximum(1.0, np.abs(np.repeat(top, np.diff(self.start))))
        first = np.minimum.reduceat(np.where(hit, np.arange(len(red)), len(red)), self.start[:-1])
        return top, first

    def dual(self, lam: np.ndarray) -> tuple[float, np.ndarray]:
        top, first = self.best(lam)
        finite = np.isfinite(self.capacity)
        return float(top.sum() + (lam[finite] * self.capacity[finite]).sum()), first

    def usage(self, pick: np.ndarray) -> np.ndarray:
        return np.bincount(self.res[pick], weights=self.hours[pick], minlength=len(self.capacity))


def prune(problem: CoverageProblem) -> _Options:
    """Drop options another option of the same customer beats on both profit and hours of the same
    resource, or that earn no more than the customer's best option using no time at all."""
    r = len(problem.capacity)
    res = np.where(problem.resource < 0, r, problem.resource)
    cust, profit, hours = problem.customer, problem.profit, problem.hours
    order = np.lexsort((-profit, hours, res, cust))
    group = cust[order] * (r + 1) + res[order]
    run_max = pd.Series(profit[order]).groupby(group).cummax()
    before = run_max.groupby(group).shift(1).to_numpy()
    keep_sorted = np.isnan(before) | (profit[order] > before + 1e-9)
    kept = np.zeros(len(profit), dtype=bool)
    kept[order[keep_sorted]] = True
    free_best = np.full(len(problem.start) - 1, -np.inf)
    np.maximum.at(free_best, cust[res == r], profit[res == r])
    kept &= (res == r) | (profit > free_best[cust] + 1e-9)
    capacity = np.append(problem.capacity, np.inf)
    kept &= problem.hours <= capacity[res] + 1e-9  # more hours than the resource has at all
    index = np.flatnonzero(kept)
    counts = np.bincount(cust[index], minlength=len(problem.start) - 1)
    if (counts == 0).any():
        c = int(np.flatnonzero(counts == 0)[0])
        inputs, names = problem.inputs, problem.resource_names()
        rep, tele = int(inputs.rep[c]), problem.capacity[len(names) - 1]
        held = (f"its rep {names[rep]} ({problem.capacity[rep]:,.0f} h) or the tele team ({tele:,.0f} h) has" if rep >= 0
                else f"the tele team ({tele:,.0f} h) has, and its territory has no rep")
        more = int((counts == 0).sum()) - 1
        raise ModelError(f"customer {inputs.ids[c]}" + (f" (and {more} more)" if more else "") + ": every contact "
                         f"plan its segment allows needs more hours a year than {held}; give the rep working days "
                         "(reps.capacity, coverage.field.working_days) or the tele team hours, or lower the "
                         "segment's minimum")
    start = np.concatenate([[0], np.cumsum(counts)])
    capacity[-1] = 0.0
    return _Options(index, start, cust[index], profit[index], hours[index], res[index], capacity)


def check_tele_is_enough(problem: CoverageProblem) -> None:
    """Customers whom only the tele team may serve need at least their smallest option's hours of it,
    whichever territory plan gives them their rep: checked before the territories are solved."""
    tele = len(problem.capacity) - 1
    only_tele = np.logical_and.reduceat(problem.resource == tele, problem.start[:-1])
    need = float(np.minimum.reduceat(problem.hours, problem.start[:-1])[only_tele].sum())
    if need > problem.capacity[tele] + 1e-6:
        raise ModelError(f"the tele team: the minimum contacts of the {int(only_tele.sum())} customers only it may serve "
                         f"need {need:,.1f} h a year but only {problem.capacity[tele]:,.1f} h are available (short by "
                         f"{need - problem.capacity[tele]:,.1f} h); lower the segment minimums, allow other channels, "
                         "or add tele capacity")


def check_time_is_enough(problem: CoverageProblem, opts: _Options) -> None:
    """Minimum contacts that no rep's (or the tele team's) hours can hold: name the worst and by how much."""
    least = np.full(len(opts.capacity), 0.0)
    for r in range(len(opts.capacity) - 1):
        on = opts.res == r
        if not on.any():
            continue
        # customers whose every option uses r need at least their smallest such option
        only = np.minimum.reduceat(np.where(on, opts.hours, 0.0), opts.start[:-1])
        least[r] = only.sum()
    short = least[:-1] - opts.capacity[:-1]
    if (short > 1e-6).any():
        r = int(np.argmax(short))
        name = problem.resource_names()[r]
        who = "the tele team" if name == "tele" else f"rep {name}"
        raise ModelError(f"{who}: the minimum contacts of its customers need {least[r]:,.1f} h a year but only "
                         f"{opts.capacity[r]:,.1f} h are available (short by {short[r]:,.1f} h); lower the segment "
                         "minimums, allow other channels, or add capacity")
    # every customer whose every option takes time needs at least its smallest option, from someone
    timed_only = np.minimum.reduceat(np.where(opts.res == len(opts.capacity) - 1, 0.0, opts.hours), opts.start[:-1])
    total_cap = float(np.sum(opts.capacity[:-1]))
    if timed_only.sum() > total_cap + 1e-6:
        raise ModelError(f"coverage: the segment minimums need at least {timed_only.sum():,.1f} h a year but the reps "
                         f"and the tele team have {total_cap:,.1f} h together (short by "
                         f"{timed_only.sum() - total_cap:,.1f} h); lower the minimums or add capacity")


def _bisect_prices(opts: _Options, lam: np.ndarray, which: np.ndarray, lo: np.ndarray | None = None,
                   hi: np.ndarray | None = None, tol: float = 1e-7) -> np.ndarray:
    """For the resources in `which` at once (the others fixed), the price where usage meets capacity,
    on the feasible side (usage <= capacity). `lo`/`hi` bracket it when known."""
    lam = lam.copy()
    lo = np.zeros(len(which)) if lo is None else lo.copy()
    lam[which] = lo
    _, pick = opts.dual(lam)
    over = opts.usage(pick)[which] > opts.capacity[which] + 1e-9
    if not over.any():
        return lam
    if hi is None:
        hi = np.where(over, np.maximum(lo, 1.0), lo)
        for _ in range(80):
            lam[which] = hi
            _, pick = opts.dual(lam)
            still = (opts.usage(pick)[which] > opts.capacity[which] + 1e-9) & over
            if not still.any():
                break
            lo = np.where(still, hi, lo)
            hi = np.where(still, hi * 4.0, hi)
    hi = np.where(over, hi, lo)
    for _ in range(200):
        if (hi - lo <= tol * np.maximum(hi, 1e-9)).all():
            break
        mid = 0.5 * (lo + hi)
        lam[which] = mid
        _, pick = opts.dual(lam)
        too_much = opts.usage(pick)[which] > opts.capacity[which] + 1e-9
        lo = np.where(too_much, mid, lo)
        hi = np.where(too_much, hi, mid)
    lam[which] = hi
    return lam


def price_hours(opts: _Options, seconds: float, tol: float = 1e-7) -> tuple[np.ndarray, np.ndarray, float, bool]:
    """Minimise the dual exactly: for a tele price mu the reps' prices separate (one bisection for all
    reps at once); the best mu is found by bisection on the tele usage, since min over the reps' prices
    is convex in mu and rep prices only grow with mu (which brackets each inner bisection).
    Returns prices on the feasible side (for a first plan), the prices with the best dual value, that
    value (an upper bound on profit), and whether Ctrl-C cut it short (what was found so far is kept)."""
    r = len(opts.capacity) - 2
    reps = np.arange(r)
    start = time.perf_counter()
    best = [np.inf, None]

    def inner(mu: float, lo=None, hi=None) -> tuple[np.ndarray, float]:
        interrupt.check()
        lam = np.zeros(len(opts.capacity))
        lam[r] = mu
        if r:
            lam = _bisect_prices(opts, lam, reps, lo, hi, tol)
        value, pick = opts.dual(lam)
        if value < best[0]:
            best[0], best[1] = value, lam
        return lam, float(opts.usage(pick)[r])

    try:
        lam_lo, used = inner(0.0)
        if not np.isfinite(opts.capacity[r]) or used <= opts.capacity[r] + 1e-9:
            return lam_lo, best[1], best[0], False
        mu_lo, mu_hi = 0.0, 1.0
        while True:
            lam_hi, used = inner(mu_hi, lo=lam_lo[reps])
            if used <= opts.capacity[r] + 1e-9:
                break
            if mu_hi > 1e15:  # no tele price brings tele within its hours: the minimums do not fit
                raise ModelError("coverage: the segment minimums need more hours than the reps and the tele "
                                 "team have together; lower the minimums or add capacity")
            mu_lo, lam_lo, mu_hi = mu_hi, lam_hi, mu_hi * 4.0
        while mu_hi - mu_lo > tol * mu_hi and time.perf_counter() - start < seconds:
            mu = 0.5 * (mu_lo + mu_hi)
            lam, used = inner(mu, lo=lam_lo[reps], hi=lam_hi[reps])
            if used > opts.capacity[r] + 1e-9:
                mu_lo, lam_lo = mu, lam
            else:
                mu_hi, lam_hi = mu, lam
    except KeyboardInterrupt:  # Ctrl-C: the best prices so far still give a valid bound
        zero = np.zeros(len(opts.capacity))
        return zero, (best[1] if best[1] is not None else zero), best[0], True
    return lam_hi, best[1], best[0], False


def feasible_choice(opts: _Options, pick: np.ndarray) -> np.ndarray:
    """Move customers off over-used resources, cheapest loss per hour freed first, then spend the
    hours left on the best gain per hour."""
    pick = pick.copy()
    cap = opts.capacity
    for _ in range(20):
        use = opts.usage(pick)
        over = np.flatnonzero(use[:-1] > cap[:-1] + 1e-9)
        if not len(over):
            break
        for j in over:
            now = opts.usage(pick)
            pick = _relieve(opts, pick, int(j), now[j] - cap[j], cap - now)
    else:
        raise ModelError("coverage: could not find a plan within every rep's and the tele team's hours")
    return _fill(opts, pick)


def _relieve(opts: _Options, pick: np.ndarray, j: int, excess: float, slack: np.ndarray) -> np.ndarray:
    """Free `excess` hours of resource j; a customer moved to another resource must fit its slack."""
    if excess <= 1e-9:
        return pick
    slack = slack.copy()
    slack[-1] = np.inf
    cur = pick[opts.customer]  # each option's customer's current option
    on_j = opts.res[cur] == j
    freed = np.where(opts.res == j, opts.hours[cur] - opts.hours, opts.hours[cur])
    fits = (opts.res == j) | (opts.hours <= slack[opts.res] + 1e-9)
    ok = on_j & (freed > 1e-12) & fits
    loss = opts.profit[cur] - opts.profit
    ratio = np.where(ok, loss / np.where(freed > 0, freed, 1.0), np.inf)
    best = np.minimum.reduceat(np.where(ok, ratio, np.inf), opts.start[:-1])
    movers = np.flatnonzero(np.isfinite(best))
    if not len(movers):
        return pick
    hit = ok & (ratio <= best[opts.customer] + 1e-12)
    target = np.minimum.reduceat(np.where(hit, np.arange(len(ratio)), len(ratio)), opts.start[:-1])
    order = movers[np.argsort(best[movers], kind="stable")]
    gain = freed[target[order]]
    take = order[: int(np.searchsorted(np.cumsum(gain), excess - 1e-9)) + 1]
    pick[take] = target[take]
    return pick


def _fill(opts: _Options, pick: np.ndarray, passes: int = 3) -> np.ndarray:
    cap = opts.capacity
    for _ in range(passes):
        slack = cap - opts.usage(pick)
        slack[-1] = np.inf
        cur = pick[opts.customer]
        extra = np.where(opts.res == opts.res[cur], opts.hours - opts.hours[cur], opts.hours)
        gain = opts.profit - opts.profit[cur]
        ok = (gain > 1e-9) & (extra <= slack[opts.res] + 1e-9)
        if not ok.any():
            break
        ratio = np.where(ok, gain / np.maximum(extra, 1e-12), -np.inf)
        cand = np.flatnonzero(ok)
        cand = cand[np.argsort(-ratio[cand], kind="stable")]
        changed = False
        done = np.zeros(len(pick), dtype=bool)
        for o in cand:
            c = opts.customer[o]
            if done[c]:
                continue
            now = pick[c]
            need = opts.hours[o] - (opts.hours[now] if opts.res[now] == opts.res[o] else 0.0)
            if need <= slack[opts.res[o]] + 1e-9:
                slack[opts.res[o]] -= need
                if opts.res[now] != opts.res[o]:
                    slack[opts.res[now]] += opts.hours[now]
                pick[c] = o
                done[c] = True
                changed = True
        if not changed:
            break
    return pick


def solve_coverage(problem: CoverageProblem, engine, options: SolverOptions) -> CoverageOutcome:
    """Best plan within the options' time limit, with a proven upper bound on profit."""
    with interrupt.stop_on_ctrl_c():
        return _solve(problem, engine, options)


def _solve(problem: CoverageProblem, engine, options: SolverOptions) -> CoverageOutcome:
    t0 = time.perf_counter()
    limit = options.time_limit or 600.0
    stages: dict[str, float] = {}
    opts = prune(problem)
    check_time_is_enough(problem, opts)
    stages["prune"] = time.perf_counter() - t0
    t = time.perf_counter()
    feasible_lam, lam, upper, interrupted = price_hours(opts, 0.4 * limit)
    pick, lower = None, -np.inf
    for prices in (feasible_lam, lam):  # two starts: the feasible side, and the bound's own prices
        try:
            candidate = feasible_choice(opts, opts.dual(prices)[1])
        except ModelError:
            continue  # this start could not be repaired; the other may
        value = float(opts.profit[candidate].sum())
        if value > lower:
            pick, lower = candidate, value
    if pick is None:
        raise ModelError("coverage: could not build a plan within every rep's and the tele team's hours; "
                         "lower the segment minimums or add capacity")
    stages["prices"] = time.perf_counter() - t
    open_customers = 0
    termination = Termination.INTERRUPTED if interrupted else Termination.TIME_LIMIT
    gap = relative_gap(-lower, -upper)
    if not interrupted and (gap is None or gap > options.rel_gap):
        t = time.perf_counter()
        pick, lower, upper, open_customers, termination = _exact(
            problem, opts, lam, upper, pick, lower, engine, options, limit - (time.perf_counter() - t0))
        stages["exact"] = time.perf_counter() - t
    upper = float(upper) if np.isfinite(upper) else None  # no bound proven (Ctrl-C before any price)
    gap = relative_gap(-lower, None if upper is None else -upper)
    if gap is not None and gap <= options.rel_gap + 1e-12:
        termination = Termination.OPTIMAL
    result = SolveResult(termination=termination, has_solution=True, objective=lower, bound=upper, gap=gap,
                         seconds=time.perf_counter() - t0, engine="lagrangian+highs", version="", options=options)
    choice = opts.index[pick]
    prices = first_hour_prices(problem, choice, lam[:-1].copy())
    return CoverageOutcome(plan_from_choice(problem, choice), choice, result, prices, stages,
                           options_total=len(problem.profit), options_kept=len(opts.index),
                           open_customers=open_customers)


def first_hour_prices(problem: CoverageProblem, choice: np.ndarray, prices: np.ndarray) -> np.ndarray:
    """A resource with no hours (a rep with 0 working days, a tele team of 0 h) has none of its options left
    after pruning, so its multiplier says 0; its first hour is worth the best margin per hour one of its
    options adds over its customer's planned option (the LP's price just above 0 h)."""
    empty = np.flatnonzero(problem.capacity <= 1e-9)
    if not len(empty):
        return prices
    planned = problem.profit[choice][problem.customer]  # each option's customer's planned margin
    for r in empty:
        on = (problem.resource == r) & (problem.hours > 0)
        if on.any():
            prices[r] = max(prices[r], float(np.max((problem.profit[on] - planned[on]) / problem.hours[on])))
    return prices


def _exact(problem, opts: _Options, lam, upper, pick, lower, engine, options: SolverOptions, seconds: float):
    """Fix what cannot beat the incumbent; hand the customers left open to HiGHS."""
    top, _ = opts.best(lam)
    slack = np.repeat(top, np.diff(opts.start)) - opts.reduced(lam)
    margin = upper - lower + 1e-9 * max(1.0, abs(upper))
    keep = slack <= margin
    keep[pick] = True
    counts = np.bincount(opts.customer[keep], minlength=len(top))
    open_c = counts > 1
    n_open = int(open_c.sum())
    sub = np.flatnonzero(keep & open_c[opts.customer])
    if n_open == 0:
        return pick, lower, min(upper, lower), 0, Termination.OPTIMAL
    if len(sub) > MIP_MAX_OPTIONS or seconds <= 1.0:  # too big for the exact step (or no time): the proven gap stands
        return pick, lower, upper, n_open, Termination.TIME_LIMIT
    fixed = ~open_c
    fixed_pick = pick[fixed]
    fixed_use = opts.usage(fixed_pick)
    fixed_profit = float(opts.profit[fixed_pick].sum())
    capacity = np.append(opts.capacity[:-1] - fixed_use[:-1], np.inf)[: len(problem.capacity)]
    local = opts.index[sub]
    m = build_coverage_model(problem, local, capacity)
    incumbent = set(opts.index[pick[open_c]].tolist())
    warm = [(m.x[i], 1.0 if int(o) in incumbent else 0.0) for i, o in enumerate(local)]
    target = max(options.rel_gap, 1e-9) * max(1.0, abs(upper))
    sub_options = replace(options, time_limit=max(1.0, seconds), rel_gap=0.0,
                          extra={**options.extra, "mip_abs_gap": target})
    result = engine.solve(m, sub_options, warm_start=warm)
    if result.termination is Termination.INFEASIBLE:
        raise ModelError("coverage: no plan fits every rep's and the tele team's hours with the segment "
                         "minimums; lower the minimums or add capacity")
    termination = Termination.INTERRUPTED if result.termination is Termination.INTERRUPTED else Termination.TIME_LIMIT
    if result.has_solution and fixed_profit - result.objective > lower + 1e-9:
        new = pick.copy()
        picked = chosen(m)
        k = np.searchsorted(opts.index, picked)  # opts.index is sorted
        new[opts.customer[k]] = k
        pick, lower = new, float(opts.profit[new].sum())
    if result.bound is not None:
        upper = min(upper, max(lower, fixed_profit - result.bound))
    return pick, lower, upper, n_open, termination


def channel_names(plan: CoveragePlan) -> list[str]:
    return [CHANNELS[c] for c in plan.channel]
