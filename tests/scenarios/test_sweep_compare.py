"""Sweeps (local processes and a real Dask LocalCluster), the runs index, and comparisons."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from scenarios import sweep
from scenarios.cli import app
from tests.scenarios.helpers import grid_scenario, grid_units, write_scenario

runner = CliRunner()


def tplan(*args):
    return runner.invoke(app, [str(a) for a in args])


def run_folders(root):
    return sorted(p for p in (root / "runs").glob("*/*") if (p / "manifest.json").is_file())


def sweep_table(root):
    [table] = list((root / "runs").glob("*/sweeps/*/sweep.csv"))
    return pd.read_csv(table)


@pytest.mark.serial
def test_local_sweep_runs_every_point_and_reports_a_failed_one(tmp_cwd):
    """13 territories from 12 units cannot be built: that point fails, the others land."""
    scenario = grid_scenario(tmp_cwd)
    result = tplan("sweep", scenario, "--set", "territories.count=2,3,13", "--workers", "2", "--time-limit", "10")
    assert result.exit_code == 0, result.output
    assert "3 points, 1 failed" in result.output and "territories.count=13" in result.output
    table = sweep_table(tmp_cwd)
    assert list(table["territories.count"]) == [2, 3, 13]
    assert list(table["status"] == "failed") == [False, False, True]
    assert "13" in table.loc[2, "error"]
    for run in table["run"].iloc[:2]:
        assert (Path(run) / "assignment.csv").is_file()  # each point is a normal, complete run folder
    sweeps = list((tmp_cwd / "runs").glob("*/sweeps/*"))
    assert {p.name for p in sweeps[0].iterdir()} == {"sweep.csv", "sweep.yaml", "capacity.png", "sweep.html"}


def test_sweep_block_in_the_scenario(tmp_cwd):
    scenario = grid_scenario(tmp_cwd, sweep={"values": {"territories.count": "2..3"}, "workers": 1, "time_limit": 10})
    result = tplan("sweep", scenario)
    assert result.exit_code == 0, result.output
    assert list(sweep_table(tmp_cwd)["territories.count"]) == [2, 3]


def test_sweep_key_that_is_not_in_the_schema(tmp_cwd):
    result = tplan("sweep", grid_scenario(tmp_cwd), "--set", "tele.capacity=20000,30000")
    assert result.exit_code == 2
    assert "--set tele.capacity: not a scenario key" in result.output
    assert not (tmp_cwd / "runs").exists()


def test_sweep_key_inside_a_list_is_refused_with_what_to_do_instead(tmp_cwd):
    result = tplan("sweep", grid_scenario(tmp_cwd), "--set", "balance.tolerance=0.05,0.1")
    assert result.exit_code == 2, result.output
    assert "--set balance.tolerance: 'balance' is a list, and a sweep sets one value per key" in result.output
    assert not (tmp_cwd / "runs").exists()


def test_sweep_value_the_schema_refuses_stops_before_any_point(tmp_cwd):
    result = tplan("sweep", grid_scenario(tmp_cwd), "--set", "territories.count=2,-3")
    assert result.exit_code == 2, result.output
    assert "--set territories.count=-3: territories.count: Input should be greater than" in result.output
    assert not (tmp_cwd / "runs").exists()


@pytest.mark.serial
def test_every_point_gets_the_same_search_time_and_its_own_named_folder(tmp_cwd):
    """One worker runs both points: its start-up (imports, seconds) is not charged to the first point."""
    result = tplan("sweep", grid_scenario(tmp_cwd), "--set", "solver.seed=0,1", "--workers", "1", "--time-limit", "10")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_cwd / "runs").glob("grid__*")) == ["grid__solver.seed=0", "grid__solver.seed=1"]
    manifests = [json.loads((run / "manifest.json").read_text()) for run in run_folders(tmp_cwd)]
    first, second = (m["solver_options"]["search_time_limit"] for m in manifests)
    assert abs(first - second) < 0.5, (first, second)
    table = sweep_table(tmp_cwd)
    assert "gap" not in table and list(table["gap_pct"]) == pytest.approx([100 * m["gap"] for m in manifests])


def test_point_names_keep_apart_keys_that_end_alike():
    assert sweep.point_name("g", {"solver.rel_gap": 0.05}) != sweep.point_name("g", {"coverage.rel_gap": 0.05})
    assert sweep.point_name("g", {"units.path": "a/b:c.gpkg", "territories.count": 8}) == \
        "g__units.path=a_b_c.gpkg__territories.count=8"  # a folder name: no / or :


@pytest.mark.parametrize("option, value", [("--time-limit", "0"), ("--time-limit", "-1"), ("--workers", "0")])
def test_sweep_option_out_of_range_is_refused_before_anything_runs(tmp_cwd, option, value):
    result = tplan("sweep", grid_scenario(tmp_cwd), "--set", "territories.count=2", option, value)
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: {option}: give ") and result.output.count("\n") == 1
    assert not (tmp_cwd / "runs").exists()


@pytest.mark.parametrize("sets, message", [
    (["territories.count=2", "territories.count=3"], "--set territories.count: given twice; give all its values in one"),
    (["territories.count=2,2"], "--set territories.count: 2 is given twice; give each value once"),
])
def test_sweep_key_or_value_given_twice_is_refused(tmp_cwd, sets, message):
    result = tplan("sweep", grid_scenario(tmp_cwd), *[a for s in sets for a in ("--set", s)])
    assert result.exit_code == 2, result.output
    assert message in result.output and result.output.count("\n") == 1
    assert not (tmp_cwd / "runs").exists()


@pytest.mark.parametrize("values, message", [
    ({"territories.cuont": "2..3"}, "grid.yaml: sweep.values: territories.cuont: not a scenario key"),
    ({"territories.count": [2, -3]}, "grid.yaml: sweep.values: territories.count=-3: territories.count: Input should"),
])
def test_sweep_block_error_names_the_scenario_file_not_set(tmp_cwd, values, message):
    result = tplan("sweep", grid_scenario(tmp_cwd, sweep={"values": values}))
    assert result.exit_code == 2, result.output
    assert message in result.output and "--set" not in result.output


def test_sweep_where_every_point_failed_keeps_the_columns(tmp_cwd):
    result = tplan("sweep", grid_scenario(tmp_cwd), "--set", "territories.count=13", "--workers", "1")
    assert result.exit_code == 1, result.output
    table = sweep_table(tmp_cwd)
    assert list(table.columns) == ["territories.count", *sweep.COLUMNS] and "gap_pct" in table
    assert list(table["status"]) == ["failed"]


def test_capacity_curve_names_the_other_keys_and_counts_in_whole_numbers():
    axes = [sweep.Axis("territories.count", (8, 9)), sweep.Axis("solver.seed", (0,))]
    table = pd.DataFrame([{"territories.count": 8, "solver.seed": 0, "status": "optimal", "objective": 5.0},
                          {"territories.count": 9, "solver.seed": 0, "status": "optimal", "objective": 4.0}],
                         columns=["territories.count", "solver.seed", *sweep.COLUMNS])
    fig = sweep._capacity_figure(table, axes)
    [ax] = fig.axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["objective (solver.seed=0)"]
    fig.canvas.draw()
    assert all(float(t).is_integer() for t in ax.get_xticks())


@pytest.mark.serial
def test_sweep_on_a_dask_cluster(tmp_cwd):
    from distributed import LocalCluster

    scenario = grid_scenario(tmp_cwd)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        result = tplan("sweep", scenario, "--set", "territories.count=2..3", "--dask", cluster.scheduler_address,
                       "--time-limit", "10")
    assert result.exit_code == 0, result.output
    table = sweep_table(tmp_cwd)
    assert list(table["status"] != "failed") == [True, True]
    assert len(run_folders(tmp_cwd)) == 2


def test_unreachable_dask_scheduler_is_a_clear_error_not_a_hang(tmp_cwd, monkeypatch):
    monkeypatch.setattr(sweep, "DASK_CONNECT_SECONDS", 2)  # (10 s in use) the wait ends at the limit, not in a hang
    start = time.perf_counter()
    result = tplan("sweep", grid_scenario(tmp_cwd), "--set", "territories.count=2", "--dask", "tcp://127.0.0.1:9")
    assert result.exit_code == 2, result.output
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9 within 2 s" in result.output
    assert time.perf_counter() - start < 30


def test_runs_index_follows_the_run_folders(tmp_cwd):
    scenario = grid_scenario(tmp_cwd)
    assert tplan("run", scenario).exit_code == 0
    assert tplan("run", scenario, "--seed", "1").exit_code == 0
    listing = tplan("runs")
    assert listing.exit_code == 0 and "2 runs in runs/" in listing.output
    shutil.rmtree(run_folders(tmp_cwd)[0])  # deleted by hand
    listing = tplan("runs")
    assert "1 runs in runs/" in listing.output and "1 deleted runs dropped" in listing.output
    bad = write_scenario(tmp_cwd, "grid", yaml.safe_load(scenario.read_text()) | {"territories": {"count": 99}})
    assert tplan("run", bad).exit_code != 0  # a failed run leaves no folder and no index row
    assert "1 runs in runs/" in tplan("runs").output


def test_compare_two_runs_and_their_differences(tmp_cwd):
    scenario = grid_scenario(tmp_cwd)
    other = grid_scenario(tmp_cwd, name="grid3", k=3)
    assert tplan("run", scenario).exit_code == 0
    assert tplan("run", other).exit_code == 0
    result = tplan("compare", scenario, tmp_cwd / "runs" / "grid3")  # a scenario file, and a scenario's folder
    assert result.exit_code == 0, result.output
    [folder] = list((tmp_cwd / "runs" / "compare").iterdir())
    per_territory = pd.read_csv(folder / "compare_territories.csv", dtype=str)
    counts = per_territory[["units_first", "units_second", "units_delta"]].stack().dropna()
    assert len(counts) == 3 + 2 + 3 and counts.str.fullmatch(r"-?\d+").all()  # whole numbers, T03 in one run only
    assert not any(c.endswith("_within_bounds_delta") for c in per_territory.columns)
    table = pd.read_csv(folder / "compare.csv", index_col="kpi")
    assert list(table.loc["territories"].astype(int)) == [2, 3]
    a, b = (pd.read_csv(f / "assignment.csv", dtype=str).set_index("unit") for f in run_folders(tmp_cwd))
    diff = pd.read_csv(folder / "differences.csv", dtype=str)
    changed = sorted(u for u in a.index if a.loc[u, "territory"] != b.loc[u, "territory"])
    assert sorted(diff.loc[diff.kind == "unit", "id"]) == changed
    assert (folder / "compare.html").is_file() and (folder / "compare_territories.csv").is_file()
    same = tplan("compare", scenario, tmp_cwd / "runs" / "grid")  # a scenario and its folder: the same newest run
    assert same.exit_code == 2 and "is given twice" in same.output


@pytest.mark.parametrize("case", ["other geography", "deleted run", "damaged manifest"])
def test_compare_bad_input(tmp_cwd, case):
    scenario = grid_scenario(tmp_cwd)
    assert tplan("run", scenario).exit_code == 0
    first = run_folders(tmp_cwd)[0]
    if case == "other geography":
        grid_units(tmp_cwd, 2, 3, name="small.gpkg")
        body = yaml.safe_load(scenario.read_text())
        body["units"]["path"] = "small.gpkg"
        small = write_scenario(tmp_cwd, "small", body)
        assert tplan("run", small).exit_code == 0
        result = tplan("compare", first, small)
        assert result.exit_code == 2 and "cover different units (12 vs 6" in result.output
    elif case == "damaged manifest":  # named: a clear error; found as a scenario's newest run: passed over
        assert tplan("run", scenario).exit_code == 0
        newest = run_folders(tmp_cwd)[-1]
        (newest / "manifest.json").write_text("{broken")
        result = tplan("compare", newest, first)
        assert result.exit_code == 2 and "manifest.json: damaged (not JSON)" in result.output
        result = tplan("compare", first, tmp_cwd / "runs" / "grid")
        assert result.exit_code == 2 and "is given twice" in result.output  # the damaged newest run skipped
    else:
        shutil.rmtree(first)
        result = tplan("compare", first, scenario)
        assert result.exit_code == 2 and "no such run folder or scenario file" in result.output
        result = tplan("compare", tmp_cwd / "runs", scenario)  # the root of all runs: name one scenario's folder
        assert result.exit_code == 2 and "runs: no solved run here" in result.output


def test_runs_that_pose_the_same_territory_problem_are_told_apart_from_options_that_change_it(tmp_path):
    """A tele-capacity option keeps the territory rules: territories that differ then come from the search."""
    from scenarios.compare import Run, same_territory_rules

    base = {"resolved_scenario": {"name": "a", "territories": {"count": 4}, "coverage": {"tele": {"capacity_hours": 2000}},
                                  "solver": {"time_limit": 10}},
            "inputs": {"units": {"sha256": "u"}, "coverage.data": {"sha256": "c"}}}
    tele = {"resolved_scenario": {**base["resolved_scenario"], "name": "b",
                                  "coverage": {"tele": {"capacity_hours": 4500}}},
            "inputs": {"units": {"sha256": "u"}, "coverage.data": {"sha256": "c2"}}}
    more = {"resolved_scenario": {**base["resolved_scenario"], "territories": {"count": 5}}, "inputs": base["inputs"]}
    run = lambda m: Run("x", tmp_path, m)  # noqa: E731
    assert same_territory_rules(run(base), run(tele))
    assert not same_territory_rules(run(base), run(more))
