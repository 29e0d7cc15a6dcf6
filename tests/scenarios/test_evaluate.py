"""`tplan evaluate`: a plan the user brings is checked against the scenario's rules and written as a run."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from model.search import solve_territories
from scenarios.cli import app
from scenarios.evaluate import read_plan
from scenarios.loading import load_scenario
from scenarios.prepare import prepare
from solvers import SolverOptions
from solvers.highs import HighsEngine
from tests.scenarios.helpers import grid_scenario

runner = CliRunner()


def tplan(*args):
    return runner.invoke(app, [str(a) for a in args])


def folders(root: Path) -> list[Path]:
    return sorted(p for p in (root / "runs").glob("*/*") if (p / "manifest.json").is_file())


def solved(tmp_cwd) -> tuple[Path, Path, dict]:
    """A 3 x 4 grid in two territories (population ±20%), solved to optimality: scenario, run, manifest."""
    scenario = grid_scenario(tmp_cwd)
    assert tplan("run", scenario).exit_code == 0
    [run] = folders(tmp_cwd)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "optimal"
    return scenario, run, manifest


def test_a_runs_own_plan_keeps_every_rule_and_compares(tmp_cwd):
    scenario, run, solved_manifest = solved(tmp_cwd)
    plan = pd.read_csv(run / "assignment.csv", dtype=str)
    plan.drop(columns=["centre"]).to_csv(tmp_cwd / "plan.csv", index=False)  # centres chosen as the model would
    result = tplan("evaluate", scenario, tmp_cwd / "plan.csv")
    assert result.exit_code == 0, result.output
    assert "keeps every rule" in result.output
    evaluated = next(f for f in folders(tmp_cwd) if f != run)
    manifest = json.loads((evaluated / "manifest.json").read_text())
    assert manifest["status"] == "evaluated" and manifest["plan_checked"] and manifest["violations"] == []
    assert manifest["objective"] == pytest.approx(solved_manifest["objective"])  # an optimum's centres are medoids
    assert manifest["inputs"]["plan"]["sha256"] and manifest["lower_bound"] is None
    again = pd.read_csv(evaluated / "assignment.csv", dtype=str)
    assert again[["unit", "territory", "centre"]].equals(plan[["unit", "territory", "centre"]])
    for name in ("kpis.csv", "map.png", "report.html", "exports/units.csv"):
        assert (evaluated / name).is_file(), name
    assert "rules broken" in (evaluated / "report.html").read_text()
    compared = tplan("compare", run, evaluated)
    assert compared.exit_code == 0 and "differ in 0 units" in compared.output
    [folder] = list((tmp_cwd / "runs" / "compare").iterdir())
    table = pd.read_csv(folder / "compare.csv", index_col="kpi")
    assert table.loc["rules_broken"].astype(int).tolist() == [0, 0] and table.loc["all_contiguous"].tolist() == ["True"] * 2
    by_scenario = tplan("compare", scenario, evaluated)  # the scenario's newest solved run, not the evaluated one
    assert by_scenario.exit_code == 0 and f"{run.name}" in by_scenario.output


def test_a_hand_edit_that_breaks_rules_names_them_and_is_still_written(tmp_cwd):
    scenario, run, _ = solved(tmp_cwd)
    plan = pd.read_csv(run / "assignment.csv", dtype=str)
    plan["territory"] = plan["territory"].replace({"T01": "North", "T02": "South"})  # the user's own names
    corner = plan["unit"] == "u0"
    plan.loc[corner, "territory"] = "South" if plan.loc[corner, "territory"].item() == "North" else "North"
    plan.drop(columns=["centre"]).to_csv(tmp_cwd / "edited.csv", index=False)
    result = tplan("evaluate", scenario, tmp_cwd / "edited.csv")
    assert result.exit_code == 5, result.output
    assert "breaks a rule: territory" in result.output and "not contiguous" in result.output
    evaluated = next(f for f in folders(tmp_cwd) if f != run)
    manifest = json.loads((evaluated / "manifest.json").read_text())
    assert not manifest["plan_checked"] and any("not contiguous" in v for v in manifest["violations"])
    kpis = pd.read_csv(evaluated / "kpis.csv", dtype={"territory": str})
    assert set(kpis["territory"]) == {"North", "South"} and not kpis["contiguous"].all()
    page = (evaluated / "report.html").read_text()
    assert "class='broken'><b>This plan breaks" in page and "is not contiguous</li>" in page


@pytest.mark.parametrize("case", ["no territory column", "unit twice", "unknown unit", "unit missing",
                                  "empty territory", "not a file"])
def test_bad_plan_files_are_one_clear_message_and_write_nothing(tmp_cwd, case):
    scenario, run, _ = solved(tmp_cwd)
    plan = pd.read_csv(run / "assignment.csv", dtype=str)
    expected = {"no territory column": "needs a 'unit'", "unit twice": "units listed twice: u1",
                "unknown unit": "not in the scenario's units file: zz", "unit missing": "1 unit has no territory (u11)",
                "empty territory": "row 2 has no unit or no territory",
                "not a file": "file not found"}[case]
    if case == "no territory column":
        plan = plan.drop(columns=["territory"])
    elif case == "unit twice":
        plan = pd.concat([plan, plan.iloc[[1]]])
    elif case == "unknown unit":
        plan.loc[0, "unit"] = "zz"
    elif case == "unit missing":
        plan = plan[plan["unit"] != "u11"]
    elif case == "empty territory":
        plan.loc[0, "territory"] = None
    path = tmp_cwd / ("missing.csv" if case == "not a file" else "plan.csv")
    if case != "not a file":
        plan.to_csv(path, index=False)
    result = tplan("evaluate", scenario, path)
    assert result.exit_code == 2, result.output
    assert expected in result.output and "Traceback" not in result.output
    assert folders(tmp_cwd) == [run]


def test_fixed_centres_match_territories_by_name(tmp_cwd):
    scenario = grid_scenario(tmp_cwd, territories={"count": 2, "centres": [{"name": "West", "unit": "u0"},
                                                                          {"name": "East", "unit": "u11"}]})
    prepared = prepare(load_scenario(scenario))
    outcome = solve_territories(prepared.spec, HighsEngine(), SolverOptions(time_limit=10))
    west = {prepared.geography.ids[i] for i, c in enumerate(outcome.plan.centre_of) if c == prepared.spec.centres[0]}
    rows = [{"unit": u, "territory": "West" if u in west else "East"} for u in prepared.geography.ids]
    pd.DataFrame(rows).to_csv(tmp_cwd / "plan.csv", index=False)
    plan, names = read_plan(tmp_cwd / "plan.csv", prepared)
    assert plan == outcome.plan and names == {prepared.spec.centres[0]: "West", prepared.spec.centres[1]: "East"}
    pd.DataFrame([{**r, "territory": "Middle" if r["unit"] == "u5" else r["territory"]} for r in rows]).to_csv(
        tmp_cwd / "plan.csv", index=False)
    result = tplan("evaluate", scenario, tmp_cwd / "plan.csv")
    assert result.exit_code == 2 and "territory 'Middle' is not among the scenario's (West, East)" in result.output


def test_todays_alignment_is_evaluated_as_it_is(tmp_cwd):
    """An alignment file (unit, rep_id) is a plan too: each rep's territory, nothing moved against today."""
    from tests.scenarios.test_redesign_cli import grid_redesign

    scenario = grid_redesign(tmp_cwd)
    result = tplan("evaluate", scenario, tmp_cwd / "alignment.csv")
    assert result.exit_code in (0, 5), result.output
    [folder] = folders(tmp_cwd)
    redesign = json.loads((folder / "kpis.json").read_text())["plan"]["redesign"]
    assert redesign["units_moved"] == 0 and redesign["relationship_moved_pct"] == 0
    units = pd.read_csv(folder / "exports" / "units.csv", dtype=str)
    today = pd.read_csv(tmp_cwd / "alignment.csv", dtype=str)
    assert dict(zip(units["unit_id"], units["rep_id"])) == dict(zip(today["unit"], today["rep_id"]))
    today.rename(columns={"rep_id": "territory"}).to_csv(tmp_cwd / "by_id.csv", index=False)  # rep ids as names
    again = tplan("evaluate", scenario, tmp_cwd / "by_id.csv")
    assert again.exit_code == result.exit_code, again.output


def test_a_spreadsheets_plan_file_reads_as_the_user_meant(tmp_cwd):
    """Headers capitalised, Windows-1252 text with CRLF line ends, empty trailing rows, and a moved unit whose
    row still names its old territory's centre: read as meant, each territory centred on one of its units."""
    scenario, run, _ = solved(tmp_cwd)
    plan = pd.read_csv(run / "assignment.csv", dtype=str)
    moved = plan.loc[plan["centre"] != plan["unit"], "unit"].iloc[0]  # not a centre itself
    other = plan.loc[plan["territory"] != plan.set_index("unit").loc[moved, "territory"], "territory"].iloc[0]
    plan.loc[plan["unit"] == moved, "territory"] = other  # its centre column still names the old centre
    rows = "".join(f"{u},{t},{c},caf\u00e9\r\n" for u, t, c in zip(plan["unit"], plan["territory"], plan["centre"]))
    (tmp_cwd / "plan.csv").write_bytes(("Unit,Territory,Centre,Note\r\n" + rows + ",,,\r\n,,,\r\n").encode("cp1252"))
    result = tplan("evaluate", scenario, tmp_cwd / "plan.csv")
    assert result.exit_code in (0, 5), result.output
    evaluated = next(f for f in folders(tmp_cwd) if f != run)
    written = pd.read_csv(evaluated / "assignment.csv", dtype=str).set_index("unit")
    assert written["territory"].equals(plan.set_index("unit")["territory"])
    for _, members in written.groupby("territory"):
        assert members["centre"].nunique() == 1 and members["centre"].iloc[0] in members.index
