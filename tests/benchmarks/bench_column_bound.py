"""The set-partitioning bound of a county instance, by column generation, beside the engine's own bound.

    python tests/benchmarks/bench_column_bound.py --cases NC:10:0.005 --search 60 --limit 1800

For each case (state:k:tolerance, the county instances of bench_territories.py) the engine runs for
`--search` seconds; its plan's territories start a set-partitioning LP whose columns are whole
territories: a centre and a connected set of units around it inside the balance band, costing its
compactness. Columns are priced exactly, per centre, by a 0/1 program (HiGHS) over the pairs path fixing
leaves, with the band, a neighbour row per unit and separator rows added until the chosen set is
connected (at most PRICE_SECONDS each; one cut short adds no column and counts with its dual bound).
Each pass prices at a point between the best duals so far and the master's (smoothing), and at the
master's own when that adds no column. Every priced point gives a valid bound: the unit duals, k times
the count dual and the k smallest reduced-cost bounds (one territory per centre). Not part of the
engine: it measures how strong a bound over whole territories is (see "Column generation over
connected territories" in README.md here).
"""

from __future__ import annotations

import argparse
import time

import highspy
import numpy as np

from bench_territories import OUT, state_spec
from model.contiguity import separator, stray_components
from model.fixing import path_fixing
from model.search import solve_territories
from solvers import SolverOptions
from solvers.highs import HighsEngine

INF = highspy.kHighsInf
PRICE_SECONDS = 10.0  # per pricing program: early passes' duals can make one very hard
SMOOTHING = 0.5  # weight of the best duals so far in the point priced
PRICE_TOLERANCE = 1e-9  # a column enters when its reduced cost is below this share of the LP value (not float noise)
HEADER = ("| instance | k | balance | plan | engine bound | engine gap % | column bound | column gap % | passes "
          "| columns | seconds | integer program on the columns |")


def _quiet_highs() -> highspy.Highs:
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    return h


class Pricer:
    """The cheapest connected territory around one centre inside the band, under unit prices."""

    def __init__(self, centre: int, units: np.ndarray, cost: np.ndarray, value: np.ndarray, lower: float,
                 upper: float, nbrs: list[list[int]]):
        self.centre, self.units, self.cost, self.nbrs = centre, units, cost[units], nbrs
        self.pos = {int(u): p for p, u in enumerate(units)}
        m = len(units)
        self.h = h = _quiet_highs()
        h.setOptionValue("mip_rel_gap", 1e-9)
        low = np.zeros(m)
        low[self.pos[centre]] = 1.0
        h.addVars(m, low, np.ones(m))
        h.changeColsIntegrality(m, np.arange(m, dtype=np.int32), np.array([highspy.HighsVarType.kInteger] * m))
        h.addRow(lower, upper, m, np.arange(m, dtype=np.int32), value[units].astype(float))
        for u in units:
            if u != centre:  # a unit other than the centre needs a chosen neighbour
                self._at_most(int(u), [v for v in nbrs[u] if v in self.pos])

    def _at_most(self, unit: int, others: list[int]) -> None:
        """x[unit] <= sum of x[others]."""
        idx = np.array([self.pos[unit]] + [self.pos[v] for v in others], dtype=np.int32)
        self.h.addRow(-INF, 0.0, len(idx), idx, np.array([1.0] + [-1.0] * len(others)))

    def price(self, prices: np.ndarray, seconds: float) -> tuple[list[int] | None, float]:
        """(units of the cheapest territory, or None, a lower bound on its reduced cost before the count
        dual); +inf when no territory fits the band."""
        h, m = self.h, len(self.units)
        h.changeColsCost(m, np.arange(m, dtype=np.int32), (self.cost - prices[self.units]).astype(float))
        h.setOptionValue("time_limit", float(seconds))
        while True:
            h.run()
            status = h.getModelStatus()
            if status in (highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kUnboundedOrInfeasible):
                return None, np.inf
            info = h.getInfo()
            if status == highspy.HighsModelStatus.kTimeLimit:
                return None, float(info.mip_dual_bound)
            if status != highspy.HighsModelStatus.kOptimal:
                return None, -np.inf  # no trustworthy bound: this pass gives none
            chosen = self.units[np.flatnonzero(np.array(h.getSolution().col_value) > 0.5)]
            stray = stray_components(chosen, self.centre, self.nbrs)
            if not stray:
                return sorted(int(u) for u in chosen), float(info.mip_dual_bound)
            for part in stray:  # every unit of a stray part needs a unit of its separator (outside units are 0)
                cut = [v for v in separator(part, self.centre, self.nbrs) if v in self.pos]
                for u in part:
                    self._at_most(int(u), cut)


def column_bound(spec, plan: np.ndarray, limit: float) -> dict:
    """Column generation from the plan's territories until no column prices out or `limit` seconds."""
    geo, k = spec.geography, spec.count
    n = geo.n
    cost = spec.cost()
    scale = float(cost[np.arange(n), plan].sum()) / 1e4  # costs near 1 keep HiGHS's tolerances meaningful
    cost = cost / scale
    rule = spec.balance[0]
    value = geo.attributes[rule.attribute].astype(float)
    nbrs = geo.neighbours()
    allowed = path_fixing(spec)
    t0 = time.perf_counter()
    pricers = [Pricer(c, np.flatnonzero(allowed[:, c]), cost[:, c], value, rule.lower, rule.upper, nbrs)
               for c in range(n)]
    master = _quiet_highs()
    none = np.array([], dtype=np.int32)
    master.addRows(n + 1, np.r_[np.ones(n), k], np.r_[np.ones(n), k], 0, none, none, np.array([]))
    columns: set[tuple[int, tuple[int, ...]]] = set()

    def add(centre: int, units: list[int]) -> bool:
        key = (centre, tuple(sorted(units)))
        if key in columns:
            return False
        columns.add(key)
        idx = np.array(list(key[1]) + [n], dtype=np.int32)
        master.addCol(float(cost[list(key[1]), centre].sum()), 0.0, INF, len(idx), idx, np.ones(len(idx)))
        return True

    for c in sorted(set(plan.tolist())):
        add(c, np.flatnonzero(plan == c).tolist())
    best, passes, value_lp, stable = -np.inf, 0, None, None  # stable: the duals of the best bound so far
    while True:  # at least one pass, then until no column prices out or the limit
        master.run()
        value_lp = master.getInfo().objective_function_value
        current = np.array(master.getSolution().row_dual)
        # Priced first between the best duals and the master's (smoothing: a degenerate master's duals
        # jump and make the pricing programs hard); at the master's own when that adds no column.
        points = [current] if stable is None else [SMOOTHING * stable + (1 - SMOOTHING) * current, current]
        added = 0
        for point in points:
            prices, count_price = point[:n], point[n]
            reduced, found = [], []
            for pricer in pricers:
                units, low = pricer.price(prices, PRICE_SECONDS)  # cut short: its dual bound, still valid
                if low != np.inf:  # +inf: no territory around this centre fits the band
                    reduced.append(low - count_price)
                if units is not None:
                    found.append((pricer.centre, units))
            bound = prices.sum() + k * count_price + np.sort(reduced)[:k].sum()  # valid at any duals
            if bound > best:
                best, stable = bound, point.copy()
            for centre, units in found:  # enters if it prices out at the master's duals
                if cost[units, centre].sum() - current[units].sum() - current[n] < -PRICE_TOLERANCE * abs(value_lp):
                    added += add(centre, units)
            if added:
                break
        passes += 1
        print(f"  pass {passes}: LP {value_lp * scale:.6g}, bound {best * scale:.6g}, {len(columns)} columns, "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
        if not added or time.perf_counter() - t0 >= limit:
            break
    seconds = time.perf_counter() - t0
    master.changeColsIntegrality(len(columns), np.arange(len(columns), dtype=np.int32),
                                 np.array([highspy.HighsVarType.kInteger] * len(columns)))
    master.setOptionValue("time_limit", 300.0)
    master.run()
    integer = master.getInfo().objective_function_value if master.getInfo().primal_solution_status == 2 else None
    return dict(bound=best * scale, lp=value_lp * scale, passes=passes, columns=len(columns), seconds=seconds,
                integer=None if integer is None else integer * scale)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", default="NC:10:0.005")
    parser.add_argument("--search", type=float, default=60.0, help="seconds of the engine for the start plan")
    parser.add_argument("--limit", type=float, default=1800.0, help="seconds of column generation")
    args = parser.parse_args()
    rows = []
    for case in args.cases.split(","):
        state, k, tol = case.split(":")
        spec = state_spec(state, int(k), float(tol))
        outcome = solve_territories(spec, HighsEngine(), SolverOptions(time_limit=args.search, rel_gap=1e-4))
        r = outcome.result
        found = column_bound(spec, np.asarray(outcome.plan.centre_of), args.limit)
        gap = 100 * (r.objective - found["bound"]) / r.objective
        integer = "-" if found["integer"] is None else f"{found['integer']:.6g}"
        rows.append(f"| {state} | {k} | ±{100 * float(tol):g}% | {r.objective:.6g} | {r.bound:.6g} | "
                    f"{100 * r.gap:.3f} | {found['bound']:.6g} | {gap:.3f} | {found['passes']} | {found['columns']} | "
                    f"{found['seconds']:.0f} | {integer} |")
        print(rows[-1], flush=True)
    OUT.mkdir(exist_ok=True)
    (OUT / "column_bound.md").write_text(HEADER + "\n|" + "---|" * 12 + "\n" + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
