"""Territory engine benchmark: real county instances, proven optimality and time.

Run with `make bench` (or `python tests/benchmarks/bench_territories.py [--quick] [--time-limit S]`).
Writes a markdown table to stdout and to tests/benchmarks/out/territories.md; every plan is
checked by the independent checker before it is counted.
"""

from __future__ import annotations

import argparse
import platform
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import libpysal

from geodata.build import build_geography
from geodata.read_units import read_units
from model.check import plan_violations
from model.search import solve_territories
from model.spec import BalanceRule, TerritorySpec, balance_bounds
from solvers import SolverOptions
from solvers.highs import HighsEngine

OUT = Path(__file__).parent / "out"
STATES = {
    "NC": ("sids2.shp", "FIPS", "BIR79", "EPSG:4326"),
    "GA": ("G_utm.shp", "AreaKey", "TotPop90", "EPSG:26916"),
}


def state_spec(state: str, k: int, tolerance: float) -> TerritorySpec:
    shp, key, attr, crs = STATES[state]
    frame = read_units(Path(libpysal.examples.get_path(shp)), key, [attr], crs=crs)
    geo = build_geography(frame, [attr])
    lo, hi = balance_bounds(geo.attributes[attr], k, tolerance)
    return TerritorySpec(geo, k, (BalanceRule(attr, lo, hi, tolerance),), weight=geo.attributes[attr], power=2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--quick", action="store_true", help="a few instances only")
    parser.add_argument("--states", default="NC,GA")
    parser.add_argument("--ks", default="2,4,6,8,10")
    parser.add_argument("--tolerances", default="0.05,0.005")
    args = parser.parse_args()
    ks = [int(k) for k in args.ks.split(",")]
    tols = [float(t) for t in args.tolerances.split(",")]
    if args.quick:
        ks, tols = [2, 6], [0.05]
    rows = []
    engine = HighsEngine()
    header = "| instance | units | k | balance | status | objective | bound | gap % | time s | first valid plan s | checked |"
    print(header)
    print("|" + "---|" * 11)
    for state in args.states.split(","):
        for tol in tols:
            for k in ks:
                spec = state_spec(state, k, tol)
                first: list[float] = []
                t0 = time.perf_counter()

                def progress(p, first=first, t0=t0):
                    if p.incumbent is not None and not first:
                        first.append(time.perf_counter() - t0)

                outcome = solve_territories(spec, engine, SolverOptions(time_limit=args.time_limit, rel_gap=1e-4),
                                            progress=progress)
                seconds = time.perf_counter() - t0
                r = outcome.result
                ok = outcome.plan is not None and not plan_violations(spec, outcome.plan)
                heur = outcome.stage_seconds.get("heuristic")
                first_plan = heur if outcome.heuristic_objective is not None else (first[0] if first else None)
                row = (
                    f"| {state} | {spec.geography.n} | {k} | ±{100 * tol:g}% | {r.termination.value} | "
                    f"{r.objective:.6g} | {r.bound:.6g} | {100 * (r.gap or 0):.3f} | {seconds:.1f} | "
                    f"{'-' if first_plan is None else f'{first_plan:.1f}'} | {'yes' if ok else 'NO'} |"
                    if r.objective is not None and r.bound is not None
                    else f"| {state} | {spec.geography.n} | {k} | ±{100 * tol:g}% | {r.termination.value} | - | - | - | "
                    f"{seconds:.1f} | - | {'yes' if ok else '-'} |"
                )
                print(row, flush=True)
                rows.append(row)
    OUT.mkdir(exist_ok=True)
    meta = (
        f"Measured {date.today().isoformat()} on {platform.machine()} ({platform.processor() or 'cpu'}), "
        f"{__import__('os').cpu_count()} cores, Python {platform.python_version()}, HiGHS {engine.version()}, "
        f"time limit {args.time_limit:g} s, 1 thread, gap target 0.01%.\n\n"
    )
    (OUT / "territories.md").write_text(meta + header + "\n|" + "---|" * 11 + "\n" + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
