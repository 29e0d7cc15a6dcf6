"""Evaluate a plan the user brings (a run's assignment.csv edited by hand, today's alignment from the CRM):
the independent checker names every rule it breaks, and a new run folder holds its KPIs, map and report,
so that `tplan compare` can set it beside an optimised run."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from geodata.read_units import short_list
from geodata.tables import as_known_ids, find_column, read_text_csv
from model.check import plan_violations
from model.plan import Plan
from scenarios import run_index
from scenarios.errors import ScenarioError
from scenarios.new_folder import NewFolder
from scenarios.outputs import write_exports, write_plan
from scenarios.prepare import Prepared, prepare
from scenarios.report import write_report
from scenarios.runner import geography_record, input_record, run_digest, sha256, versions, write_manifest
from scenarios.schema import Scenario

ID_COLUMNS = ("unit", "unit_id")  # assignment.csv and exports/units.csv


@dataclass(frozen=True)
class Evaluation:
    """Where the evaluated plan's folder went, its objective and the rules it breaks."""

    folder: Path
    objective: float
    violations: list[str]


def read_plan(path: Path, prepared: Prepared) -> tuple[Plan, dict[int, str]]:
    """The plan in a CSV of unit -> territory (optionally centre, and a column per nesting level), and the
    territories' names by centre. Centres: the scenario's fixed ones (matched by name, or by rep id in a
    redesign), else the centre most of a territory's rows name, else the unit that makes it most compact."""
    geo, spec = prepared.geography, prepared.spec
    name = path.name
    table = _plan_table(path, prepared)
    members: dict[str, list[int]] = {}
    for i, t in enumerate(table["territory"]):
        members.setdefault(t, []).append(i)
    centre_of_name = _centres(name, table, members, prepared)
    groups = []
    for level, _ in spec.levels:
        if level not in table.columns or table[level].isna().any():
            raise ScenarioError(f"{name}: needs a '{level}' column for every unit (territories.nesting names it)")
        numbers: dict[str, int] = {}
        groups.append(tuple(numbers.setdefault(code, len(numbers)) for code in table[level]))
    plan = Plan(tuple(centre_of_name[t] for t in table["territory"]), tuple(groups))
    return plan, {c: t for t, c in centre_of_name.items()}


def _plan_table(path: Path, prepared: Prepared) -> pd.DataFrame:
    """The plan file's rows indexed by unit, in the geography's unit order, every unit once with a territory."""
    geo, name = prepared.geography, path.name
    if not path.is_file():
        raise ScenarioError(f"{path}: file not found; give the plan as a CSV of unit, territory (e.g. a run's "
                            "assignment.csv)")
    table = read_text_csv(path, "the plan file").replace("", np.nan)
    found = {c: find_column(table, c) for c in ("unit", "unit_id", "territory", "centre")}  # Unit, Territory
    table = table.rename(columns={f: c for c, f in found.items() if f is not None})
    alignment = prepared.scenario.alignment if prepared.redesign is not None else None
    candidates = (*ID_COLUMNS, prepared.scenario.units.id) + ((alignment.unit,) if alignment is not None else ())
    id_column = next((c for c in candidates if c in table.columns), None)
    if "territory" not in table.columns and alignment is not None and alignment.rep in table.columns:
        table["territory"] = table[alignment.rep]  # today's alignment file: a rep per unit
    if id_column is None or "territory" not in table.columns:
        raise ScenarioError(f"{name}: needs a 'unit' (or 'unit_id', or '{prepared.scenario.units.id}' as in the units "
                            f"file) column and a 'territory' column; it has {short_list(list(table.columns), 8)}")
    table = table.apply(lambda s: s.str.strip())
    empty = table.index[table[id_column].isna() | table["territory"].isna()]
    if len(empty):
        rows = f"rows {short_list([int(i) + 2 for i in empty])} have" if len(empty) > 1 else f"row {int(empty[0]) + 2} has"
        raise ScenarioError(f"{name}: {rows} no unit or no territory (counting the header as row 1); fill them in "
                            "or remove them")
    table[id_column] = as_known_ids(table[id_column], geo.ids)
    if prepared.redesign is not None:  # rep ids stand for their territories
        table["territory"] = _rep_territories(table["territory"], prepared)
    ids = table[id_column]
    duplicated = sorted(ids[ids.duplicated()].unique())
    if duplicated:
        raise ScenarioError(f"{name}: units listed twice: {short_list(duplicated)}; give each unit one territory")
    known = set(geo.ids)
    unknown = sorted(set(ids) - known)
    if unknown:
        raise ScenarioError(f"{name}: units not in the scenario's units file: {short_list(unknown)}; fix or remove "
                            "those rows")
    listed = set(ids)
    missing = [u for u in geo.ids if u not in listed]
    if missing:
        have = f"{len(missing)} units have" if len(missing) > 1 else "1 unit has"
        raise ScenarioError(f"{name}: {have} no territory ({short_list(missing)}); every unit needs one")
    return table.set_index(id_column).reindex(list(geo.ids))


def _rep_territories(territory: pd.Series, prepared: Prepared) -> pd.Series:
    """In a redesign, a rep id stands for the rep's territory (an alignment file names reps, not territories)."""
    redesign = prepared.redesign
    serving = [redesign.reps[r] for r in redesign.territory_reps]
    by_id = {rep.id: name for rep, name in zip(serving, prepared.spec.territory_names())}
    for rep in redesign.reps:  # a leaver's territory is named, and refused as not the scenario's
        by_id.setdefault(rep.id, rep.name)
    names = set(prepared.spec.territory_names())
    return territory.map(lambda t: t if t in names else by_id.get(t, t))


def _centres(name: str, table: pd.DataFrame, members: dict[str, list[int]], prepared: Prepared) -> dict[str, int]:
    geo, spec = prepared.geography, prepared.spec
    position = {u: i for i, u in enumerate(geo.ids)}
    if spec.centres is not None:  # the scenario's territories: the names must be theirs
        by_name = dict(zip(spec.territory_names(), spec.centres))
        strange = sorted(set(members) - set(by_name))
        if strange:
            which = f"territories {short_list(strange)} are" if len(strange) > 1 else f"territory '{strange[0]}' is"
            raise ScenarioError(f"{name}: {which} not among the scenario's ({short_list(list(by_name), 12)}); with "
                                "fixed centres the names must match")
        return {t: by_name[t] for t in members}
    cost = spec.cost()
    found = {}
    for t, units in members.items():
        # the centre most of its rows name, if it is one of its units (a unit moved by hand keeps its old
        # territory's centre in its row); else the unit that makes it most compact (the model's choice)
        named = table["centre"].iloc[units].dropna() if "centre" in table.columns else pd.Series(dtype=str)
        named = named[named.map(lambda u: u in position and position[u] in units)]
        if len(named):
            found[t] = position[named.value_counts().index[0]]
        else:
            found[t] = int(np.asarray(units)[np.argmin(cost[np.ix_(units, units)].sum(axis=0))])
    return found


def evaluate_plan(scenario: Scenario, plan_path: Path) -> Evaluation:
    """Check the plan against the scenario's rules and write a new run folder with its KPIs, map and report."""
    prepared = prepare(scenario, feasible=False)  # a target no plan can meet still scores the user's plan
    plan, names = read_plan(plan_path, prepared)
    prepared = replace(prepared, names=names)
    violations = plan_violations(prepared.spec, plan, names)
    objective = plan.objective(prepared.spec.cost())
    inputs = input_record(prepared) | {"plan": {"path": str(plan_path.resolve()), "sha256": sha256(str(plan_path))}}
    resolved = scenario.model_dump(mode="json")
    root = Path(scenario.output.dir) / (scenario.name or "scenario")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    folder = NewFolder(root, f"{stamp}-{run_digest(resolved, inputs)}")
    with folder as tmp:
        (tmp / "scenario.yaml").write_text(yaml.safe_dump(resolved, sort_keys=False))
        manifest = {
            "scenario": scenario.name, "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "resolved_scenario": resolved, "inputs": inputs, "versions": versions(),
            "geography": geography_record(prepared), "status": "evaluated", "objective": objective,
            "lower_bound": None, "gap": None, "bound_method": None, "evaluated_plan": str(plan_path.resolve()),
            "violations": violations, "plan_checked": not violations,
        }
        manifest["plan"] = write_plan(prepared, plan, tmp)
        write_exports(prepared, plan, tmp, scenario.output.gis)
        if scenario.output.report:
            write_report(prepared, plan, tmp, manifest)
        write_manifest(tmp, manifest, {})
    try:
        run_index.record(root.parent, folder.path)
    except (sqlite3.Error, OSError):
        pass  # the folder is the record; `tplan runs` re-synchronises the index from the folders
    return Evaluation(folder.path, objective, violations)
