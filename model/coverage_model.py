"""The coverage MIP in Pyomo: one option (channel, contacts a year) per customer, maximising expected
contribution minus cost within every rep's and the tele team's hours (a multiple-choice knapsack)."""

from __future__ import annotations

import numpy as np
from pyomo.environ import Binary, ConcreteModel, Constraint, Objective, Var, minimize, quicksum

from model.coverage import CoverageProblem


def build_coverage_model(problem: CoverageProblem, options: np.ndarray, capacity: np.ndarray) -> ConcreteModel:
    """A model over `options` (indices into the problem's options, grouped by customer) with `capacity`
    hours per resource. Minimises cost minus value, so the objective is the negated profit."""
    m = ConcreteModel()
    customer = problem.customer[options]
    m.O = range(len(options))
    m.x = Var(m.O, domain=Binary)
    profit = problem.profit[options]
    m.obj = Objective(expr=quicksum(-float(profit[i]) * m.x[i] for i in m.O), sense=minimize)
    bounds = np.flatnonzero(np.diff(np.concatenate([[-1], customer, [-2]])))
    groups = [range(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
    m.one = Constraint(range(len(groups)), rule=lambda m, g: quicksum(m.x[i] for i in groups[g]) == 1)
    resource = problem.resource[options]
    hours = problem.hours[options]
    used = [r for r in np.unique(resource) if r >= 0 and np.isfinite(capacity[r])]
    members = {r: np.flatnonzero(resource == r) for r in used}
    m.capacity = Constraint(
        [int(r) for r in used],
        rule=lambda m, r: quicksum(float(hours[i]) * m.x[i] for i in members[r]) <= float(capacity[r]),
    )
    m.options = options
    return m


def chosen(m: ConcreteModel) -> np.ndarray:
    """Option index (into the problem) chosen per customer of the model, in customer order."""
    x = np.array([m.x[i].value or 0.0 for i in m.O])
    return m.options[x > 0.5]
