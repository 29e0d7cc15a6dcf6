"""The trade-off frontier of a redesign: compactness and balance against disruption.

One solve per point of `disruption.tradeoff` (a list of weights, or of overall limits on the
disruption measure); each plan is checked independently and its assignment kept, so a planner can
pick the compromise knowingly and re-run it as a normal scenario.
"""

from __future__ import annotations

import time

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from model.check import check_plan  # noqa: E402
from model.kpis import plan_totals, territory_kpis  # noqa: E402
from model.plan import Plan  # noqa: E402
from model.redesign import DisruptionLimit, DisruptionTerms, disruption  # noqa: E402
from model.search import solve_territories  # noqa: E402
from scenarios.prepare import Prepared, disruption_terms  # noqa: E402
from solvers import SolverOptions, interrupt  # noqa: E402


def tradeoff_points(prepared: Prepared) -> list[tuple[str, DisruptionTerms]]:
    """(label, terms) for every point the scenario asks for."""
    cfg = prepared.scenario.disruption.tradeoff
    base = disruption_terms(prepared.scenario)
    if cfg.weights is not None:
        return [(f"weight={w:g}", replace(base, weight=float(w))) for w in cfg.weights]
    measure = base.measure
    kept = tuple(x for x in base.limits if x.per_rep or x.measure != measure)
    return [(f"max_share={s:g}", replace(base, limits=kept + (DisruptionLimit(measure, float(s)),)))
            for s in cfg.max_shares]


def run_tradeoff(prepared: Prepared, engine, options: SolverOptions, folder: Path,
                 say: Callable[[str], None] = lambda _: None, start: Plan | None = None) -> pd.DataFrame:
    """Solve every point, write tradeoff/assignment_<label>.csv, tradeoff.csv and tradeoff.png. Each point's
    search may start from `start` (the main run's plan) where that plan keeps the point's limits: a point
    given a few seconds on a slow machine otherwise ended with no plan at all."""
    cfg = prepared.scenario.disruption.tradeoff
    measure = prepared.scenario.disruption.measure
    options = replace(options, time_limit=cfg.time_limit or options.time_limit, log_path=None)
    out = folder / "tradeoff"
    out.mkdir()
    rows = []
    redesign, geo = prepared.redesign, prepared.geography
    for n, (label, terms) in enumerate(tradeoff_points(prepared), start=1):
        row: dict = {"point": label, "weight": terms.weight,
                     "max_share": next((x.max_share for x in terms.limits if x.measure == measure and not x.per_rep), None)}
        if interrupt.requested():  # Ctrl-C: the main plan is kept, the points left are not solved
            rows.append({**row, "status": "skipped"})
            continue
        say(f"trade-off point {n}: {label}")
        spec = prepared.with_terms(terms)
        began = time.perf_counter()
        outcome = solve_territories(spec, engine, options, start=start)
        row.update(status=outcome.result.termination.value, gap=outcome.result.gap,
                   seconds=round(time.perf_counter() - began, 2))  # the whole point (the exact model's own: 4 of 10 s)
        if outcome.plan is not None:
            check_plan(spec, outcome.plan)
            names = {c: spec.territory_names()[t] for t, c in enumerate(spec.centres)}
            totals = plan_totals(spec, territory_kpis(spec, outcome.plan, names))
            row["compactness"] = totals["compactness"]
            for rule in spec.balance:
                row[f"{rule.attribute}_max_abs_deviation_pct"] = totals[f"{rule.attribute}_max_abs_deviation_pct"]
            moved = disruption(redesign, redesign.new_reps(outcome.plan))
            for m in ("relationship", "potential", "accounts"):
                row[f"{m}_moved_pct"] = moved[f"{m}_moved_pct"]
            unit_reps = redesign.unit_reps(outcome.plan)
            row["units_moved"] = int((unit_reps != redesign.current).sum())
            pd.DataFrame({"unit": list(geo.ids), "rep": [redesign.reps[r].id for r in unit_reps]}).to_csv(
                out / f"assignment_{label.replace('=', '_')}.csv", index=False)
        rows.append(row)
    table = pd.DataFrame(rows)
    table.to_csv(folder / "tradeoff.csv", index=False)
    _plot(table, measure, prepared.scenario.name or "scenario", folder / "tradeoff.png")
    return table


def _plot(table: pd.DataFrame, measure: str, name: str, path: Path) -> None:
    solved = table.dropna(subset=["compactness"]) if "compactness" in table else table.iloc[0:0]
    balance_cols = [c for c in table.columns if c.endswith("_max_abs_deviation_pct")]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), dpi=110)
    x = solved.get(f"{measure}_moved_pct", pd.Series(dtype=float))
    axes[0].plot(x, solved.get("compactness", []), "o-", color="#4e79a7")
    for _, row in solved.iterrows():
        axes[0].annotate(row["point"], (row[f"{measure}_moved_pct"], row["compactness"]), xytext=(4, 4),
                         textcoords="offset points", fontsize=8)
    axes[0].set_xlabel(f"{measure} value that changes rep (%)")
    axes[0].set_ylabel("compactness (lower is better)")
    axes[0].set_title("Compactness against disruption")
    for col, colour in zip(balance_cols, ["#e15759", "#59a14f", "#b07aa1"]):
        axes[1].plot(x, solved[col], "o-", color=colour, label=col.replace("_max_abs_deviation_pct", ""))
    axes[1].set_xlabel(f"{measure} value that changes rep (%)")
    axes[1].set_ylabel("worst territory deviation from target (%)")
    axes[1].set_title("Balance against disruption")
    if balance_cols:
        axes[1].legend(fontsize=8)
    fig.suptitle(f"{name}: trade-off frontier ({len(solved)} of {len(table)} points solved)")
    fig.tight_layout()
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


__all__ = ["run_tradeoff", "tradeoff_points"]
