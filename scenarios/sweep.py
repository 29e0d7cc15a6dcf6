"""Sweep capacity options: run a scenario at every point of a grid of key values, in local worker
processes or on a Dask distributed cluster. Every point is a normal run folder; the sweep writes one
table (sweep.csv), a capacity curve (capacity.png) and sweep.html under <output.dir>/<name>/sweeps/."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import multiprocessing
import os
import re
import signal
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, get_args, get_origin

import yaml
from pydantic import BaseModel

from scenarios.errors import ScenarioError
from scenarios.loading import load_scenario
from scenarios.new_folder import NewFolder
from scenarios.schema import Scenario
from solvers import interrupt

DASK_CONNECT_SECONDS = 10
# sweep.csv after the swept keys; gap_pct is a percent, as the other _pct columns and compare's gap_pct
COLUMNS = ["status", "objective", "gap_pct", "max_deviation_pct", "relationship_moved_pct", "coverage_margin",
           "expected_contribution", "cost", "run", "seconds", "error"]


@dataclass(frozen=True)
class Axis:
    key: str  # dotted scenario key, e.g. territories.count
    values: tuple[Any, ...]
    where: str = "--set"  # where the grid was given, for messages: "--set" or "<file>: sweep.values:"


def _schema_has(model: type[BaseModel], parts: list[str]) -> bool:
    """Whether the dotted key names a field of the schema (through nested models)."""
    field = model.model_fields.get(parts[0])
    if field is None:
        return False
    if len(parts) == 1:
        return True
    for sub in _models_in(field.annotation):
        if _schema_has(sub, parts[1:]):
            return True
    return False


def _models_in(annotation) -> list[type[BaseModel]]:
    """The models a field holds directly (not inside a list: a sweep sets one value per key)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) in (list, tuple, dict):
        return []
    return [m for a in getattr(annotation, "__args__", ()) for m in _models_in(a)]


def _in_a_list(parts: list[str]) -> str | None:
    """The list a dotted key reaches into (balance in balance.tolerance), or None."""
    model: type[BaseModel] = Scenario
    for i, part in enumerate(parts[:-1]):
        field = model.model_fields.get(part)
        if field is None:
            return None
        if get_origin(field.annotation) is list or any(get_origin(a) is list for a in get_args(field.annotation)):
            return ".".join(parts[: i + 1])
        models = _models_in(field.annotation)
        if not models:
            return None
        model = models[0]
    return None


def sweep_axes(path: Path, scenario: Scenario, sets: list[str]) -> list[Axis]:
    """The grid: the --set options, else the scenario's sweep.values; an error names the one it came from."""
    if sets:
        given = [_key_and_spec(text) for text in sets]
        keys = [key for key, _ in given]
        twice = next((key for key in keys if keys.count(key) > 1), None)
        if twice:
            raise ScenarioError(f"--set {twice}: given twice; give all its values in one --set, "
                                f"e.g. --set {twice}=8,9")
        return [parse_axis(key, spec) for key, spec in given]
    if scenario.sweep:
        return [parse_axis(key, spec, f"{path.name}: sweep.values:") for key, spec in scenario.sweep.values.items()]
    raise ScenarioError("nothing to sweep: pass --set key=values or add a sweep block to the scenario")


def _key_and_spec(text: str) -> tuple[str, str]:
    """`key=values` split at its first `=`."""
    if "=" not in text:
        raise ScenarioError(f"--set {text}: write key=values, e.g. territories.count=8..14 or coverage.tele.capacity_hours=2000,4000")
    key, _, spec = text.partition("=")
    return key.strip(), spec


def parse_axis(key: str, spec: str | list, where: str = "--set") -> Axis:
    """One key's values: a list, `a,b,c` or `lo..hi` (integers, inclusive); `where` is named in errors."""
    name = f"{where} {key}"
    if not _schema_has(Scenario, key.split(".")):
        inside = _in_a_list(key.split("."))
        if inside:
            raise ScenarioError(f"{name}: '{inside}' is a list, and a sweep sets one value per key; write one "
                                "short scenario per value (extends:) and run or compare them")
        raise ScenarioError(f"{name}: not a scenario key; use a dotted key of the schema, e.g. "
                            "territories.count, coverage.tele.capacity_hours, disruption.weight (scenarios/README.md)")
    if not isinstance(spec, str):
        values = tuple(spec)
    elif ".." in spec:
        lo, _, hi = spec.partition("..")
        try:
            a, b = int(lo), int(hi)
        except ValueError:
            raise ScenarioError(f"{name}={spec}: a range takes integers, e.g. 8..14") from None
        if b < a:
            raise ScenarioError(f"{name}={spec}: the range is empty")
        values = tuple(range(a, b + 1))
    else:
        try:
            values = tuple(yaml.safe_load(v) for v in spec.split(",") if v.strip())
        except yaml.YAMLError:
            raise ScenarioError(f"{name}: the values must be plain numbers or words separated by commas "
                                "(a list or mapping cannot be swept)") from None
    if not values:
        raise ScenarioError(f"{name}: no values")
    repeated = [v for i, v in enumerate(values) if v in values[:i]]
    if repeated:
        raise ScenarioError(f"{name}: {repeated[0]} is given twice; give each value once")
    return Axis(key, values, where)


def _nested(key: str, value: Any) -> dict:
    out: dict = value
    for part in reversed(key.split(".")):
        out = {part: out}
    return out


def point_overrides(point: dict[str, Any]) -> dict:
    """The nested scenario overrides of one grid point ({"territories.count": 8} -> {"territories": {"count": 8}})."""
    overrides: dict = {}
    for k, v in point.items():
        overrides = _merge(overrides, _nested(k, v))
    return overrides


def points(axes: list[Axis]) -> list[dict[str, Any]]:
    """Every combination, as {key: value}."""
    return [dict(zip([a.key for a in axes], combo)) for combo in itertools.product(*[a.values for a in axes])]


def point_name(base: str, point: dict[str, Any]) -> str:
    """The run name of a point, e.g. georgia__territories.count=8: full keys, as solver.rel_gap and
    coverage.rel_gap end alike, and only characters a folder name may hold."""
    return base + "__" + re.sub(r"[^\w.=+-]", "_", "__".join(f"{k}={v}" for k, v in point.items()))


_stopped = False  # in a worker: a Ctrl-C or SIGTERM stopped one of its points, so it starts no other


def run_point(scenario: str, point: dict[str, Any], time_limit: float | None, output_dir: str) -> dict:
    """Run one point (in a worker); never raises: a failed point is a row with its error. The point's
    clock starts after the worker's one-off imports, so every point gets the same search time; its
    `seconds` (wall time) include them."""
    global _stopped
    began = time.perf_counter()
    row: dict[str, Any] = dict(point)
    if _stopped:  # a point the pool had already handed this worker when the sweep was stopped
        row.update(status="skipped", error="the sweep was stopped before this point started", seconds=0.0)
        return row
    with interrupt.stop_on_ctrl_c():  # Ctrl-C reaches the workers too: finish this point's stage quickly
        _run_point(scenario, point, time_limit, output_dir, row)
        _stopped = interrupt.requested()
    row["seconds"] = round(time.perf_counter() - began, 2)
    return row


def _run_point(scenario: str, point: dict[str, Any], time_limit: float | None, output_dir: str, row: dict) -> None:
    """Fill `row` with the point's outcome; its time limit covers loading, search and writing, as in `tplan run`."""
    from scenarios.runner import run_scenario  # the worker's start-up (seconds, at its first point only)
    from scenarios.run_index import summary

    start = time.perf_counter()  # the point's clock (see run_point)
    if interrupt.requested():
        row.update(status="skipped", error="Ctrl-C before this point started")
        return
    try:
        base = load_scenario(Path(scenario))
        overrides = _merge({"output": {"dir": output_dir}}, point_overrides(point))
        overrides["name"] = point_name(base.name or "scenario", point)
        if time_limit is not None:
            overrides = _merge(overrides, {"solver": {"time_limit": time_limit}})
        sc = load_scenario(Path(scenario), overrides)
        record = run_scenario(sc, started=start)
        info = summary(record.folder)
        coverage = (json.loads((record.folder / "manifest.json").read_text()).get("coverage") or {})
        gap_pct = None if info["gap"] is None else 100 * info["gap"]
        row.update(status=info["status"], objective=info["objective"], gap_pct=gap_pct,
                   max_deviation_pct=info["max_deviation_pct"], relationship_moved_pct=info["relationship_moved_pct"],
                   coverage_margin=info["coverage_margin"], expected_contribution=coverage.get("expected_contribution"),
                   cost=coverage.get("cost"), run=str(record.folder), error=None)
    except KeyboardInterrupt:  # a second Ctrl-C in the worker: the point is given up, nothing half-written
        row.update(status="interrupted", error="Ctrl-C")
    except Exception as e:  # a failed point is reported and does not stop the others
        row.update(status="failed", error=f"{type(e).__name__}: {e}".splitlines()[0])


def _merge(a: dict, b: dict) -> dict:
    from scenarios.loading import deep_merge

    return deep_merge(a, b)


def connect_dask(address: str):
    """A client of the scheduler at `address`, or a clear error after DASK_CONNECT_SECONDS."""
    from distributed import Client

    try:
        return Client(address, timeout=f"{DASK_CONNECT_SECONDS}s")
    except Exception as e:  # refused, timed out, or something not Dask answering (a proxy's 400: a MemoryError)
        raise ScenarioError(f"cannot reach the Dask scheduler at {address} within {DASK_CONNECT_SECONDS} s "
                            f"({type(e).__name__}); check the address, or start one with `dask scheduler`") from None


def run_sweep(scenario: Path, axes: list[Axis], workers: int, time_limit: float | None, dask: str | None,
              on_done: Callable[[dict], None] = lambda _: None) -> tuple[list[dict], Path]:
    """Run every point; return the rows (in grid order) and the sweep folder."""
    base = load_scenario(scenario)  # a broken scenario fails here, once, not at every point
    grid = points(axes)
    for point in grid:  # and a value the schema refuses (-1 hours, text for a number) before any point runs
        try:
            load_scenario(scenario, point_overrides(point))
        except ScenarioError as e:
            given = ", ".join(f"{k}={v}" for k, v in point.items())
            raise ScenarioError(f"{axes[0].where} {given}: {str(e).split(': ', 1)[-1]}") from None
    output_dir = str(Path(base.output.dir).resolve())
    args = [(str(scenario.resolve()), p, time_limit, output_dir) for p in grid]
    rows: list[dict | None] = [None] * len(grid)
    start = time.perf_counter()
    if dask:
        client = connect_dask(dask)
        try:
            futures = {client.submit(run_point, *a, pure=False): i for i, a in enumerate(args)}
            from distributed import as_completed as dask_completed

            for fut in dask_completed(futures):
                rows[futures[fut]] = fut.result()
                on_done(rows[futures[fut]])
        finally:
            client.close()
    else:
        ctx = multiprocessing.get_context("spawn")  # fresh interpreters: no solver state shared by fork
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = {pool.submit(run_point, *a): i for i, a in enumerate(args)}
            try:
                for fut in as_completed(futures):
                    rows[futures[fut]] = fut.result()
                    on_done(rows[futures[fut]])
            except (KeyboardInterrupt, SystemExit) as stop:  # Ctrl-C, or SIGTERM (scenarios.console.Terminated)
                for f in futures:
                    f.cancel()
                if isinstance(stop, SystemExit):  # a kill sent to this process alone: the running points stop too,
                    for process in list(getattr(pool, "_processes", {}).values()):  # keeping their best plans
                        with contextlib.suppress(OSError):
                            os.kill(process.pid, signal.SIGTERM)
                raise
    wall = time.perf_counter() - start
    done = [r for r in rows if r is not None]
    folder = _write(base, axes, done, wall, workers if not dask else None, dask)
    return done, folder


def _write(base: Scenario, axes: list[Axis], rows: list[dict], wall: float, workers, dask) -> Path:
    import pandas as pd

    root = Path(base.output.dir) / (base.name or "scenario") / "sweeps"
    folder = NewFolder(root, datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ"))
    with folder as tmp:
        table = pd.DataFrame(rows, columns=[a.key for a in axes] + COLUMNS)  # the same columns when points fail
        table.to_csv(tmp / "sweep.csv", index=False)
        _capacity_curve(table, axes, tmp / "capacity.png")
        meta = {"scenario": base.name, "axes": {a.key: list(a.values) for a in axes}, "points": len(rows),
                "failed": int((table["status"] == "failed").sum()), "wall_seconds": round(wall, 2),
                "slowest_point_seconds": float(table["seconds"].max()), "workers": workers, "dask": dask}
        (tmp / "sweep.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
        (tmp / "sweep.html").write_text(_html(base, table, meta, tmp / "capacity.png"), encoding="utf-8")
    return folder.path


def _capacity_curve(table, axes: list[Axis], path: Path) -> None:
    """Write the capacity curve (see `_capacity_figure`) to `path`."""
    import matplotlib.pyplot as plt

    fig = _capacity_figure(table, axes)
    fig.savefig(path)
    plt.close(fig)


def _capacity_figure(table, axes: list[Axis]):
    """The value measure (coverage margin, else objective) against the first numeric axis, with the
    marginal value of each step (e.g. of each added rep); one line per value of the other keys."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    axis = next((a for a in axes if all(isinstance(v, (int, float)) for v in a.values)), None)
    ok = table[table["status"] != "failed"]
    coverage = ok["coverage_margin"].notna().any()
    measures = ["expected_contribution", "cost", "coverage_margin"] if coverage else ["objective"]
    if axis is None or ok.empty:
        ax.text(0.5, 0.5, "no numeric axis or no successful point", ha="center", transform=ax.transAxes)
    else:
        key = axis.key
        others = [a.key for a in axes if a.key != key]
        for rest, group in (ok.groupby(others) if others else [((), ok)]):
            g = group.sort_values(key)
            where = ", ".join(f"{k}={v}" for k, v in zip(others, rest))  # e.g. solver.seed=0
            for measure in measures:
                label = measure.replace("_", " ").replace("coverage ", "") + (f" ({where})" if where else "")
                ax.plot(g[key], g[measure], "o-", label=label)
            last = measures[-1]  # the margin (or the objective): label each step with its marginal value
            for x, y, d in zip(g[key].iloc[1:], g[last].iloc[1:], g[last].diff().iloc[1:]):
                ax.annotate(f"{d:+,.0f}", (x, y), xytext=(3, 6), textcoords="offset points", fontsize=7)
        if all(float(v).is_integer() for v in axis.values):  # 8 and 9 territories: no tick at 8.2
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(key)
        ax.set_ylabel("money a year" if coverage else "objective")
        ax.legend(fontsize=8)
        ax.set_title(f"{' / '.join(m.replace('_', ' ') for m in measures)} against {key}\n"
                     "(labels: change of the last from the previous point)", fontsize=10)
    fig.tight_layout()
    return fig


def _html(base: Scenario, table, meta: dict, png: Path) -> str:
    from scenarios.report import STYLE, html_table

    image = base64.b64encode(png.read_bytes()).decode()
    failed = table[table["status"] == "failed"]
    note = f"<p><b>{len(failed)} failed point(s)</b>; see the error column.</p>" if len(failed) else ""
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>sweep {base.name}</title>"
            f"<style>{STYLE}</style></head><body><h1>Sweep of {base.name}: {meta['points']} points</h1>"
            f"<div class='sub'>wall {meta['wall_seconds']} s, slowest point {meta['slowest_point_seconds']} s</div>"
            f"{note}<img alt='capacity curve' src='data:image/png;base64,{image}'/><h2>Points</h2>"
            f"{html_table(table)}</body></html>")
