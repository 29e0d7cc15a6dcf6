"""Benchmark the coverage plan at the issue's size: 100,000 customers, 200 reps, 3 channels, 8 levels
(0, 1, 2, 4, 6, 12, 24, 52 contacts a year). Target: gap <= 0.1% in <= 60 s and <= 4 GB.

    .venv/bin/python tests/benchmarks/bench_coverage.py [customers] [reps] [seconds]

The instance is generated (seeded): reps on a grid over a 1,200 x 800 km area, customers clustered
around towns, each served by its nearest rep; lognormal potential; segments key (top 5% of potential,
field or tele, at least 4 contacts), important (next 25%, any channel), normal (tele or online);
saturating response with the scale set by a visit value where known; 1,600 h a rep, tele 40,000 h.
"""

from __future__ import annotations

import resource
import sys
import time

import numpy as np

from model.coverage import Channel, CoverageInputs, Rule, build_options, check_coverage
from model.coverage_search import solve_coverage
from model.response import ResponseCurve
from solvers import SolverOptions
from solvers.highs import HighsEngine

LEVELS = (0.0, 1.0, 2.0, 4.0, 6.0, 12.0, 24.0, 52.0)


def generate(customers: int, reps: int, seed: int = 7) -> CoverageInputs:
    rng = np.random.default_rng(seed)
    cols = int(np.ceil(np.sqrt(reps * 1.5)))
    rows = int(np.ceil(reps / cols))
    homes = np.array([((c + 0.5) * 1200 / cols, (r + 0.5) * 800 / rows) for r in range(rows) for c in range(cols)])[:reps]
    towns = rng.uniform([0, 0], [1200, 800], size=(customers // 50, 2))
    xy = towns[rng.integers(0, len(towns), customers)] + rng.normal(0, 15, size=(customers, 2))
    d2 = ((xy[:, None, :] - homes[None, :, :]) ** 2).sum(axis=2) if customers * reps <= 2e7 else None
    nearest = np.argmin(d2, axis=1) if d2 is not None else np.concatenate(
        [np.argmin(((xy[i:i + 10_000, None, :] - homes[None]) ** 2).sum(axis=2), axis=1) for i in range(0, customers, 10_000)])
    km = np.linalg.norm(xy - homes[nearest], axis=1)
    potential = rng.lognormal(mean=9.0, sigma=1.1, size=customers)
    q95, q70 = np.quantile(potential, [0.95, 0.70])
    segment = np.where(potential >= q95, "key", np.where(potential >= q70, "important", "normal")).astype(object)
    visit_value = np.where(rng.random(customers) < 0.6, potential * rng.uniform(0.05, 0.3, customers), np.nan)
    scale = potential / visit_value
    travel = 1.3 * 2 * km / 60.0 / 3.0  # circuity 1.3, 60 km/h, 3 visits share a trip
    return CoverageInputs(
        ids=tuple(f"C{i:06d}" for i in range(customers)), segment=segment, rep=nearest, potential=potential,
        scale=scale, travel_hours=travel, keep=np.zeros(customers, dtype=bool),
        current_channel=np.full(customers, -1), current_contacts=np.full(customers, np.nan),
        curves={"key": ResponseCurve("saturating", scale=8.0), "important": ResponseCurve("saturating", scale=6.0),
                "normal": ResponseCurve("saturating", scale=4.0)},
        rules={"key": Rule(("field", "tele"), 4.0, 52.0), "important": Rule(("field", "tele", "online"), 0.0, 24.0),
               "normal": Rule(("tele", "online"), 0.0, 12.0)},
        channels={"field": Channel(120.0, 1.0, 60.0), "tele": Channel(25.0, 0.45, 15.0), "online": Channel(3.0, 0.12, 0.0)},
        levels=LEVELS, rep_ids=tuple(f"R{r:03d}" for r in range(reps)), rep_hours=np.full(reps, 1600.0),
        tele_hours=40_000.0,
    )


def main(customers: int, reps: int, seconds: float) -> None:
    t = time.perf_counter()
    inputs = generate(customers, reps)
    problem = build_options(inputs)
    built = time.perf_counter() - t
    out = solve_coverage(problem, HighsEngine(), SolverOptions(time_limit=seconds, rel_gap=1e-3))
    total = time.perf_counter() - t
    ev = check_coverage(inputs, out.plan)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    print("| customers | reps | options | kept | open | status | build s | solve s | total s | gap % | peak GB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {customers:,} | {reps} | {out.options_total:,} | {out.options_kept:,} | {out.open_customers:,} "
          f"| {out.result.termination.value} | {built:.1f} | {out.result.seconds:.1f} | {total:.1f} "
          f"| {100 * out.result.gap:.4f} | {peak:.2f} |")
    print("stages:", {k: round(v, 2) for k, v in out.stages.items()}, "profit", round(ev.profit),
          "bound", round(out.result.bound), "field utilisation",
          f"{ev.rep_hours_used.sum() / inputs.rep_hours.sum():.1%}", "tele", f"{ev.tele_hours_used / inputs.tele_hours:.1%}")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(int(args[0]) if args else 100_000, int(args[1]) if len(args) > 1 else 200,
         float(args[2]) if len(args) > 2 else 60.0)
