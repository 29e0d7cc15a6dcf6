"""The neighbourhood search from two origins at once, one per core.

The search improves each of its origins (the CP-SAT plan and the local-search plan it beat) by
re-solving groups of touching territories, one origin after the other, while the machine's second
core sits idle until the exact model (whose second process is solvers.portfolio). With `threads` of
2 or more the second origin runs in a fork at the same time: with two origins the stage takes half
the wall time (the exact model gets the rest); with one, the fork draws a second start of its own
(another seed's plan, assigned by CP-SAT), since the plans of tight bands depend on their start.
The fork sends every plan it reaches through a pipe; the caller checks and keeps the best. In one
process a second start can follow the origins, with the stage's time again (the caller decides when that
pays).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from model.plan import Plan
from model.spec import SearchInterrupted
from solvers.portfolio import Partner

ImproveFn = Callable[[Plan, float, Callable[[Plan], None]], Plan]  # (origin, seconds, on_plan) -> end
StartFn = Callable[[float], Plan | None]  # deadline -> a second origin, or None
FORK_GRACE = 1.0  # seconds past the shared deadline the fork may take to finish its last sub-problem


def improve_origins(origins: list[Plan], improve: ImproveFn, budget: float, on_plan: Callable[[Plan], None],
                    parallel: bool = False, second_start: StartFn | None = None) -> list[Plan]:
    """Each origin's end after `improve`, and the end of the origin `second_start` draws (if given).
    One process: the origins one after the other within `budget` seconds, an equal share each, then the
    second start with `budget` seconds more. `parallel`: the last origin (or, with one, the origin
    `second_start` draws) in a fork, the same share of time each, at once; the fork's plans join the ends."""
    if not parallel or (len(origins) < 2 and second_start is None):
        return _one_after_another(origins, improve, budget, on_plan, second_start)
    seconds = budget / len(origins)
    deadline = time.perf_counter() + seconds
    mine, theirs = (origins[:-1], origins[-1]) if len(origins) > 1 else (origins, None)
    partner = Partner.fork(lambda p: _second(p, theirs, second_start, improve, deadline))
    if partner is None:  # no fork on this system: the origins in this process, in the stage's time
        return _one_after_another(origins, improve, budget, on_plan, None)
    try:
        ends = [improve(origin, seconds, on_plan) for origin in mine]
    except BaseException:  # Ctrl-C: end the fork at once
        partner.finish(wait=0.0)
        raise
    messages = partner.finish(wait=max(0.0, deadline - time.perf_counter()) + FORK_GRACE)
    theirs_ends = [Plan(tuple(m[1])) for m in messages if m[0] == "plan"]
    return ends + theirs_ends[-1:]  # its plans improve one on another: the last is its end


def _one_after_another(origins: list[Plan], improve: ImproveFn, budget: float, on_plan: Callable[[Plan], None],
                       second_start: StartFn | None) -> list[Plan]:
    ends = [improve(origin, budget / len(origins), on_plan) for origin in origins]
    if second_start is not None:
        deadline = time.perf_counter() + budget
        drawn = second_start(deadline)
        if drawn is not None:
            ends.append(improve(drawn, max(0.0, deadline - time.perf_counter()), on_plan))
    return ends


def _second(partner: Partner, origin: Plan | None, second_start: StartFn | None, improve: ImproveFn,
            deadline: float) -> None:
    """The fork's body: improve its origin (drawn first if none was given), sending every plan it reaches."""

    def send(plan: Plan) -> None:
        partner.send("plan", tuple(int(c) for c in plan.centre_of))

    try:
        if origin is None:
            origin = second_start(deadline) if second_start is not None else None
            if origin is None:
                return
        send(origin)
        send(improve(origin, max(0.0, deadline - time.perf_counter()), send))
    except SearchInterrupted as stop:
        if stop.plan is not None:
            send(stop.plan)
