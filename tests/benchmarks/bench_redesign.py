"""Benchmark the redesign terms on the bundled Georgia case (159 counties, 10 reps fixed at homes,
potential ±5% and accounts ±15%, contiguity): no disruption terms, priced disruption, priced + limit;
then the bundled headcount options (a leaver, two hires, a vacancy) with their own terms.

    .venv/bin/python tests/benchmarks/bench_redesign.py [seconds per variant, default 60]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from model.check import check_plan
from model.redesign import DisruptionLimit, DisruptionTerms, disruption
from model.search import solve_territories
from scenarios.loading import load_scenario
from scenarios.prepare import prepare
from solvers import SolverOptions
from solvers.highs import HighsEngine

REPO = Path(__file__).resolve().parents[2]


def main(seconds: float) -> None:
    prepared = prepare(load_scenario(REPO / "scenarios" / "georgia_redesign.yaml"))
    variants = [
        ("no disruption terms", prepared.with_terms(DisruptionTerms())),
        ("weight 1 (relationship)", prepared.with_terms(DisruptionTerms(1.0))),
        ("weight 1 + relationship <= 35%",
         prepared.with_terms(DisruptionTerms(1.0, limits=(DisruptionLimit("relationship", 0.35),)))),
    ]
    options = {}
    for option in ("leaver", "hires", "vacancy"):
        other = prepare(load_scenario(REPO / "scenarios" / f"georgia_redesign_{option}.yaml"))
        variants.append((f"option {option} ({other.spec.count} reps, its own terms)", other.spec))
        options[variants[-1][0]] = other
    print("| variant | status | first plan s | total s | objective | gap % | relationship moved % |")
    print("|---|---|---|---|---|---|---|")
    for label, spec in variants:
        case = options.get(label, prepared)
        t = time.perf_counter()
        out = solve_territories(spec, HighsEngine(), SolverOptions(time_limit=seconds, rel_gap=1e-4))
        total = time.perf_counter() - t
        moved, objective = "-", "-"
        if out.plan is not None:
            check_plan(spec, out.plan)
            objective = f"{out.plan.objective(spec.cost()):.6g}"
            moved = f"{disruption(case.redesign, case.redesign.new_reps(out.plan))['relationship_moved_pct']:.1f}"
        gap = f"{100 * out.result.gap:.2f}" if out.result.gap is not None else "-"
        first = f"{out.first_plan_seconds:.1f}" if out.first_plan_seconds is not None else "-"
        print(f"| {label} | {out.result.termination.value} | {first} | {total:.1f} | {objective} | {gap} | {moved} |",
              flush=True)


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0)
