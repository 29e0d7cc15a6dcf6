"""The exact phase alone, with and without pocket cuts (and with one or two processes), from the same plan and pairs.

    python tests/benchmarks/bench_exact_phase.py --cases GA:10:0.05,GA:6:0.005 --seconds 200
    python tests/benchmarks/bench_exact_phase.py --cases GA:6:0.005 --threads 1,2 --pockets on

For each case (state:k:tolerance, the county instances of bench_territories.py) a 60 s search is run
once to get the plan and the pairs its final exact model starts from; then that model is solved for
`--seconds` with pocket cuts (model.contiguity) and with them switched off (`--pockets`), for each
`--threads` count (2: a second HiGHS process, solvers.portfolio). Prints a markdown table
(status, objective, bound, gap, contiguity rounds, rows added, seconds) and writes it to out/.
"""

from __future__ import annotations

import argparse
import time

import model.search as search
import model.territory_model as territory_model
from bench_territories import OUT, state_spec
from model.check import plan_violations
from solvers import SolverOptions
from solvers.highs import HighsEngine

HEADER = "| instance | k | threads | balance | pocket cuts | status | objective | bound | gap % | rounds | rows added | time s | checked |"


def final_exact_inputs(spec, engine):
    """The plan and pairs the search hands its final exact model (the last solve of the whole spec)."""
    seen = {}
    solve_exact = search.solve_exact

    def record(sub, engine_, options, warm=None, progress=None, allowed=None):
        if sub is spec:
            seen.update(warm=warm, allowed=None if allowed is None else allowed.copy())
        return solve_exact(sub, engine_, options, warm, progress, allowed)

    search.solve_exact = record
    try:
        search.solve_territories(spec, engine, SolverOptions(time_limit=60, rel_gap=1e-4))
    finally:
        search.solve_exact = solve_exact
    return seen.get("warm"), seen.get("allowed")


def row(name, spec, warm, allowed, seconds, engine, pockets: bool, threads: int = 1) -> str:
    strike = territory_model.POCKET_STRIKE
    territory_model.POCKET_STRIKE = strike if pockets else 10**9
    try:
        t = time.perf_counter()
        plan, r, _ = search.solve_exact(spec, engine, SolverOptions(time_limit=seconds, rel_gap=1e-4, threads=threads),
                                        warm, None, allowed)
        took = time.perf_counter() - t
    finally:
        territory_model.POCKET_STRIKE = strike
    ok = plan is not None and not plan_violations(spec, plan)
    fmt = (lambda v: "-" if v is None else f"{v:.6g}")
    gap = "-" if r.gap is None else f"{100 * r.gap:.3f}"
    return (f"| {name} | {spec.count} | {threads} | ±{100 * spec.balance[0].tolerance:g}% | {'on' if pockets else 'off'} | "
            f"{r.termination.value} | {fmt(r.objective)} | {fmt(r.bound)} | {gap} | {r.rounds} | {r.lazy_cuts} | "
            f"{took:.1f} | {'yes' if ok else 'NO PLAN' if plan is None else 'INVALID'} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", default="GA:10:0.05,GA:6:0.005,GA:6:0.05,NC:10:0.05")
    parser.add_argument("--seconds", type=float, default=200.0)
    parser.add_argument("--threads", default="1", help="comma-separated: each case is solved with each count")
    parser.add_argument("--pockets", choices=("both", "on", "off"), default="both")
    args = parser.parse_args()
    engine = HighsEngine()
    rows = []
    print(HEADER)
    print("|" + "---|" * 13)
    for case in args.cases.split(","):
        state, k, tol = case.split(":")
        spec = state_spec(state, int(k), float(tol))
        warm, allowed = final_exact_inputs(spec, engine)
        for threads in (int(t) for t in args.threads.split(",")):
            for pockets in {"both": (True, False), "on": (True,), "off": (False,)}[args.pockets]:
                rows.append(row(state, spec, warm, allowed, args.seconds, engine, pockets, threads))
                print(rows[-1], flush=True)
    OUT.mkdir(exist_ok=True)
    (OUT / "exact_phase.md").write_text(f"{args.seconds:g} s per solve\n\n{HEADER}\n|" + "---|" * 13 + "\n"
                                        + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
