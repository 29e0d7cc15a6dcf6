"""Territory engine benchmark: real county instances (and, with --scale, generated tract-like ones).

    python tests/benchmarks/bench_territories.py                  # NC and GA counties, k 2..10, ±5% and ±0.5%
    python tests/benchmarks/bench_territories.py --scale          # 500 and 1,000 generated cells, 600 s each
    python tests/benchmarks/bench_territories.py --threads 2      # the exact model in two processes (both cores)
    python tests/benchmarks/bench_territories.py --states NC --ks 10 --tolerances 0.005 --seed 1   # one row, seed 1

Prints a markdown table and writes it to tests/benchmarks/out/; every plan is checked by the
independent checker before it is counted.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
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
HEADER = ("| instance | units | k | balance | status | objective | bound | gap % | time s "
          "| first valid plan s | pairs after fixing | checked |")


def spec_for(geo, attribute: str, k: int, tolerance: float) -> TerritorySpec:
    lo, hi = balance_bounds(geo.attributes[attribute], k, tolerance)
    return TerritorySpec(geo, k, (BalanceRule(attribute, lo, hi, tolerance),), weight=geo.attributes[attribute], power=2)


def state_spec(state: str, k: int, tolerance: float) -> TerritorySpec:
    shp, key, attr, crs = STATES[state]
    frame = read_units(Path(libpysal.examples.get_path(shp)), key, [attr], crs=crs)
    return spec_for(build_geography(frame, [attr]), attr, k, tolerance)


def run_row(name: str, spec: TerritorySpec, time_limit: float, engine: HighsEngine, threads: int = 1,
            seed: int = 0) -> str:
    """Solve one instance and format its table row."""
    t0 = time.perf_counter()
    options = SolverOptions(time_limit=time_limit, rel_gap=1e-4, threads=threads, seed=seed)
    outcome = solve_territories(spec, engine, options)
    seconds = time.perf_counter() - t0
    r = outcome.result
    ok = outcome.plan is not None and not plan_violations(spec, outcome.plan)
    tol = spec.balance[0].tolerance
    first = "-" if outcome.first_plan_seconds is None else f"{outcome.first_plan_seconds:.1f}"
    kept = "-" if outcome.fixing_kept is None else f"{100 * outcome.fixing_kept[0] / outcome.fixing_kept[1]:.0f}%"
    fmt = (lambda v: "-" if v is None else f"{v:.6g}")
    gap = "-" if r.gap is None else f"{100 * r.gap:.3f}"
    return (f"| {name} | {spec.geography.n} | {spec.count} | ±{100 * tol:g}% | {r.termination.value} | "
            f"{fmt(r.objective)} | {fmt(r.bound)} | {gap} | {seconds:.1f} | {first} | {kept} | "
            f"{'yes' if ok else 'NO PLAN' if outcome.plan is None else 'INVALID'} |")


def write_table(name: str, rows: list[str], time_limit: float, engine: HighsEngine, threads: int = 1,
                seed: int = 0) -> None:
    OUT.mkdir(exist_ok=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    meta = (
        f"Measured {date.today().isoformat()} on {platform.machine()} ({platform.processor() or 'cpu'}), "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, HiGHS {engine.version()}, "
        f"time limit {time_limit:g} s per instance, {threads} thread{'s' if threads > 1 else ''}, gap target 0.01%, seed {seed}, peak memory {peak_mb:.0f} MB.\n\n"
    )
    (OUT / f"{name}.md").write_text(meta + HEADER + "\n|" + "---|" * 12 + "\n" + "\n".join(rows) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--time-limit", type=float, default=None)
    parser.add_argument("--states", default="NC,GA")
    parser.add_argument("--ks", default="2,4,6,8,10")
    parser.add_argument("--tolerances", default="0.05,0.005")
    parser.add_argument("--scale", action="store_true", help="generated 500 and 1,000-unit instances instead")
    parser.add_argument("--sizes", default="500,1000")
    parser.add_argument("--scale-ks", default="10")
    parser.add_argument("--threads", type=int, default=1, help="solver threads (2: a second process for the neighbourhood search and the exact model)")
    parser.add_argument("--seed", type=int, default=0, help="the search's random seed (solver.seed)")
    args = parser.parse_args()
    engine = HighsEngine()
    rows: list[str] = []
    print(HEADER)
    print("|" + "---|" * 12)
    if args.scale:
        from synthetic import georgia_cells

        limit = args.time_limit or 600.0
        for n in [int(s) for s in args.sizes.split(",")]:
            frame = georgia_cells(n, seed=0).rename_axis("unit")
            geo = build_geography(frame, ["potential"])
            for k in [int(k) for k in args.scale_ks.split(",")]:
                rows.append(run_row(f"GA cells {n}", spec_for(geo, "potential", k, 0.05), limit, engine, args.threads,
                                    args.seed))
                print(rows[-1], flush=True)
        write_table("scale", rows, limit, engine, args.threads, args.seed)
        return
    limit = args.time_limit or 60.0
    for state in args.states.split(","):
        for tol in [float(t) for t in args.tolerances.split(",")]:
            for k in [int(k) for k in args.ks.split(",")]:
                rows.append(run_row(state, state_spec(state, k, tol), limit, engine, args.threads, args.seed))
                print(rows[-1], flush=True)
    write_table("territories", rows, limit, engine, args.threads, args.seed)


if __name__ == "__main__":
    main()
