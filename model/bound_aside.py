"""A bound computed in a fork beside the search, on the machine's second core.

With fixed centres on a map without a distance matrix the bound is the transportation LP over every unit and
centre (model.transport.fixed_centre_bound) or, when that would not fit in the time, the Lagrangian ascent over
the same pairs (model.lagrangian_sparse). Neither depends on the plan, so with `threads` of 2 or more it runs
from the start in a fork while the first process improves the plan, instead of taking its time out of the
search (the LP took 76-96 s of a 600 s run with 200 reps on the ZIP cells, the windows waiting). The fork
sends each bound it proves; every one is valid on its own, so the caller keeps the largest heard. The same holds
for the Lagrangian bound of the free-centre paths without an exact model, which otherwise gets the last 40% of
the limit (model.search).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from model.lagrangian import LagrangianBound
from model.lagrangian_sparse import sparse_lagrangian_bound
from model.spec import TerritorySpec
from model.transport import fixed_centre_bound
from solvers.portfolio import Partner

Send = Callable[[float, int], None]  # (a valid bound, 0 if it is an LP's value, 1 if an ascent's)
# The LP gets at most this share of the fork's time, so that if it does not finish the ascent still has the rest.
LP_SHARE = 0.7


@dataclass
class BoundAside:
    """The fork computing the bound, and the best bound it has sent so far."""

    partner: Partner
    bound: float | None = None
    iterations: int = 0  # 0: the bound is the LP's; 1: the ascent's (as LagrangianBound.iterations tells them apart)
    seconds: float = 0.0  # how long the fork took to reach it

    @classmethod
    def start(cls, body: Callable[[Send], None]) -> BoundAside | None:
        """Start the fork running `body(send)`, which calls send(bound, iterations) for each valid bound it proves
        (iterations 0: an LP's value). None where there is no fork."""
        started = time.perf_counter()

        def main(partner: Partner) -> None:
            body(lambda bound, iterations: partner.send("bound", float(bound), int(iterations),
                                                        time.perf_counter() - started))

        partner = Partner.fork(main)
        return None if partner is None else cls(partner)

    def latest(self) -> float | None:
        """The best bound heard so far (reads what the fork has sent, without waiting)."""
        self._take(self.partner.received())
        return self.bound

    def finish(self, n: int, wait: float = 0.0) -> LagrangianBound | None:
        """End the fork, after up to `wait` seconds for it to finish, and give the best bound it sent (None if none),
        as a LagrangianBound over `n` units."""
        self._take(self.partner.finish(wait=max(0.0, wait)))
        if self.bound is None:
            return None
        return LagrangianBound(self.bound, np.zeros(n), self.iterations, self.seconds)

    def _take(self, messages: list[tuple]) -> None:
        for message in messages:
            if message[0] == "bound" and (self.bound is None or message[1] > self.bound):
                self.bound, self.iterations, self.seconds = float(message[1]), int(message[2]), float(message[3])


def fixed_centre_body(spec: TerritorySpec, engine, seconds: float, lp_seconds: float,
                      lp_fits: float) -> Callable[[Send], None]:
    """The fixed-centre bound for a fork: the LP if `lp_fits` of its estimate `lp_seconds` fits in LP_SHARE of
    `seconds`, else (or if the LP ends without an optimum) the ascent until `seconds` have passed."""
    deadline = time.perf_counter() + seconds

    def body(send: Send) -> None:
        left = deadline - time.perf_counter()
        if LP_SHARE * left >= lp_fits * lp_seconds:
            value = fixed_centre_bound(spec, engine, LP_SHARE * left)
            if value is not None:
                send(value, 0)
                return
        sparse_lagrangian_bound(spec, iterations=1_000_000, time_limit=max(0.0, deadline - time.perf_counter()),
                                on_bound=lambda bound: send(bound, 1))

    return body
