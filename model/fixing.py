"""Safe reduced-cost fixing: drop every assignment that cannot appear in a plan better than a known one.

If the LP relaxation has value `lp` and the column (i, j) has reduced cost `rc`, every solution with
assign[i, j] = 1 costs at least lp + rc. With a valid plan of cost `upper`, columns with
lp + rc > upper can be removed without losing any better plan; a centre that cannot open removes its
whole column. The model left is smaller, and its bound, capped by `upper`, is still a valid bound.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from model.spec import TerritorySpec
from model.territory_model import build_territory_model
from solvers.result import SolverOptions


@dataclass(frozen=True)
class Fixing:
    """Which (unit, centre) pairs survive, and the LP bound that justified it."""

    allowed: np.ndarray
    lp_bound: float
    kept: int
    total: int


def reduced_cost_fixing(spec: TerritorySpec, engine, options: SolverOptions, upper: float) -> Fixing | None:
    """Solve the LP relaxation and keep only pairs whose reduced cost fits under `upper`."""
    m = build_territory_model(replace(spec, contiguity=False), separators_up_front=False)
    res = engine.solve(m, replace(options, log_path=None), relax=True)
    if not res.has_solution or not res.reduced_costs or res.objective is None:
        return None
    scale = m.cost_scale
    lp = res.objective * scale
    slack = upper - lp + 1e-6 * max(1.0, abs(upper))  # a margin for the LP's own tolerances
    n = spec.geography.n
    allowed = np.zeros((n, n), dtype=bool)
    for i, j in m.pairs:
        allowed[i, j] = res.reduced_costs[m.assign[i, j].name] * scale <= slack
    if spec.centres is None:
        closed = ~np.diag(allowed)
        allowed[:, closed] = False
    if not allowed.any(axis=1).all():
        return None  # numerically doubtful: keep the full model
    return Fixing(allowed, lp, int(allowed.sum()), len(m.pairs))
