"""End to end: `tplan validate` and `tplan run` on bundled and generated data, and every bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Polygon
from typer.testing import CliRunner

from scenarios.cli import app
from tests.conftest import GEORGIA, REPO, grid_frame
from tests.scenarios.helpers import georgia_body, grid_scenario, grid_units, write_scenario

runner = CliRunner()


def tplan(*args):
    return runner.invoke(app, [str(a) for a in args])


def run_folders(root: Path) -> list[Path]:
    return sorted(p for p in (root / "runs").glob("*/*") if p.is_dir())


def test_validate_bundled_demo():
    result = tplan("validate", REPO / "scenarios" / "georgia.yaml")
    assert result.exit_code == 0, result.output
    assert "159 units" in result.output


def test_validate_bundled_reps_scenario():
    """Every rep's territory can reach every county within ±10% (with a rep in Lawrenceville instead of Decatur,
    DeKalb County fitted in none, and the run ended in a solver error)."""
    result = tplan("validate", REPO / "scenarios" / "georgia_reps.yaml")
    assert result.exit_code == 0, result.output
    assert "10 territories" in result.output


def test_validate_names_the_nesting_levels():
    result = tplan("validate", REPO / "scenarios" / "georgia_nested.yaml")
    assert result.exit_code == 0, result.output
    assert "nesting: 2 regions, 4 territories each" in result.output
    assert "nesting: 2 districts in each region, 2 territories each" in result.output


def test_run_writes_a_complete_checked_run(tmp_cwd):
    # two territories: proven in 8-15 s (three took 47 s of the test run on a slow machine)
    scenario = write_scenario(tmp_cwd, "ga2", georgia_body(territories={"count": 2}, solver={"time_limit": 90}))
    result = tplan("run", scenario)
    assert result.exit_code == 0, result.output
    [folder] = run_folders(tmp_cwd)
    for name in ("manifest.json", "assignment.csv", "territories.gpkg", "kpis.csv", "kpis.json", "map.png",
                 "scenario.yaml", "solver.log", "search.log"):
        assert (folder / name).is_file(), name
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "optimal" and manifest["plan_checked"]
    history = (folder / "search.log").read_text().splitlines()
    assert "load" in history[0] and "ended: optimal" in history[-2]
    assert f"plan {manifest['objective']:.6e}  bound {manifest['lower_bound']:.6e}" in history[-1]
    seconds = [float(line.split()[0]) for line in history]
    assert seconds == sorted(seconds) and any("plan" in line and "bound" in line for line in history[1:-2])
    assert manifest["gap"] <= 1e-4
    assert set(manifest["inputs"]) >= {"units", "units.dbf", "units.shx"}
    assert len(manifest["inputs"]["units"]["sha256"]) == 64
    assert manifest["versions"]["highs"] and manifest["versions"]["pyomo"] and manifest["versions"]["numba"]
    assert len(manifest["versions"]["tplan_source_sha256"]) == 16
    assignment = pd.read_csv(folder / "assignment.csv", dtype=str)
    assert len(assignment) == 159 and assignment["territory"].nunique() == 2
    layers = gpd.list_layers(folder / "territories.gpkg")
    assert set(layers["name"]) == {"units", "territories"}
    dissolved = gpd.read_file(folder / "territories.gpkg", layer="territories")
    assert len(dissolved) == 2 and "TotPop90_deviation_pct" in dissolved.columns
    kpis = json.loads((folder / "kpis.json").read_text())
    assert kpis["plan"]["all_contiguous"] and kpis["plan"]["TotPop90_max_abs_deviation_pct"] <= 5.0 + 1e-9


def test_same_scenario_same_plan_and_new_folder(tmp_cwd):
    scenario = write_scenario(tmp_cwd, "nc", {
        "units": {"path": "package://libpysal/examples/sids2/sids2.shp", "id": "FIPS", "crs": "EPSG:4326",
                  "label": "NAME"},
        "territories": {"count": 5},
        "balance": [{"attribute": "BIR79", "tolerance": 0.05}],
        "objective": {"weight": "BIR79"},
        "solver": {"time_limit": 30},
    })
    assert tplan("run", scenario).exit_code == 0
    assert tplan("run", scenario).exit_code == 0
    first, second = run_folders(tmp_cwd)
    assert first != second
    a = (first / "assignment.csv").read_text()
    b = (second / "assignment.csv").read_text()
    assert a == b
    assert a.startswith("unit,name,territory,centre\n") and "\n37001,Alamance,T" in a  # units.label, readable
    crm = pd.read_csv(first / "exports" / "units.csv", dtype=str).set_index("unit_id")
    assert list(crm.columns) == ["unit_name", "territory"] and crm.loc["37063", "unit_name"] == "Durham"


def test_fixed_centres_from_home_coordinates(tmp_cwd):
    scenario = write_scenario(tmp_cwd, "homes", georgia_body(territories={
        "count": 3,
        "centres": [
            {"name": "Atlanta", "lat": 33.749, "lon": -84.388},
            {"name": "Macon", "lat": 32.841, "lon": -83.632},
            {"name": "Savannah", "lat": 32.081, "lon": -81.091},
        ],
        "locked": {"13051": "Savannah", "13059": "Atlanta"},
    }, balance=[{"attribute": "TotPop90", "tolerance": 0.25}]))
    result = tplan("run", scenario)
    assert result.exit_code == 0, result.output
    [folder] = run_folders(tmp_cwd)
    assignment = pd.read_csv(folder / "assignment.csv", dtype=str).set_index("unit")
    assert set(assignment["territory"]) == {"Atlanta", "Macon", "Savannah"}
    assert assignment.loc["13121", "territory"] == "Atlanta"  # Fulton holds downtown Atlanta
    assert assignment.loc["13121", "centre"] == "13121"
    assert assignment.loc["13051", "territory"] == "Savannah"
    assert assignment.loc["13059", "territory"] == "Atlanta"  # Clarke (Athens) locked to Atlanta


def test_time_limit_returns_best_plan_with_gap(tmp_cwd):
    scenario = write_scenario(tmp_cwd, "ga10", georgia_body(territories={"count": 10}))
    result = tplan("run", scenario, "--time-limit", "4")
    assert result.exit_code == 0, result.output
    [folder] = run_folders(tmp_cwd)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] in ("time_limit", "optimal")
    assert manifest["gap"] is not None and manifest["plan_checked"]


def test_no_plan_within_the_limit_names_what_the_closest_plan_breaks(tmp_cwd, monkeypatch):
    """Eleven units of 1 and one of 2 (13) cannot split in two within ±5% (6.175-6.825). With the exact
    model's proof taken away (as when the limit runs out first), the run says what its closest plan breaks."""
    import model.search as search
    from solvers import SolverOptions, Termination
    from solvers.result import SolveResult

    def no_proof(spec, engine, options, *args, **kwargs):
        return None, SolveResult(Termination.TIME_LIMIT, False, None, None, None, 0.1, "highs", "", SolverOptions()), 0.0

    monkeypatch.setattr(search, "solve_exact", no_proof)
    scenario = grid_scenario(tmp_cwd, tol=0.05, values=[1] * 11 + [2], territories={"count": 2, "centres": [
        {"name": "West", "unit": "u0"}, {"name": "East", "unit": "u11"}]}, solver={"time_limit": 5})
    result = tplan("run", scenario)
    assert result.exit_code == 4, result.output
    said = " ".join(result.output.split())
    assert "no plan was found within the limit; the closest plan found breaks territory" in said
    assert "(centre u" in said and "outside [6.17, 6.83]. Widen the bands named, move or drop a fixed centre" in said
    [folder] = run_folders(tmp_cwd)
    breaks = json.loads((folder / "manifest.json").read_text())["closest_plan_breaks"]
    assert breaks and all("pop =" in b for b in breaks)


@pytest.mark.serial
def test_console_script_ends_within_its_time_limit(tmp_cwd):
    """`--time-limit` covers the whole command: imports (3 s, and 6-9 s on the project machine on 2026-12-04),
    loading, the search, checking and writing. Georgia at 10 territories is far from proven in 16 s, so the
    search uses all it is given."""
    scenario = write_scenario(tmp_cwd, "ga10", georgia_body(territories={"count": 10}))
    tplan_exe = Path(sys.executable).parent / "tplan"
    start = time.perf_counter()
    proc = subprocess.run([str(tplan_exe), "run", str(scenario), "--time-limit", "16"], capture_output=True, text=True)
    wall = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    [folder] = run_folders(tmp_cwd)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "time_limit"
    # the search got the limit less the imports, loading and the estimate for writing (about 1.75 s here)
    assert 4.0 < manifest["solver_options"]["search_time_limit"] < 16 - 1.5
    assert wall < 16 + 2.0  # a limit for the search alone ended 4-5 s past the command's (12 s: 16-17 s)


def test_write_estimate_and_the_search_limit(tmp_path):
    from scenarios.loading import load_scenario
    from scenarios.prepare import prepare
    from scenarios.runner import search_options, write_seconds
    from solvers import SolverOptions

    georgia = write_seconds(prepare(load_scenario(write_scenario(tmp_path, "ga", georgia_body()))))
    assert 0.8 < georgia < 3.0  # measured 0.9-1.1 s for checking and writing the Georgia run at 10 territories
    options = search_options(SolverOptions(time_limit=60), spent=2.5, writing=georgia)
    assert options.time_limit == pytest.approx(60 - 2.5 - georgia)
    assert search_options(SolverOptions(time_limit=3), spent=2.5, writing=georgia).time_limit == 1.0  # never below 1 s
    assert search_options(SolverOptions(), spent=2.5, writing=georgia).time_limit is None


def test_console_script_reports_user_error_without_traceback(tmp_path):
    tplan_exe = Path(sys.executable).parent / "tplan"
    proc = subprocess.run([str(tplan_exe), "validate", str(tmp_path / "none.yaml")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "none.yaml" in proc.stderr


# --- bad input: one short message, exit 2, nothing written ----------------------------------------

def _bad_gpkg(folder: Path, change) -> None:
    frame = grid_frame(3, 4).reset_index(drop=True)
    change(frame)
    frame.to_file(folder / "units.gpkg")


def _no_units(folder: Path) -> Path:
    scenario = grid_scenario(folder)
    grid_frame(3, 4).reset_index(drop=True).iloc[:0].to_file(folder / "units.gpkg")  # the layer, no rows
    return scenario


BAD_CASES = {
    "units file without rows": (_no_units, "units.gpkg: the file holds no units (no rows)"),
    "missing file": (lambda d: write_scenario(d, "s", {**georgia_body(), "units": {"path": "nope.gpkg", "id": "x"}}),
                     "nope.gpkg: file not found"),
    "unknown key": (lambda d: grid_scenario(d, contiguous=True), "contiguous: unknown key"),
    "missing column": (lambda d: grid_scenario(d, balance=[{"attribute": "sales", "tolerance": 0.1}]),
                       "column 'sales' (named by balance[0].attribute) not found"),
    "missing CRS": (lambda d: write_scenario(d, "s", georgia_body(units={"path": str(GEORGIA), "id": "AreaKey"})),
                    "has no CRS"),
    "projected coordinates said to be degrees": (lambda d: write_scenario(d, "s", georgia_body(
        units={"path": str(GEORGIA), "id": "AreaKey", "crs": "EPSG:4326"})),
        "G_utm.shp: coordinates run from (627306, 3.36806e+06) to (1.08219e+06, 3.87981e+06), not degrees"),
    "territory name used twice": (lambda d: grid_scenario(d, territories={"count": 2, "centres": [
        {"unit": "u0", "name": "A"}, {"unit": "u1", "name": "A"}]}),
        "territories.centres[].name: 'A' used for more than one territory"),
    "unknown numeric locked unit": (lambda d: grid_scenario(d, territories={"count": 2, "locked": {1001: "T01"}}),
                                    "unit '1001' is not in the units file; remove it or fix the id"),
    "home far outside the units": (lambda d: grid_scenario(d, territories={"count": 2, "centres": [
        {"lat": 45.0, "lon": 0.05}, {"unit": "u1"}]}),
        "territories.centres[0]: the home at lat 45, lon 0.05 is 5,612 km from the nearest unit, outside"),
    "k too large": (lambda d: grid_scenario(d, territories={"count": 13}), "exceeds the 12 units"),
    "locked together beyond a maximum": (lambda d: grid_scenario(d, territories={
        "count": 2, "locked": {f"u{i}": "T01" for i in range(8)}}),
        "balance pop: units u0, u1, u2, u3, u4 and 3 more locked to one territory hold 8 together, above its "
        "maximum 7.2"),
    "unit above maximum": (lambda d: grid_scenario(d, k=3, tol=0.05, values=[50] + [1] * 11),
                           "unit u0 alone has 50"),
    "locked unit outside the graph": (lambda d: grid_scenario(d, territories={"count": 2, "locked": {"zz9": "T01"}}),
                                      "unit 'zz9' is not in the units file"),
    "impossible absolute balance": (lambda d: grid_scenario(d, balance=[{"attribute": "pop", "min": 1, "max": 5}]),
                                    "cannot hold the total 12; raise max to at least 6"),
    "unknown solver option": (lambda d: grid_scenario(d, solver={"options": {"mip_bogus_effort": 1}}),
                              "HiGHS rejects mip_bogus_effort"),
    "unknown centre": (lambda d: grid_scenario(d, territories={"count": 1, "centres": [{"unit": "u99"}]}),
                       "'u99' is not a unit id"),
    "nesting that does not divide": (lambda d: grid_scenario(d, territories={"count": 4, "nesting": [
        {"name": "region", "count": 3}]}), "3 regions make 3 groups, which cannot share 4 territories equally; use 3 or 6"),
    "unit out of reach": (lambda d: grid_scenario(d, territories={"count": 2, "centres": [{"unit": "u0"}, {"unit": "u1"}],
                                                              "max_distance": 25}),
                          "unit u11 is farther than 25 km from every centre; raise max_distance to at least 28.28"),
    "nesting that does not divide the reps": (lambda d: write_scenario(d, "reps3", {
        "extends": str(REPO / "scenarios" / "georgia_redesign.yaml"), "territories": {"nesting": [
            {"name": "region", "count": 3}]}}), "cannot share 10 territories (one per active, vacant or new-hire rep) "
                                                 "equally; have 9 or 12 such reps"),
    "nesting level named twice": (lambda d: grid_scenario(d, territories={"count": 4, "nesting": [
        {"name": "area", "count": 2}, {"name": "area", "count": 2}]}), "the level name 'area' is used twice"),
    "missing barrier file": (lambda d: grid_scenario(d, adjacency={"remove": "river.csv"}),
                             "river.csv: file not found; check adjacency.remove"),
    "unit no centre's territory can hold": (lambda d: _strip_between_two_reps(d),
                                            "unit u1 (5) fits in no territory: every centre's lightest connected "
                                            "path to it holds more than the centre's territory has room for (the "
                                            "closest, from T01: 6 for 5.6); raise the maximum to at least 6 "
                                            "(tolerance 71.4%)"),
}


def _strip_between_two_reps(folder: Path) -> Path:
    """Strip 1 5 1 with reps at both ends, ±60% (at most 5.6): the middle unit plus either end is 6."""
    grid_frame(1, 3, [1, 5, 1]).reset_index(drop=True).to_file(folder / "strip.gpkg")
    return write_scenario(folder, "strip", {
        "units": {"path": "strip.gpkg", "id": "uid"},
        "territories": {"count": 2, "centres": [{"unit": "u0"}, {"unit": "u2"}]},
        "balance": [{"attribute": "pop", "tolerance": 0.6}],
    })


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_is_one_clear_message(tmp_cwd, case):
    make, expected = BAD_CASES[case]
    scenario = make(tmp_cwd)
    for command in ("validate", "run"):
        result = tplan(command, scenario)
        assert result.exit_code == 2, result.output
        assert expected in result.output
        assert "Traceback" not in result.output
    assert not (tmp_cwd / "runs").exists() or not any((tmp_cwd / "runs").rglob("*.json"))


@pytest.mark.parametrize(
    "change,expected",
    [
        (lambda f: f.__setitem__("uid", ["u0"] * 2 + [f"u{i}" for i in range(2, 12)]), "duplicate unit ids"),
        (lambda f: f.__setitem__("pop", [-1.0] + [1.0] * 11), "negative for units u0"),
        (lambda f: f.__setitem__("pop", [None] + [1.0] * 11), "empty or not a number for units u0"),
        (lambda f: f.__setitem__("geometry", [Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])] + list(f.geometry[1:])),
         "invalid geometry for units u0"),
    ],
    ids=["duplicate ids", "negative attribute", "null attribute", "invalid geometry"],
)
def test_bad_unit_data(tmp_cwd, change, expected):
    scenario = grid_scenario(tmp_cwd)
    _bad_gpkg(tmp_cwd, change)
    result = tplan("validate", scenario)
    assert result.exit_code == 2 and expected in result.output, result.output


def test_infeasible_names_the_constraint_family(tmp_cwd):
    """Strip 3 3 1 1, two territories of exactly 4: balance is too tight for contiguity."""
    grid_frame(1, 4, [3, 3, 1, 1]).reset_index(drop=True).to_file(tmp_cwd / "strip.gpkg")
    scenario = write_scenario(tmp_cwd, "strip", {
        "units": {"path": "strip.gpkg", "id": "uid"},
        "territories": {"count": 2},
        "balance": [{"attribute": "pop", "tolerance": 0.01}],
    })
    result = tplan("run", scenario)
    assert result.exit_code == 3, result.output
    assert "contiguity" in result.output


def test_failed_write_leaves_no_half_folder(tmp_cwd, monkeypatch):
    import scenarios.runner as runner_module

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(runner_module, "write_plan", broken)
    scenario = grid_scenario(tmp_cwd)
    result = tplan("run", scenario)
    assert result.exit_code != 0
    assert not (tmp_cwd / "runs").exists()  # no half folder, and no empty runs/grid/ either


def test_csv_points_with_edge_list(tmp_cwd):
    pd.DataFrame({
        "zip": [f"z{i}" for i in range(6)],
        "latitude": [33.0, 33.0, 33.0, 33.1, 33.1, 33.1],
        "longitude": [-84.0, -83.9, -83.8, -84.0, -83.9, -83.8],
        "potential": [3, 1, 2, 2, 1, 3],
    }).to_csv(tmp_cwd / "zips.csv", index=False)
    (tmp_cwd / "edges.csv").write_text("a,b\nz0,z1\nz1,z2\nz3,z4\nz4,z5\nz0,z3\nz2,z5\n")
    rows = [f"z{a},z{b},{5 * abs(a % 3 - b % 3) + 7 * abs(a // 3 - b // 3)}" for a in range(6) for b in range(a + 1, 6)]
    (tmp_cwd / "drive.csv").write_text("from,to,minutes\n" + "\n".join(rows) + "\n")
    scenario = write_scenario(tmp_cwd, "zips", {
        "units": {"path": "zips.csv", "id": "zip"},
        "adjacency": {"edges": "edges.csv"},
        "distances": {"matrix": "drive.csv"},
        "territories": {"count": 2},
        "balance": [{"attribute": "potential", "tolerance": 0.1}],
    })
    result = tplan("run", scenario)
    assert result.exit_code == 0, result.output
    [folder] = run_folders(tmp_cwd)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["plan_checked"] and manifest["geography"]["distance_unit"] == "minutes"
    assert "distances.matrix" in manifest["inputs"]


def test_barriers_remove_edges_and_plans_respect_them(tmp_cwd):
    """A 3 x 4 grid with a 'river' between columns 1 and 2 crossed by one bridge (bottom row): no
    territory holds units on both banks except through the bridge, and a bad barrier is named."""
    pd.DataFrame({"a": ["u1", "u5", "u1", "u5", "u9", "u5"], "b": ["u2", "u6", "u6", "u2", "u6", "u10"]}).to_csv(
        tmp_cwd / "river.csv", index=False)
    scenario = grid_scenario(tmp_cwd, k=2, tol=0.5, adjacency={"remove": "river.csv"})
    result = tplan("run", scenario)
    assert result.exit_code == 0, result.output
    [folder] = run_folders(tmp_cwd)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["plan_checked"] and "adjacency.remove" in manifest["inputs"]
    assert manifest["geography"]["edges"] == 29 - 6  # queen grid 3 x 4 has 29 edges
    (tmp_cwd / "river.csv").write_text("a,b\nu0,u11\n")
    result = tplan("validate", scenario)
    assert result.exit_code == 2 and "do not touch" in result.output and "u0-u11" in result.output


@pytest.mark.serial
def test_ctrl_c_writes_the_best_plan_so_far(tmp_cwd):
    """A real SIGINT to `tplan run` mid-search: exit 0, a complete checked run, status interrupted."""
    import signal
    import time

    scenario = write_scenario(tmp_cwd, "ga10", georgia_body(territories={"count": 10}, solver={"time_limit": 300}))
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "tplan"), "run", str(scenario)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_cwd,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # The run's hidden folder appears once loading is done, as the search starts; a few seconds later it is mid-search
    # (a fixed 25 s wait before: the imports alone took 6-9 s on the project machine on 2026-12-04).
    waited = time.perf_counter()
    while not list((tmp_cwd / "runs" / "ga10").glob(".tmp-*")) and time.perf_counter() - waited < 120:
        time.sleep(0.2)
    time.sleep(5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "Traceback" not in out + err
    [folder] = run_folders(tmp_cwd)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["plan_checked"]
    assert not list((tmp_cwd / "runs" / "ga10").glob(".tmp-*"))
    assert (folder / "solver.log").stat().st_size > 0  # HiGHS's log, or a line saying it did not run
    assert "ended: interrupted" in (folder / "search.log").read_text()


def test_bad_command_line_option(tmp_cwd):
    result = tplan("run", grid_scenario(tmp_cwd), "--gap", "2")
    assert result.exit_code == 2
    assert "command line: solver.rel_gap" in result.output


def test_nesting_with_fixed_centres_groups_the_optimal_territories(tmp_cwd):
    """Fixed centres and a nesting: the territories are solved exactly without the nesting, then
    grouped; the grouped plan keeps the proven optimum."""
    path = grid_scenario(tmp_cwd, k=4, tol=0.3, territories={"count": 4, "centres": [
        {"unit": "u0"}, {"unit": "u3"}, {"unit": "u8"}, {"unit": "u11"}], "nesting": [{"name": "region", "count": 2}]})
    result = tplan("run", path, "--time-limit", "20")
    assert result.exit_code == 0, result.output
    [folder] = run_folders(tmp_cwd)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "optimal" and "grouped into the nesting levels" in manifest["bound_method"]
    assignment = pd.read_csv(folder / "assignment.csv", dtype=str)
    assert assignment["region"].nunique() == 2 and (assignment.groupby("territory")["region"].nunique() == 1).all()
    levels = pd.read_csv(folder / "levels.csv")
    assert levels["contiguous"].all() and levels["pop_within_bounds"].all()


def test_redesign_with_regions_counts_locked_accounts_in_every_level(tmp_cwd):
    """The Georgia redesign in 2 regions of 5 reps: the regions hold whole territories, and their totals
    in levels.csv are their reps' totals, locked accounts included, within the regions' bounds."""
    result = tplan("run", REPO / "scenarios" / "georgia_redesign_regions.yaml", "--time-limit", "20")
    assert result.exit_code == 0, result.output
    [folder] = run_folders(tmp_cwd)
    assert json.loads((folder / "manifest.json").read_text())["plan_checked"]
    kpis, levels = pd.read_csv(folder / "kpis.csv"), pd.read_csv(folder / "levels.csv")
    assert kpis.groupby("region")["territory"].count().tolist() == [5, 5]
    by_region = kpis.groupby("region")[["potential", "accounts"]].sum()
    for _, row in levels.iterrows():
        assert row["potential"] == pytest.approx(by_region.loc[row["group"], "potential"])
        assert row["accounts"] == pytest.approx(by_region.loc[row["group"], "accounts"])
    assert levels["potential_within_bounds"].all() and levels["accounts_within_bounds"].all()
    assert levels["potential_target"].iloc[0] == pytest.approx(kpis["potential"].sum() / 2)


def test_fixed_centres_whose_territories_cannot_be_grouped_stop_with_a_message(tmp_cwd):
    """3 x 3 grid: corners u0, u2, u6 hold a territory's worth each and must stand alone; the rest is
    one territory touching all three, which touch nothing else. No 2 regions of 2 connected territories
    exist: a message naming the levels, exit 2, no run folder."""
    grid_units(tmp_cwd, 3, 3, [12, 2, 12, 2, 2, 2, 12, 2, 2])
    path = write_scenario(tmp_cwd, "star", {
        "units": {"path": "units.gpkg", "id": "uid"},
        "territories": {"count": 4, "centres": [{"unit": u} for u in ("u0", "u2", "u4", "u6")],
                        "nesting": [{"name": "region", "count": 2}]},
        "balance": [{"attribute": "pop", "tolerance": 0.05}],
        "objective": {"weight": "pop"}, "solver": {"time_limit": 20}})
    result = tplan("run", path)
    assert result.exit_code == 2, result.output
    assert "cannot be grouped into 2 regions" in result.output and "Traceback" not in result.output
    assert run_folders(tmp_cwd) == []


def test_nested_run_writes_every_level(tmp_cwd):
    """The bundled nested scenario: regions and districts in assignment.csv and levels.csv, every level
    balanced and contiguous, each district inside one region and each territory inside one district."""
    result = tplan("run", REPO / "scenarios" / "georgia_nested.yaml", "--time-limit", "10")
    assert result.exit_code == 0, result.output
    assert "regions: 2" in result.output and "districts: 4" in result.output
    [folder] = run_folders(tmp_cwd)
    assignment = pd.read_csv(folder / "assignment.csv", dtype=str)
    assert assignment["region"].nunique() == 2 and assignment["district"].nunique() == 4
    assert (assignment["district"].str[:3] == assignment["region"]).all()  # R01.D02 lies in R01
    assert (assignment.groupby("territory")["district"].nunique() == 1).all()
    levels = pd.read_csv(folder / "levels.csv")
    assert len(levels) == 6 and levels["contiguous"].all() and levels["TotPop90_within_bounds"].all()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["plan_checked"] and "nesting" in manifest["bound_method"]
    assert manifest["lower_bound"] <= manifest["objective"]
    report = (folder / "report.html").read_text()  # the map outlines every region and district
    assert report.count('class="level" data-level="region"') == 2
    assert report.count('class="level" data-level="district"') == 4
    assert "region R0" in report and "district R0" in report  # each unit's hover text names its groups
    assert "<h2>Regions and Districts</h2>" in report and "<td>R01.D02</td>" in report  # levels.csv as a table


def test_validate_names_a_home_outside_every_unit_and_prints_exact_bands(tmp_cwd):
    """3 x 4 grid of 10 km cells from x = 0 to 40 km (EPSG:3857 near 0, 0): a home at 42 km lies east of it."""
    scenario = grid_scenario(tmp_cwd, territories={"count": 2, "centres": [
        {"name": "West", "lat": 0.03, "lon": 0.04}, {"name": "East", "lat": -0.01, "lon": 0.377}]}, tol=0.13)
    result = tplan("validate", scenario)
    assert result.exit_code == 0, result.output
    assert "centre East (lat -0.01, lon 0.377) lies in no unit: placed in the nearest, u7" in result.output
    assert "West" not in result.output.split("balance")[0].split("centre East")[0]  # inside a unit: no line
    assert "balance pop: [5.22, 6.78] per territory" in result.output  # 12 units of 1: 6 ± 13%, not [5, 7]
