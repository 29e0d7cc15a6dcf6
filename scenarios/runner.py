"""Turn a scenario into a run folder: prepare data, search, check the plan independently, write.

A run is written to a hidden temporary folder and renamed into place at the end, so a failed or
interrupted run leaves no half folder, and a new run never overwrites an earlier one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import platform
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

import numpy as np
import yaml

from geodata.split_units import split_parents
from model.check import check_plan, plan_violations
from model.coverage import build_options, check_coverage
from model.coverage_search import solve_coverage
from model.plan import Plan
from model.search import solve_territories
from model.spec import TerritorySpec
from scenarios import run_index
from scenarios.coverage_inputs import coverage_inputs
from scenarios.coverage_outputs import write_coverage
from scenarios.diagnose import diagnose_infeasible
from scenarios.json_files import strict_json
from scenarios.new_folder import NewFolder
from scenarios.outputs import write_exports, write_plan
from scenarios.prepare import Prepared, prepare
from scenarios.report import write_report
from scenarios.schema import Scenario
from scenarios.search_log import SearchLog
from scenarios.tradeoff import run_tradeoff
from solvers import Progress, SolverOptions, Termination, get_engine, interrupt


# Checking the plan and writing a run folder: above what five plans took with the other core busy
# (2026-12-03, map drawn once for map.png and report.pdf): Georgia 1.1 s (159 units, 10 territories), US
# counties with ZIP cells 6.8 s (4,619, 100) and 14.3 s (7,995, 180 in 6 x 5 x 6), ZIP cells 18.5 s
# (32,984, 200) and 25.1 s (32,984, 180 in 6 x 5 x 6); estimates 1.3, 6.9, 18.8, 23.6 and 30.0 s. On the
# slower machine of 2026-12-03 (night; Python about twice as slow) Georgia took 2.2 s: the fixed part is 1.5 s.
WRITE_SECONDS = 1.5
WRITE_SECONDS_PER_UNIT = 0.00045
WRITE_SECONDS_PER_TERRITORY = 0.04
# Each region and district adds its layer rows, outlines, map colours and report lines (36 groups in 6 x 5 x 6).
WRITE_SECONDS_PER_GROUP = 0.2


@dataclass(frozen=True)
class RunRecord:
    """Where a run went and how it ended."""

    folder: Path
    termination: Termination
    objective: float | None
    bound: float | None
    gap: float | None
    totals: dict


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def solver_options(scenario: Scenario, log_path: Path | None = None) -> SolverOptions:
    s = scenario.solver
    return SolverOptions(
        time_limit=s.time_limit, rel_gap=s.rel_gap, threads=s.threads, seed=s.seed,
        log_path=str(log_path) if log_path else None, extra=dict(s.options),
    )


def write_seconds(prepared: Prepared) -> float:
    """What checking and writing this plan's run folder will take (see WRITE_SECONDS)."""
    spec = prepared.spec
    groups = int(np.cumprod([c for _, c in spec.levels]).sum()) if spec.levels else 0  # 6 + 30 for 6 x 5 x 6
    return (WRITE_SECONDS + WRITE_SECONDS_PER_UNIT * spec.geography.n + WRITE_SECONDS_PER_TERRITORY * spec.count
            + WRITE_SECONDS_PER_GROUP * groups)


def search_options(options: SolverOptions, spent: float, writing: float) -> SolverOptions:
    """The options for the search: its time limit shortened by the seconds already `spent` (imports when
    started by the console script, loading) and by what `writing` the run will take, so that the run
    ends within the limit the user gave."""
    if options.time_limit is None:
        return options
    return replace(options, time_limit=max(1.0, options.time_limit - spent - writing))


PACKAGES = ("tplan", "pyomo", "highspy", "ortools", "geopandas", "shapely", "libpysal", "pandas", "numpy", "scipy",
            "numba", "pyproj", "pyogrio", "pydantic", "matplotlib")


# An infeasible run may overrun its time limit to say which rule makes it so: at least this share of the limit
# (and at most this many seconds) for the re-solves without each rule. On the US counties with fixed centres the
# proof came at 89 s of a 90 s run and the message could only say that no time was left, at every limit.
DIAGNOSE_MIN_SHARE, DIAGNOSE_MIN_SECONDS = 0.5, 120.0


def versions() -> dict[str, str]:
    """Python, every library the run's numbers depend on, and the code itself: a digest of tplan's source files
    (it tells two commits apart, and a changed file, where the version number 0.1.0 cannot) and the git commit."""
    out = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            out[pkg] = version(pkg)
        except Exception:
            out[pkg] = "unknown"
    return out | _code_identity()


@functools.cache
def _code_identity() -> dict[str, str]:
    """The digest of tplan's source files and the git commit, once per process (a sweep worker runs many points)."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for file in sorted(f for part in ("geodata", "model", "solvers", "scenarios") for f in (root / part).glob("*.py")):
        digest.update(file.name.encode() + file.read_bytes())
    out = {"tplan_source_sha256": digest.hexdigest()[:16]}
    commit = _git_commit(root)
    if commit:
        out["tplan_git_commit"] = commit
    return out


def _git_commit(root: Path) -> str | None:
    """The checkout's commit (with '+changes' when files differ from it), or None outside a git checkout."""
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "--no-optional-locks", "-C", str(root), "status", "--porcelain",
                                "--untracked-files=no"],  # no index.lock: never in the way of the user's own git
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def geography_record(prepared: Prepared) -> dict:
    """The manifest's account of the geography: units, adjacencies, islands joined, units split."""
    geo = prepared.geography
    return {"units": geo.n, "edges": len(geo.edges), "islands_joined": [list(p) for p in geo.joined],
            "units_split": split_parents(prepared.frame), "distance_unit": geo.distance_unit}


def input_record(prepared: Prepared) -> dict:
    """Every input file by role, with its sha256."""
    return {role: {"path": p, "sha256": sha256(p)} for role, p in prepared.inputs.items()}


def run_digest(resolved: dict, inputs: dict) -> str:
    """Eight hex digits naming a run by its resolved scenario and its inputs' contents."""
    body = {"scenario": resolved, "inputs": {r: v["sha256"] for r, v in inputs.items()}}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:8]


def run_scenario(
    scenario: Scenario,
    progress: Callable[[Progress], None] | None = None,
    stage: Callable[[str], None] | None = None,
    started: float | None = None,
) -> RunRecord:
    """Run a validated scenario end to end and return where its folder is. The time limit counts from
    `started` (a `time.perf_counter()` value; default now)."""
    timings: dict[str, float] = {}
    t = time.perf_counter()
    started = t if started is None else started
    history = SearchLog(started)

    def say(message: str) -> None:
        history.stage(message)
        if stage is not None:
            stage(message)

    def heard(p: Progress) -> None:
        history.progress(p)
        if progress is not None:
            progress(p)

    say("load")
    prepared = prepare(scenario)
    timings["load"] = time.perf_counter() - t
    interrupt.check()  # Ctrl-C while loading: nothing to keep, nothing is written
    inputs = input_record(prepared)
    resolved = scenario.model_dump(mode="json")
    digest = run_digest(resolved, inputs)

    root = Path(scenario.output.dir) / (scenario.name or "scenario")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    folder = NewFolder(root, f"{stamp}-{digest}")
    with folder as tmp:
        record = _solve_and_write(prepared, tmp, heard, say, timings, resolved, inputs, started)
        history.end(record["termination"].value, record["objective"], record["bound"])
        (tmp / "search.log").write_text(history.text())
        log = tmp / "solver.log"
        if not log.exists():  # the search ended before HiGHS ran (Ctrl-C, or heuristics and bounds alone)
            log.write_text(f"HiGHS did not run in this search (status {record['termination'].value}): the plan and "
                           "bound come from the heuristics and the Lagrangian bound; see bound_method in manifest.json\n")
    final = folder.path
    try:
        run_index.record(root.parent, final)
    except (sqlite3.Error, OSError):
        pass  # the folder is the record; `tplan runs` re-synchronises the index from the folders
    return RunRecord(final, record["termination"], record["objective"], record["bound"], record["gap"], record["totals"])


def _solve_and_write(prepared: Prepared, folder: Path, progress, say, timings, resolved, inputs,
                     started: float) -> dict:
    scenario = prepared.scenario
    (folder / "scenario.yaml").write_text(yaml.safe_dump(resolved, sort_keys=False))
    options = solver_options(scenario, folder / "solver.log")
    engine = get_engine(scenario.solver.engine)
    t = time.perf_counter()
    search = search_options(options, t - started, write_seconds(prepared))
    outcome = solve_territories(prepared.spec, engine, search, progress=progress, stage=say)
    timings["solve"] = time.perf_counter() - t
    timings.update({f"solve.{k}": v for k, v in outcome.stage_seconds.items()})
    result = outcome.result
    manifest = {
        "scenario": scenario.name,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "resolved_scenario": resolved,
        "inputs": inputs,
        "versions": versions() | {"highs": engine.version()},
        "solver_options": {
            "engine": engine.name, "time_limit": options.time_limit, "search_time_limit": search.time_limit,
            "rel_gap": options.rel_gap,
            "threads": options.threads, "seed": options.seed, "extra": options.extra,
        },
        "geography": geography_record(prepared),
        "status": result.termination.value,
        "objective": result.objective,
        "lower_bound": result.bound,
        "gap": result.gap,
        "bound_method": outcome.bound_method,
        "heuristic_objective": outcome.heuristic_objective,
        "first_plan_seconds": outcome.first_plan_seconds,
        "pairs_after_fixing": list(outcome.fixing_kept) if outcome.fixing_kept else None,
        "solver": result.summary(),
        "timings_seconds": timings,
    }
    totals: dict = {}
    if outcome.plan is None:
        if result.termination is Termination.INFEASIBLE:
            say("diagnose")
            t = time.perf_counter()
            # (each re-solve overruns its limit by a little: building, the first plan's checks)
            left = None if options.time_limit is None else options.time_limit - (t - started) - 2 * WRITE_SECONDS
            if left is not None:  # a proof found late (the first-plan stages had the limit) still gets its cause named
                left = max(left, min(DIAGNOSE_MIN_SECONDS, DIAGNOSE_MIN_SHARE * options.time_limit))
            manifest["infeasible_because"] = diagnose_infeasible(prepared.spec, engine, options,
                                                                 None if left is None else max(0.0, left))
            timings["diagnose"] = time.perf_counter() - t
        elif outcome.closest is not None:
            manifest["closest_plan_breaks"] = closest_breaks(prepared.spec, outcome.closest)
        write_manifest(folder, manifest, timings)
        return {"termination": result.termination, "objective": None, "bound": result.bound, "gap": None,
                "totals": totals, "manifest": manifest}
    say("check")
    check_plan(prepared.spec, outcome.plan)
    say("write")
    t = time.perf_counter()
    totals = write_plan(prepared, outcome.plan, folder)
    timings["write"] = time.perf_counter() - t
    manifest["plan"] = totals
    manifest["plan_checked"] = True
    if prepared.homes_outside:
        manifest["centres_outside_every_unit"] = list(prepared.homes_outside)
    if prepared.redesign is not None:
        manifest["accounts_outside_every_unit"] = list(prepared.outside_accounts)
        if scenario.disruption is not None and scenario.disruption.tradeoff is not None:
            t = time.perf_counter()
            frontier = run_tradeoff(prepared, engine, options, folder, say, start=outcome.plan)
            timings["tradeoff"] = time.perf_counter() - t
            manifest["tradeoff"] = frontier.to_dict(orient="records")
        if scenario.coverage is not None:
            t = time.perf_counter()
            manifest["coverage"] = _coverage(prepared, outcome.plan, engine, options, folder, say)
            timings["coverage"] = time.perf_counter() - t
    say("exports and report")
    t = time.perf_counter()
    write_exports(prepared, outcome.plan, folder, scenario.output.gis)
    if scenario.output.report:
        write_report(prepared, outcome.plan, folder, manifest)
    timings["exports_and_report"] = time.perf_counter() - t
    write_manifest(folder, manifest, timings)
    return {"termination": result.termination, "objective": result.objective, "bound": result.bound,
            "gap": result.gap, "totals": totals, "manifest": manifest}


def closest_breaks(spec: TerritorySpec, plan: Plan) -> list[str]:
    """What the least unbalanced plan of a run that found no valid one breaks, territories named as the scenario
    names them (fixed centres)."""
    names = dict(zip(spec.centres, spec.territory_names())) if spec.centres is not None else None
    return plan_violations(spec, plan, names)


def _coverage(prepared: Prepared, plan, engine, options: SolverOptions, folder: Path, say) -> dict:
    """Channel and contacts per customer for the new plan's reps; checked, then written."""
    cfg = prepared.scenario.coverage
    say("coverage: channel and contacts per customer")
    geo = prepared.geography
    inputs = coverage_inputs(cfg, prepared.coverage, prepared.redesign, plan, geo.distance, geo.distance_unit)
    problem = build_options(inputs)
    cover_options = replace(options, time_limit=cfg.time_limit or options.time_limit, rel_gap=cfg.rel_gap, log_path=None)
    outcome = solve_coverage(problem, engine, cover_options)
    check_coverage(inputs, outcome.plan)
    today = coverage_inputs(cfg, prepared.coverage, prepared.redesign, None, geo.distance, geo.distance_unit, today=True)
    return write_coverage(folder, inputs, prepared.coverage, outcome, [r.status for r in prepared.redesign.reps], today)


def write_manifest(folder: Path, manifest: dict, timings: dict) -> None:
    manifest["timings_seconds"] = {k: round(v, 3) for k, v in timings.items()}
    (folder / "manifest.json").write_text(strict_json(manifest, indent=2))
