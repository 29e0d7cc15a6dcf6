"""End to end: coverage plans on the bundled Georgia case and on a small grid, and bad coverage input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from scenarios.cli import app
from tests.conftest import REPO
from tests.scenarios.test_redesign_cli import grid_redesign, only_run

runner = CliRunner()
DATA = REPO / "scenarios" / "data" / "georgia_redesign"


def tplan(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_bundled_coverage_run(tmp_cwd):
    scenario = tmp_cwd / "cover.yaml"
    scenario.write_text(yaml.safe_dump({"extends": str(REPO / "scenarios" / "georgia_coverage.yaml"),
                                        "solver": {"time_limit": 10}}))
    result = tplan("run", scenario)
    assert result.exit_code == 0, result.output
    assert "coverage: margin" in result.output
    folder = only_run(tmp_cwd)
    for name in ("coverage.csv", "rep_utilisation.csv", "channels.csv", "matrix.csv", "coverage.json",
                 "capacity_value.png"):
        assert (folder / name).is_file(), name
    plan = pd.read_csv(folder / "coverage.csv", dtype={"customer": str})
    accounts = pd.read_csv(DATA / "accounts.csv", dtype={"account_id": str})
    assert sorted(plan["customer"]) == sorted(accounts["account_id"])  # every customer exactly once
    # The scenario's rules, re-read from the output and the inputs (not from the solver):
    key = plan[plan.segment == "key"]
    assert set(key.channel) <= {"field", "tele"} and (key.contacts >= 6).all()
    assert (plan.loc[plan.segment == "normal", "contacts"] <= 12).all()
    today = pd.read_csv(DATA / "coverage.csv", dtype={"account_id": str}).set_index("account_id")
    kept = today.index[today.keep_channel.astype(str).str.lower() == "true"]
    chosen = plan.set_index("customer").loc[kept]
    assert ((chosen.channel == today.loc[kept, "channel"]) | (chosen.contacts == 0)).all()
    reps = pd.read_csv(folder / "rep_utilisation.csv")
    used = plan[plan.channel == "field"].groupby("rep")["hours"].sum()
    assert (used.reindex(reps.rep).fillna(0).to_numpy() <= reps.hours_available.to_numpy() + 1e-3).all()
    assert plan.loc[plan.channel == "tele", "hours"].sum() <= 3000 + 1e-3
    summary = json.loads((folder / "coverage.json").read_text())
    assert summary["gap"] <= 0.001 and summary["margin"] > summary["current_margin"]
    assert summary["shift"]["field_to_tele"]["customers"] > 0
    assert json.loads((folder / "manifest.json").read_text())["coverage"]["status"] == "optimal"


def test_what_if_scenarios_validate():
    for name in ("tele", "leaver"):
        result = tplan("validate", REPO / "scenarios" / f"georgia_coverage_{name}.yaml")
        assert result.exit_code == 0, result.output
    assert "9 territories" in tplan("validate", REPO / "scenarios" / "georgia_coverage_leaver.yaml").output


def coverage_block(**changes) -> dict:
    block = {
        "data": {"channel": "channel", "contacts": "visits", "keep_channel": "keep_ch", "visit_value": "vv"},
        "segments": [
            {"name": "key", "top_share": 0.25, "channels": ["field", "tele"], "min_contacts": 1},
            {"name": "normal", "max_contacts": 12},
        ],
        "levels": [0, 1, 2, 4, 12],
        "field": {"cost_per_contact": 1.0, "minutes_per_contact": 60},
        "tele": {"cost_per_contact": 0.2, "capacity_hours": 5},
        "online": {"cost_per_contact": 0.01},
    }
    block.update(changes)
    return block


def grid_coverage(folder: Path, rows=None, **changes) -> Path:
    grid_redesign(folder)
    table = pd.read_csv(folder / "accounts.csv")
    n = len(table)
    table["channel"] = ["field", "tele", "online"] * (n // 3)
    table["visits"] = [4, 6, 12] * (n // 3)
    table["keep_ch"] = "false"
    table["vv"] = [3, ""] * (n // 2)
    if rows is not None:
        rows(table)
    table.to_csv(folder / "accounts.csv", index=False)
    body = yaml.safe_load((folder / "grid_redesign.yaml").read_text())
    body["coverage"] = coverage_block(**changes)
    path = folder / "grid_cover.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def test_grid_coverage_run(tmp_cwd):
    """Tele capacity given in calls: 20 calls of 15 minutes are 5 hours."""
    result = tplan("run", grid_coverage(tmp_cwd, tele={"cost_per_contact": 0.2, "capacity_contacts": 20}))
    assert result.exit_code == 0, result.output
    plan = pd.read_csv(only_run(tmp_cwd) / "coverage.csv")
    assert len(plan) == 24 and set(plan.segment) == {"key", "normal"}
    assert (plan.segment == "key").sum() == 6
    assert plan.loc[plan.channel == "tele", "contacts"].sum() <= 20
    summary = json.loads((only_run(tmp_cwd) / "coverage.json").read_text())
    assert summary["tele_hours_available"] == 5.0


def test_a_blank_channel_is_not_contacted_today_and_todays_figures_stay(tmp_cwd):
    """A blank channel means no channel today: that account is not contacted today (the visits given
    for it are not counted, a note says so) and today's figures stay for every account (one blank cell
    dropped them all, silently). The channels add up to the totals, also when a customer with no contact
    still gives something (a curve with a floor)."""
    def blank_first(table):
        table.loc[0, "channel"] = ""

    scenario = grid_coverage(tmp_cwd, rows=blank_first, segments=[
        {"name": "key", "top_share": 0.25, "channels": ["field", "tele"], "min_contacts": 1},
        {"name": "normal", "max_contacts": 12, "response": {"kind": "adbudg", "floor": 0.1, "half": 4}}])
    result = tplan("run", scenario)
    assert result.exit_code == 0, result.output
    assert "today's plan" in result.output
    folder = only_run(tmp_cwd)
    summary = json.loads((folder / "coverage.json").read_text())
    assert summary["note"] == ("1 account with no channel today (blank 'channel' in accounts.csv: A00): not contacted "
                               "today; the 4 contacts a year given are not counted (fill in 'channel' to count them)")
    assert json.loads((folder / "manifest.json").read_text())["coverage"]["note"] == summary["note"]
    assert summary["current_margin"] is not None and summary["shift"] is not None
    plan = pd.read_csv(folder / "coverage.csv", dtype={"customer": str}).set_index("customer")
    today = pd.read_csv(tmp_cwd / "accounts.csv", dtype=str, keep_default_na=False).set_index("account_id")
    assert plan.loc["A00", ["current_channel", "current_contacts"]].tolist() == ["not contacted", 0]
    assert (plan.current_channel.drop("A00") == today.channel.drop("A00")).all()
    channels = pd.read_csv(folder / "channels.csv").set_index("channel")
    assert channels.current_contacts.sum() == today.visits.astype(float).sum() - 4
    assert channels.loc["not contacted", "current_contribution"] > 0  # the floor of A00's curve
    assert channels.current_margin.sum() == pytest.approx(summary["current_margin"], abs=0.05)
    assert channels.margin.sum() == pytest.approx(summary["margin"], abs=0.05)


def _keep_online(table):
    table.loc[table.potential.idxmax(), ["channel", "keep_ch"]] = ["online", "true"]


@pytest.mark.parametrize("case,changes,rows,expected", [
    ("convex curve", {"segments": [{"name": "all", "response": {"kind": "adbudg", "shape": 2.5, "half": 3}}]}, None,
     "coverage.segments[all].response: the curve is not concave"),
    ("share above 1", {"segments": [{"name": "all", "response": {"kind": "table", "points": [[0, 0], [4, 1.2]]}}]},
     None, "a table curve's points are [contacts >= 0, share of the potential between 0 and 1]"),
    ("negative cost", {"tele": {"cost_per_contact": -1}}, None, "coverage.tele.cost_per_contact"),
    ("bad channel", {}, lambda t: t.__setitem__("channel", ["fax"] + list(t.channel[1:])), "must be field, tele, online"),
    ("no allowed channel", {}, _keep_online, "has no allowed channel: segment 'key' allows field, tele"),
    ("last segment with a share", {"segments": [{"name": "key", "top_share": 0.5}]}, None, "takes the rest"),
    ("unknown index column", {"value_index": {"margin": 1.0}}, None,
     "column 'margin' not found (columns: account_id, unit, rep_id, potential, relationship, keep, channel, visits "
     "and 2 more); fix the file or coverage.value_index"),
    ("index weights all zero", {"value_index": {"potential": 0.0}}, None, "at least one above 0"),
    ("no contact levels", {"levels": []}, None, "levels: list the contacts a year"),
    ("segment without channels", {"segments": [{"name": "all", "channels": []}]}, None,
     "coverage.segments[0].channels: List should have at least 1 item"),
    ("tele-only customers beyond the tele hours", {"tele": {"cost_per_contact": 0.2, "capacity_hours": 0}, "segments": [
        {"name": "key", "top_share": 0.25, "channels": ["tele"], "min_contacts": 1}, {"name": "normal"}]}, None,
     "the tele team: the minimum contacts of the 6 customers only it may serve need 1.5 h a year but only 0.0 h"),
])
def test_bad_coverage_input_is_one_clear_message(tmp_cwd, case, changes, rows, expected):
    result = tplan("validate", grid_coverage(tmp_cwd, rows=rows, **changes))
    assert result.exit_code == 2, result.output
    assert expected in result.output, result.output
    assert "Traceback" not in result.output


def test_minimum_visits_beyond_a_reps_time_fail_the_run_and_write_nothing(tmp_cwd):
    scenario = grid_coverage(tmp_cwd, tele={"cost_per_contact": 0.2, "capacity_hours": 0},
                             field={"cost_per_contact": 1.0, "minutes_per_contact": 60, "working_days": 1,
                                    "hours_per_day": 6},
                             segments=[{"name": "key", "top_share": 0.5, "channels": ["field", "tele"],
                                        "min_contacts": 2}, {"name": "normal"}])
    result = tplan("run", scenario)
    assert result.exit_code == 2, result.output
    assert "short by" in result.output and "rep R" in result.output
    assert not (tmp_cwd / "runs").exists()  # not even an empty runs/<scenario>/ (left behind before)


def test_field_only_customer_in_a_vacant_territory_is_named(tmp_cwd):
    """R3's position is vacant: its key customers may only be visited in the field, and nobody can."""
    scenario = grid_coverage(tmp_cwd, segments=[{"name": "key", "top_share": 0.25, "channels": ["field"],
                                                 "min_contacts": 1}, {"name": "normal"}])
    reps = pd.read_csv(tmp_cwd / "reps.csv")
    reps.loc[reps.rep_id == "R3", "status"] = "vacant"
    reps.to_csv(tmp_cwd / "reps.csv", index=False)
    result = tplan("run", scenario)
    assert result.exit_code == 2, result.output
    assert "has no allowed channel" in result.output and "its territory has no rep" in result.output
    assert not [p for p in (tmp_cwd / "runs").glob("*/*")]


def test_a_vacant_territorys_customers_that_keep_the_field_and_todays_hours(tmp_cwd):
    """R3's position is vacant and its customers must keep their channel, the field for some: nobody can
    visit them, so they are not contacted (the run wrote nothing before: a crash counting visits per rep).
    Today's hours are today's reps' whatever the new plan: the same with and without the vacancy."""
    def keep_r3(table):
        table["keep_ch"] = np.where((table.rep_id == "R3") & (table.channel == "field"), "true", "false")

    scenario = grid_coverage(tmp_cwd, rows=keep_r3, segments=[
        {"name": "key", "top_share": 0.25, "channels": ["field", "tele"]}, {"name": "normal", "max_contacts": 12}])
    assert tplan("run", scenario).exit_code == 0
    [first] = [p for p in (tmp_cwd / "runs").glob("*/*") if p.is_dir()]
    reps = pd.read_csv(tmp_cwd / "reps.csv")
    reps.loc[reps.rep_id == "R3", "status"] = "vacant"
    reps.to_csv(tmp_cwd / "reps.csv", index=False)
    result = tplan("run", scenario)
    assert result.exit_code == 0, result.output
    # (run ids start with the second they land: two runs in one second sort by their digest, not their order)
    [vacant] = [p for p in (tmp_cwd / "runs").glob("*/*") if p.is_dir() and p != first]
    today = [json.loads((f / "coverage.json").read_text())["current_field_hours_used"] for f in (first, vacant)]
    assert today[0] == pytest.approx(today[1]) and today[0] > 0
    plan = pd.read_csv(vacant / "coverage.csv", dtype={"customer": str})
    accounts = pd.read_csv(tmp_cwd / "accounts.csv", dtype={"account_id": str}).set_index("account_id")
    r3_field = accounts.index[(accounts.rep_id == "R3") & (accounts.channel == "field")]
    assert len(r3_field) and (plan.set_index("customer").loc[r3_field, "channel"] == "not contacted").all()
    utilisation = pd.read_csv(vacant / "rep_utilisation.csv").set_index("rep")
    assert utilisation.loc["R3", "visits"] == 0 and utilisation.loc["R3", "hours_available"] == 0
    exported = pd.read_csv(vacant / "exports" / "accounts.csv", dtype=str).set_index("account_id")
    assert (exported.loc[r3_field, "channel"] == "not contacted").all()


def test_coverage_rows_for_unknown_accounts_are_said_not_silently_dropped(tmp_cwd):
    """A separate coverage file (a CRM export) may name accounts the accounts file does not have (closed ones):
    the run goes on without them and the note names them (they were dropped without a word)."""
    scenario = grid_coverage(tmp_cwd)
    table = pd.read_csv(tmp_cwd / "accounts.csv", dtype=str, keep_default_na=False)
    extra = table.iloc[:1].assign(account_id="ZZ99")
    pd.concat([table, extra])[["account_id", "channel", "visits", "keep_ch", "vv"]].to_csv(tmp_cwd / "crm.csv",
                                                                                           index=False)
    body = yaml.safe_load(scenario.read_text())
    body["coverage"]["data"]["path"] = "crm.csv"
    scenario.write_text(yaml.safe_dump(body, sort_keys=False))
    result = tplan("run", scenario)
    assert result.exit_code == 0, result.output
    expected = "1 row of crm.csv for accounts not in the accounts file (ZZ99) ignored"
    assert expected in result.output
    assert json.loads((only_run(tmp_cwd) / "coverage.json").read_text())["note"] == expected
