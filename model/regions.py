"""Regional re-solves for plans too large for a distance matrix (the ZIP cells).

The territories are split into regions of whole territories, each small enough to store its own
distance matrix, and each region is improved on its own with the steps that need one: centres moved on
the transportation LP, rounded and repaired (`model.allocation.relocate`), then moved one LP step at a
time (`drift`), then windows of neighbouring territories re-assigned at fixed centres
(`model.star_windows`, half the region's time left); it is also planned afresh (spanning-tree cuts, location-allocation, the same steps), and
the cheaper of the two is kept. A region's territories keep their units inside the region and their
balance bounds are their own, so a valid, cheaper regional plan makes a valid, cheaper national plan.
A second pass splits the other way round, so that territories on a first-pass border meet their other
neighbours. Under nesting the regions only move centres inside each unit's district; the districts
themselves are re-solved one by one, planned afresh too (`improve_districts`). With fixed centres (reps'
homes) only the windows run, and the caller turns the cuts from call to call (`angle`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from model.allocation import allocate, drift, relocate
from model.check import is_valid
from model.neighbourhood import restrict
from model.plan import Plan
from model.spec import SearchInterrupted, TerritorySpec
from model.star_assignment import usable
from model.star_windows import improve_windows
from solvers import interrupt

# Most units in one region. On the 32,984 ZIP cells (200 territories, one-off script from a 600 s run's plan):
# the LP descent took 8 s on a region of 4,984 units and 146 s on one of 10,281.
REGION_UNITS = 5_000
PASSES = 2  # splitting along the wider side first, then along the other
WINDOW_SHARE = 0.5  # of a region's time left after its centres moved, for windows (model.star_windows)
Fresh = Callable[[TerritorySpec, float], "Plan | None"]


def split_regions(spec: TerritorySpec, plan: Plan, most_units: int, flip: bool = False,
                  angle: float = 0.0) -> list[np.ndarray]:
    """The plan's centres in groups holding at most `most_units` units (a single territory may hold
    more): halved again and again at the median of the units, across the wider side of the group's
    centres (the narrower side with `flip`, at the first cut only), on axes turned by `angle` (radians)."""
    geo = spec.geography
    centre_of = np.asarray(plan.centre_of)
    centres, size = np.unique(centre_of, return_counts=True)
    turned_x = np.cos(angle) * geo.x[centres] - np.sin(angle) * geo.y[centres]
    turned_y = np.sin(angle) * geo.x[centres] + np.cos(angle) * geo.y[centres]

    def halves(idx: np.ndarray, turn: bool) -> list[np.ndarray]:
        if size[idx].sum() <= most_units or len(idx) == 1:
            return [centres[idx]]
        x, y = turned_x[idx], turned_y[idx]
        across_x = (np.ptp(x) >= np.ptp(y)) != turn
        order = idx[np.argsort(x if across_x else y, kind="stable")]
        total = np.cumsum(size[order])
        cut = int(np.clip(np.searchsorted(total, total[-1] / 2) + 1, 1, len(order) - 1))
        return halves(order[:cut], False) + halves(order[cut:], False)

    return halves(np.arange(len(centres)), flip)


def improve_regions(spec: TerritorySpec, engine, plan: Plan, zone: np.ndarray | None, deadline: float,
                    seed: int = 0, on_plan: Callable[[Plan], None] | None = None, fresh: Fresh | None = None,
                    angle: float = 0.0, workers: int = 1) -> Plan:
    """Each region re-solved with the distance-matrix steps (see the module docstring); with fixed centres
    only the windows run. `angle` turns the axes the regions are cut along (other cuts, other windows). A
    region's result is kept only if valid and cheaper. `fresh(region spec, deadline)` plans a region from
    scratch (see `_improve_region`). The windows run up to `workers` at a time. Ctrl-C raises SearchInterrupted
    with the best national plan so far."""
    if spec.count < 2:
        return plan
    for turn in range(PASSES):
        groups = split_regions(spec, plan, REGION_UNITS, flip=bool(turn % 2), angle=angle)
        if len(groups) < 2 and turn > 0:
            break
        units_in = [np.flatnonzero(np.isin(plan.centre_of, g)) for g in groups]
        plan = _sweep(spec, engine, plan, list(zip(groups, units_in)), zone, deadline, seed, fresh, on_plan,
                      workers)
    return plan


def improve_districts(spec: TerritorySpec, engine, plan: Plan, deadline: float, seed: int = 0,
                      on_plan: Callable[[Plan], None] | None = None, fresh: Fresh | None = None,
                      workers: int = 1) -> Plan:
    """Under nesting: each group of the finest level (a district) re-solved on its own, its territories
    free to take any of its units: centres moved on the LP and, with `fresh`, the district planned afresh,
    the cheaper kept. A district keeps its units, so every level stays as it was (the regions above only
    move centres inside the districts: `improve_regions` with a zone). Largest districts first.
    Ctrl-C raises SearchInterrupted with the best plan so far."""
    if spec.centres is not None or not spec.levels or not plan.groups:
        return plan
    labels = np.asarray(plan.groups[-1])
    districts = sorted((np.flatnonzero(labels == d) for d in np.unique(labels)), key=len, reverse=True)
    pieces = [(np.unique(np.asarray(plan.centre_of)[units]), units) for units in districts]
    return _sweep(spec, engine, plan, [(g, u) for g, u in pieces if len(g) > 1], None, deadline, seed, fresh,
                  on_plan, workers)


def _sweep(spec: TerritorySpec, engine, plan: Plan, pieces: list[tuple[np.ndarray, np.ndarray]],
           zone: np.ndarray | None, deadline: float, seed: int, fresh: Fresh | None,
           on_plan: Callable[[Plan], None] | None, workers: int = 1) -> Plan:
    """Each piece (its territories' centres, its units) re-solved in turn by `_improve_region`, with time
    in proportion to the units still to do; a cheaper valid result replaces the piece's territories."""
    cost = spec.cost()
    # A single territory above the cap would need the very matrix this path avoids (16,000 units: 2 GB).
    pieces = [(g, u) for g, u in pieces if len(u) <= REGION_UNITS]
    left = float(sum(len(u) for _, u in pieces))
    for group, units in pieces:
        if interrupt.requested():
            raise SearchInterrupted(plan)
        now = time.perf_counter()
        if now >= deadline:
            break
        share = (deadline - now) * len(units) / left
        left -= len(units)
        try:
            better = _improve_region(spec, engine, plan, group, units, zone, now + share, seed, fresh, workers)
        except (KeyboardInterrupt, SearchInterrupted):  # a piece's own plan is no use to the caller
            raise SearchInterrupted(plan) from None
        if better is not None and better.objective(cost) < plan.objective(cost) * (1 - 1e-9):
            plan = better
            if on_plan is not None:
                on_plan(plan)
    return plan


def _moved(sub: TerritorySpec, engine, plan: Plan, zone: np.ndarray | None, deadline: float, seed: int) -> Plan:
    """Centres moved on the LP and rounded once, then one LP step at a time; never worse than `plan`."""
    return drift(sub, engine, relocate(sub, engine, plan, zone, deadline, seed), zone, deadline)


def _improve_region(spec: TerritorySpec, engine, plan: Plan, group: np.ndarray, units: np.ndarray,
                    zone: np.ndarray | None, deadline: float, seed: int, fresh: Fresh | None,
                    workers: int = 1) -> Plan | None:
    """The plan with one region's territories re-solved, or None if that found nothing valid and better.
    With `fresh` and no `zone` (a zone's districts would be ignored by a fresh plan; a single district
    has none) the region is also planned from scratch in the time left, and the better of the two is kept."""
    centre_of = np.asarray(plan.centre_of)
    fixed = spec.centres is not None  # (reps' homes: only the windows, which keep the centres)
    sub = restrict(spec, units, [int(c) for c in group], list(centre_of))
    sub = sub if fixed else replace(sub, centres=None)
    at = {int(u): i for i, u in enumerate(units)}
    start = Plan(tuple(at[int(c)] for c in centre_of[units]))
    sub_zone = None if zone is None else np.asarray(zone)[units]
    sub_cost = sub.cost()
    moved = start if fixed else _moved(sub, engine, start, sub_zone, deadline, seed)
    if usable(sub):  # windows of neighbouring territories at fixed centres (free: then centres to their medoids)
        share = 1.0 if fixed else WINDOW_SHARE
        moved = improve_windows(sub, engine, moved, sub_zone,
                                time.perf_counter() + share * max(0.0, deadline - time.perf_counter()), workers=workers)
    if fresh is not None and zone is None and not fixed and time.perf_counter() < deadline:
        anew = fresh(sub, deadline)
        if anew is not None and is_valid(sub, anew):
            anew = _moved(sub, engine, allocate(sub, engine, anew, None, deadline), None, deadline, seed)
            if is_valid(sub, anew) and anew.objective(sub_cost) < moved.objective(sub_cost):
                moved = anew
    if not is_valid(sub, moved) or moved.objective(sub_cost) >= start.objective(sub_cost) * (1 - 1e-9):
        return None
    merged = centre_of.copy()
    merged[units] = units[np.asarray(moved.centre_of)]
    candidate = replace(plan, centre_of=tuple(int(c) for c in merged))
    return candidate if is_valid(spec, candidate) else None
