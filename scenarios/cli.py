"""`tplan`: validate and run territory scenarios.

Exit codes: 0 plan written, 1 unexpected error, 2 invalid input, 3 proven infeasible,
4 limit reached with no plan, 5 an evaluated plan breaks a rule of its scenario.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from geodata.errors import GeodataError
from geodata.read_units import short_list
from geodata.split_units import split_parents
from model.spec import ModelError
from scenarios.display import three_decimals
from scenarios.errors import ScenarioError
from scenarios.loading import format_validation, load_scenario
from scenarios.prepare import prepare
from scenarios.schema import Scenario
from solvers import Progress, SolverError, Termination, get_engine, interrupt

# When the process began, set by the console script (scenarios.console); a run's time limit counts from it.
started_at: float | None = None
app = typer.Typer(add_completion=False, no_args_is_help=True, help="Sales territory planner.")
# Wide enough for the KPI table when output goes to a file or a CI log (80 columns would truncate it).
out = Console(width=max(shutil.get_terminal_size((140, 24)).columns, 120))
err = Console(stderr=True)
USER_ERRORS = (ScenarioError, GeodataError, ModelError, SolverError)
EXIT_INVALID, EXIT_INFEASIBLE, EXIT_NO_PLAN, EXIT_BREAKS_RULES = 2, 3, 4, 5


def _fail(error: Exception, code: int = EXIT_INVALID, scenario: Path | None = None) -> None:
    """One line per problem, and exit; a model error (no plan can exist) is prefixed with the scenario's file."""
    if scenario is not None and isinstance(error, ModelError):
        error = ModelError(f"{Path(scenario).name}: {error}")
    for line in str(error).splitlines() or ["error"]:
        err.print(f"[bold red]error:[/] {escape(line)}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code)


def _write_failed(e: Exception) -> None:
    """A run folder that could not be written (an unwritable output.dir, a full disk): where, not a traceback.
    GDAL's errors (writing the GeoPackage) are no OSError: they come as pyogrio's."""
    what = f"{e.strerror or e}: {e.filename or 'output.dir'}" if isinstance(e, OSError) else str(e).splitlines()[0]
    _fail(ScenarioError(f"cannot write the run folder ({what}); check output.dir and free space"), code=1)


def _write_errors() -> tuple[type[Exception], ...]:
    from pyogrio.errors import DataLayerError, DataSourceError

    return OSError, DataSourceError, DataLayerError


def _load(path: Path, **overrides) -> Scenario:
    """Read and validate the scenario, apply command-line solver options, and check them with the engine."""
    from scenarios.runner import solver_options

    scenario = _with_overrides(load_scenario(path), overrides)
    get_engine(scenario.solver.engine).check_options(solver_options(scenario))
    return scenario


def _with_overrides(scenario: Scenario, overrides: dict) -> Scenario:
    solver = {k: v for k, v in overrides.items() if v is not None}
    if solver:
        try:
            scenario = Scenario.model_validate(
                scenario.model_dump() | {"solver": scenario.solver.model_dump() | solver}
            )
        except ValidationError as e:
            raise ScenarioError(format_validation("command line", e)) from None
    return scenario


@app.command()
def validate(scenario: Annotated[Path, typer.Argument(help="scenario YAML file")]) -> None:
    """Check the scenario and its data without solving."""
    try:
        sc = _load(scenario)
        if sc.sweep:  # the grid's keys and values, as `tplan sweep` reads them (no point is loaded)
            from scenarios.sweep import sweep_axes

            sweep_axes(scenario, sc, [])
        prepared = prepare(sc)
    except USER_ERRORS as e:
        _fail(e, scenario=scenario)
    geo = prepared.geography
    out.print(f"[green]valid[/]: {sc.name}: {geo.n} units, {len(geo.edges)} adjacencies, "
              f"{prepared.spec.count} territories", highlight=False)
    for a, b in geo.joined:
        out.print(f"  island joined: {a} -> nearest unit {b}", highlight=False)
    split = split_parents(prepared.frame)
    if split:
        out.print(f"  split: {len(split)} unit{'s' if len(split) > 1 else ''} into {sum(split.values())} finer units "
                  f"({short_list(list(split))})", highlight=False)
    for line in prepared.homes_outside:
        out.print(f"  centre {line}", highlight=False)
    for rule in prepared.spec.balance:  # three decimals: a band of [931, 1,260] hid that 1,260 breaks 1,259.825
        out.print(f"  balance {rule.attribute}: [{three_decimals(float(np.min(rule.lower)))}, "
                  f"{three_decimals(float(np.max(rule.upper)))}] "
                  "per territory", highlight=False)
    spec = prepared.spec
    for depth, (name, count) in enumerate(spec.levels):
        per_group = spec.territories_per_group(depth)  # a group's bounds are its territories' bounds added up
        out.print(f"  nesting: {count} {name}s" + (f" in each {spec.levels[depth - 1][0]}" if depth else "") +
                  f", {per_group} territories each", highlight=False)


@app.command()
def run(
    scenario: Annotated[Path, typer.Argument(help="scenario YAML file")],
    time_limit: Annotated[float | None, typer.Option(help="seconds for the run, loading and writing included (overrides solver.time_limit); a redesign's trade-off points and coverage plan follow with their own limits (each this one unless set)")] = None,
    gap: Annotated[float | None, typer.Option(help="relative gap to stop at (overrides solver.rel_gap)")] = None,
    threads: Annotated[int | None, typer.Option(help="cores the search may use, 2: a second process for the neighbourhood search and the exact model, windows two at a time, the fixed-centre bound beside the search (overrides solver.threads)")] = None,
    seed: Annotated[int | None, typer.Option(help="random seed (overrides solver.seed)")] = None,
) -> None:
    """Solve the scenario and write a new run folder under runs/<scenario>/."""
    started = started_at if started_at is not None else time.perf_counter()
    from scenarios.runner import run_scenario

    try:
        sc = _load(scenario, time_limit=time_limit, rel_gap=gap, threads=threads, seed=seed)
        if sc.sweep:
            err.print("note: the scenario's sweep block is for `tplan sweep`; `tplan run` solves the scenario as "
                      "written, without it", highlight=False)
        with err.status("load") as status:

            now = {"stage": "load"}

            def stage(name: str) -> None:
                now["stage"] = name.split(":")[0]  # e.g. "neighbourhood search", shown with the figures below
                status.update(f"{name}")

            def progress(p: Progress) -> None:
                inc = f"{p.incumbent:,.6g}" if p.incumbent is not None else "none yet"
                bnd = f"{p.bound:,.6g}" if p.bound is not None else "-"
                gap_txt = ""
                if p.incumbent and p.bound is not None:
                    gap_txt = f"  gap {100 * max(0.0, p.incumbent - p.bound) / abs(p.incumbent):.2f}%"
                rounds = f"  cut rounds {p.round}" if p.round else ""
                status.update(f"{now['stage']} {p.elapsed:5.1f}s  incumbent {inc}  bound {bnd}{gap_txt}{rounds}")

            with interrupt.stop_on_ctrl_c():  # first Ctrl-C: keep the best plan so far; second: abort
                record = run_scenario(sc, progress=progress, stage=stage, started=started)
    except USER_ERRORS as e:
        _fail(e, scenario=scenario)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]: nothing was written")
        raise typer.Exit(130) from None
    except _write_errors() as e:  # e.g. an unwritable output.dir or a full disk: say where, not a traceback
        _write_failed(e)
    _report(record)
    if record.termination is Termination.INFEASIBLE:
        raise typer.Exit(EXIT_INFEASIBLE)
    if record.objective is None:
        raise typer.Exit(EXIT_NO_PLAN)


@app.command()
def evaluate(
    scenario: Annotated[Path, typer.Argument(help="scenario YAML file whose rules the plan must keep")],
    plan: Annotated[Path, typer.Argument(help="CSV of unit, territory (and centre, region, ... when given): "
                                              "a run's assignment.csv edited by hand, or today's alignment")],
) -> None:
    """Check a plan you bring against the scenario's rules and write its KPIs, map and report as a run."""
    from scenarios.evaluate import evaluate_plan
    from scenarios.runner import RunRecord

    try:
        sc = _load(scenario)
        with err.status("load, check and write"):
            result = evaluate_plan(sc, plan)
    except USER_ERRORS as e:
        _fail(e, scenario=scenario)
    except _write_errors() as e:
        _write_failed(e)
    _report(RunRecord(result.folder, None, result.objective, None, None, {}))
    if result.violations:
        for line in result.violations:
            err.print(f"[bold red]breaks a rule:[/] {escape(line)}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_BREAKS_RULES)
    out.print("[green]the plan keeps every rule of the scenario[/]", highlight=False)


@app.command()
def runs(directory: Annotated[Path, typer.Option("--dir", help="folder of run folders (output.dir)")] = Path("runs")) -> None:
    """List earlier runs, newest first (the index is re-synchronised with the run folders)."""
    from scenarios.run_index import sync

    try:
        rows, dropped, added = sync(directory)
    except USER_ERRORS as e:
        _fail(e)
    table = Table(title=f"{len(rows)} runs in {directory}/")
    heads = [("scenario", "scenario"), ("run", "run"), ("status", "status"), ("territories", "territories"),
             ("gap", "gap %"), ("max_deviation_pct", "max dev %"), ("relationship_moved_pct", "relationship moved %"),
             ("coverage_margin", "coverage margin")]
    for _, h in heads:  # run ids stay whole (to copy them); scenario names fold rather than lose their end
        table.add_column(h, justify="left" if h in ("scenario", "run", "status") else "right",
                         overflow="fold" if h == "scenario" else "ellipsis", no_wrap=h == "run",
                         min_width=25 if h == "run" else None)
    for r in rows:
        cells = []
        for key, _ in heads:
            v = r[key]
            if key == "status" and r["objective"] is None and v not in ("failed", "infeasible"):
                v = f"{v}, no plan"
            v = 100 * v if key == "gap" and v is not None else v
            cells.append("-" if v is None else f"{v:,.2f}" if isinstance(v, float) else str(v))
        table.add_row(*cells)
    out.print(table)
    if dropped or added:
        out.print(f"index updated: {dropped} deleted runs dropped, {added} runs added", highlight=False)


@app.command()
def compare(
    runs_or_scenarios: Annotated[list[str], typer.Argument(help="run folders, or scenario folders or files (their newest run)")],
    directory: Annotated[Path, typer.Option("--dir", help="where compare/<time>/ is written")] = Path("runs"),
) -> None:
    """Put two or more runs side by side: plan KPIs, per-territory deltas, units and accounts that differ."""
    from scenarios.compare import compare as run_compare

    try:
        table, deltas, diff, folder = run_compare(runs_or_scenarios, directory)
    except USER_ERRORS as e:
        _fail(e)
    view = Table(title="plan KPIs")
    view.add_column("kpi")
    for c in table.columns:
        view.add_column(c, justify="right")
    for kpi, row in table.iterrows():
        view.add_row(str(kpi), *["-" if pd_isna(v) else f"{v:,.2f}" if isinstance(v, float) else str(v) for v in row])
    out.print(view)
    units = int((diff["kind"] == "unit").sum()) if len(diff) else 0
    accounts = int((diff["kind"] == "account").sum()) if len(diff) else 0
    out.print(f"first two runs differ in {units} units and {accounts} accounts (territories matched by name)",
              highlight=False)
    if table.attrs.get("note"):
        err.print(f"[yellow]note[/]: {table.attrs['note']}", highlight=False)
    out.print(f"written: {folder} (compare.csv, compare_territories.csv, differences.csv, compare.html)", highlight=False)


@app.command()
def sweep(
    scenario: Annotated[Path, typer.Argument(help="scenario YAML file")],
    set_: Annotated[list[str], typer.Option("--set", help="key=a,b,c or key=lo..hi; repeat for a grid")] = [],
    workers: Annotated[int | None, typer.Option(help="local worker processes (default: cores)")] = None,
    time_limit: Annotated[float | None, typer.Option(help="seconds per point, its loading and writing included (overrides sweep.time_limit)")] = None,
    dask: Annotated[str | None, typer.Option(help="Dask scheduler address, e.g. tcp://host:8786")] = None,
) -> None:
    """Run the scenario at every point of a grid (e.g. --set territories.count=8..14); one run folder per
    point, plus sweep.csv, capacity.png and sweep.html."""
    import os

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from scenarios.sweep import points, run_sweep, sweep_axes

    try:
        if workers is not None and workers < 1:
            raise ScenarioError("--workers: give 1 or more worker processes")
        if time_limit is not None and time_limit <= 0:
            raise ScenarioError("--time-limit: give more than 0 seconds per point")
        sc = _load(scenario)
        cfg = sc.sweep
        axes = sweep_axes(scenario, sc, set_)
        workers = workers or (cfg.workers if cfg else None) or os.cpu_count() or 1
        time_limit = time_limit or (cfg.time_limit if cfg else None)
        dask = dask or (cfg.dask if cfg else None)
        total = len(points(axes))
        with Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      TextColumn("{task.description}"), console=err) as bar:
            task = bar.add_task("", total=total)

            def done(row: dict) -> None:
                point = ", ".join(f"{k}={row[k]}" for k in (a.key for a in axes))
                bar.update(task, advance=1, description=f"last: {point} {row['status']}")

            rows, folder = run_sweep(scenario, axes, workers, time_limit, dask, done)
    except USER_ERRORS as e:
        _fail(e)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]: the sweep table was not written; points that had ended keep their run "
                  "folders, and points under way wrote theirs with the best plan so far (status interrupted)")
        raise typer.Exit(130) from None
    failed = [r for r in rows if r["status"] == "failed"]
    for r in failed:
        err.print(f"[red]failed[/] {', '.join(f'{a.key}={r[a.key]}' for a in axes)}: {escape(str(r['error']))}",
                  highlight=False)
    out.print(f"{len(rows)} points, {len(failed)} failed; written: {folder} (sweep.csv, capacity.png, sweep.html)",
              highlight=False)
    if len(failed) == len(rows):
        raise typer.Exit(1)


def pd_isna(v) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def _report(record) -> None:
    import json

    manifest = json.loads((record.folder / "manifest.json").read_text())
    if record.objective is None:
        why = manifest.get("infeasible_because", "stopped before a plan was found"
                           if record.termination is Termination.INTERRUPTED else "no plan was found within the limit")
        breaks = manifest.get("closest_plan_breaks")
        if breaks and "infeasible_because" not in manifest:
            more = f" (and {len(breaks) - 3} more)" if len(breaks) > 3 else ""
            fixed = (manifest["resolved_scenario"].get("territories") or {}).get("centres") not in (None, "free")
            locks = any("locked" in b for b in breaks)
            why += (f"; the closest plan found breaks {'; '.join(breaks[:3])}{more}. "
                    + ("Change the locks named, widen" if locks else "Widen") + " the bands named, "
                    + ("move or drop a fixed centre, " if fixed else "") + "or give a longer --time-limit")
        err.print(f"[bold red]{record.termination.value}[/]: {why}", highlight=False)
        err.print(f"run record: {record.folder}", highlight=False)
        return
    gap = f"{100 * record.gap:.3f}%" if record.gap is not None else "unknown"
    status = manifest["status"]
    asked = (manifest.get("solver_options") or {}).get("rel_gap")
    if status == "optimal" and record.gap is not None and asked and record.gap > 1e-4:  # --gap 0.1: within 10%, no more
        status = f"optimal within the {100 * asked:g}% gap asked"
    table = Table(title=f"{manifest['scenario']}: " + ("evaluated plan" if status == "evaluated" else f"{status}, gap {gap}"))
    kpis = json.loads((record.folder / "kpis.json").read_text())["territories"]
    attributes = [r["attribute"] for r in manifest["resolved_scenario"]["balance"]]
    unit = manifest["geography"]["distance_unit"]
    columns = [("territory", "territory"), ("centre", "centre"), ("units", "units")]
    for a in attributes:
        columns += [(a, a), (f"{a}_deviation_pct", "dev %")]
    columns += [(f"mean_distance_{unit}", f"mean {unit}"), (f"max_distance_{unit}", f"max {unit}"), ("contiguous", "connected")]
    for _, header in columns:
        table.add_column(header, justify="left" if header in ("territory", "centre") else "right")
    for row in kpis:
        cells = []
        for key, header in columns:
            v = row[key]
            cells.append(f"{v:+.2f}" if header == "dev %" else f"{v:,.0f}" if isinstance(v, float) and (
                abs(v) >= 1000 or v.is_integer()) else f"{v:,.1f}" if isinstance(v, float)
                else "yes" if v is True else "NO" if v is False else str(v))  # counts whole: 534, not 534.0
        table.add_row(*cells)
    out.print(table)
    bound = f"{record.bound:,.6g}" if record.bound is not None else "none proven"
    out.print(f"objective {record.objective:,.6g}" + ("" if status == "evaluated" else f"  lower bound {bound}  gap {gap}"),
              highlight=False)
    totals = json.loads((record.folder / "kpis.json").read_text())["plan"]
    for level in manifest["resolved_scenario"]["territories"].get("nesting") or []:
        name = level["name"]
        worst = ", ".join(f"{a} worst deviation {totals[f'{name}_{a}_max_abs_deviation_pct']:.2f}%" for a in attributes)
        joined = "all contiguous" if totals[f"{name}s_contiguous"] else "NOT all contiguous"
        out.print(f"{name}s: {totals[f'{name}s']}, {worst}, {joined} (levels.csv)", highlight=False)
    cov = manifest.get("coverage")
    if cov:
        today = f" (today's plan {cov['current_margin']:,.0f})" if cov.get("current_margin") is not None else ""
        tele = f", tele {100 * cov['tele_hours_used'] / cov['tele_hours_available']:.0f}% used" \
            if cov.get("tele_hours_available") else ""
        moved = f", {cov['shift']['field_visits_to_tele_pct']:.0f}% of today's field visits go to tele" \
            if cov.get("shift") else ""
        cov_gap = "unknown" if cov["gap"] is None else f"{100 * cov['gap']:.3f}%"
        out.print(f"coverage: margin {cov['margin']:,.0f}{today}, gap {cov_gap} "
                  f"({cov['status']}), field {100 * cov['field_hours_used'] / max(cov['field_hours_available'], 1e-9):.0f}% "
                  f"used{tele}{moved}", highlight=False)
        if cov.get("note"):
            out.print(f"coverage note: {cov['note']}", highlight=False)
    points = manifest.get("tradeoff") or []
    skipped = [p["point"] for p in points if p.get("status") == "skipped"]
    if skipped:  # (Ctrl-C during the trade-off keeps the main plan; the points left are listed, not solved)
        out.print(f"trade-off: stopped by Ctrl-C, {len(skipped)} of {len(points)} points skipped "
                  f"({', '.join(skipped[:4])}{' …' if len(skipped) > 4 else ''}; tradeoff.csv marks them)", highlight=False)
    out.print(f"written: {record.folder}", highlight=False)


if __name__ == "__main__":
    app()
