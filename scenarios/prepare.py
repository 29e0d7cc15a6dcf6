"""Turn a validated scenario into data: read the units, build the geography and the territory spec."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np

from geodata.build import build_geography, locate
from geodata.instance import Geography
from geodata.read_units import read_units
from model.precheck import precheck
from model.spec import BalanceRule, TerritorySpec, balance_bounds
from scenarios.errors import ScenarioError
from scenarios.schema import Scenario


@dataclass(frozen=True)
class Prepared:
    """Everything a run needs before modelling."""

    scenario: Scenario
    frame: gpd.GeoDataFrame
    geography: Geography
    spec: TerritorySpec
    inputs: dict[str, str]  # role -> absolute file path


def input_files(scenario: Scenario) -> dict[str, str]:
    """Every input file of the run, by role, including a shapefile's sidecars."""
    files = {"units": scenario.units.path}
    if scenario.adjacency.edges:
        files["adjacency.edges"] = scenario.adjacency.edges
    if scenario.distances.matrix:
        files["distances.matrix"] = scenario.distances.matrix
    units = Path(scenario.units.path)
    if units.suffix.lower() == ".shp":
        for ext in (".shx", ".dbf", ".prj", ".cpg"):
            side = units.with_suffix(ext)
            if side.is_file():
                files[f"units{ext}"] = str(side)
    return files


def prepare(scenario: Scenario) -> Prepared:
    """Read and check the data named by the scenario; no solving."""
    attributes = sorted({b.attribute for b in scenario.balance} | ({scenario.objective.weight} - {None}))
    u = scenario.units
    frame = read_units(Path(u.path), u.id, attributes, crs=u.crs, lat=u.lat, lon=u.lon, repair_geometry=u.repair_geometry)
    if u.label and u.label not in frame.columns:
        raise ScenarioError(f"units.label: column '{u.label}' not found in {Path(u.path).name}")
    geo = build_geography(
        frame,
        attributes,
        adjacency=scenario.adjacency.method,
        edges_path=Path(scenario.adjacency.edges) if scenario.adjacency.edges else None,
        matrix_path=Path(scenario.distances.matrix) if scenario.distances.matrix else None,
        matrix_column=scenario.distances.column,
        matrix_unit=scenario.distances.unit,
    )
    spec = make_spec(scenario, frame, geo)
    precheck(spec)
    return Prepared(scenario, frame, geo, spec, input_files(scenario))


def make_spec(scenario: Scenario, frame: gpd.GeoDataFrame, geo: Geography) -> TerritorySpec:
    t = scenario.territories
    pos = geo.index_of()
    centres, names = _centres(scenario, frame, pos)
    count = t.count
    if centres is not None and len(centres) != count:
        raise ScenarioError(f"territories.centres lists {len(centres)} centres but territories.count is {count}; make them agree")
    if centres is None and t.names is not None:
        if len(t.names) != count:
            raise ScenarioError(f"territories.names has {len(t.names)} names for {count} territories")
        names = tuple(t.names)
    names = names or tuple(f"T{i + 1:02d}" for i in range(count))
    if len(set(names)) != len(names):
        raise ScenarioError("territory names must be unique")
    locks = _locks(t.locked, pos, names, centres is not None)
    rules = []
    for b in scenario.balance:
        values = geo.attributes[b.attribute]
        if b.tolerance is not None:
            lo, hi = balance_bounds(values, count, b.tolerance)
        else:
            lo, hi = (b.min or 0.0), (b.max if b.max is not None else float(values.sum()))
        rules.append(BalanceRule(b.attribute, lo, hi, b.tolerance))
    w = scenario.objective.weight
    weight = geo.attributes[w] if w else np.ones(geo.n)
    return TerritorySpec(
        geography=geo,
        count=count,
        balance=tuple(rules),
        weight=weight,
        power=scenario.objective.power,
        contiguity=scenario.contiguity,
        centres=centres,
        locks=locks,
        names=names,
    )


def _centres(scenario: Scenario, frame: gpd.GeoDataFrame, pos: dict[str, int]):
    t = scenario.territories
    if t.centres == "free":
        return None, ()
    units, names = [], []
    for k, c in enumerate(t.centres):
        if c.unit is not None:
            if c.unit not in pos:
                raise ScenarioError(f"territories.centres[{k}].unit = '{c.unit}' is not a unit id of {Path(scenario.units.path).name}")
            unit = c.unit
        else:
            unit = locate(frame, c.lon, c.lat)
        units.append(pos[unit])
        names.append(c.name or f"T{k + 1:02d}")
    dup = sorted({names[i] for i, u in enumerate(units) if units.count(u) > 1})
    if dup:
        raise ScenarioError(f"territories.centres: {', '.join(dup)} share a centre unit; give each territory its own")
    return tuple(units), tuple(names)


def _locks(locked: dict[str, str], pos: dict[str, int], names: tuple[str, ...], fixed: bool):
    out = []
    labels: dict[str, int] = {}
    for unit, name in sorted(locked.items()):
        if unit not in pos:
            raise ScenarioError(f"territories.locked: unit '{unit}' is not in the units file; remove it or fix the id")
        if fixed:
            if name not in names:
                raise ScenarioError(f"territories.locked: '{unit}' -> '{name}', which is not a territory name ({', '.join(names)})")
            out.append((pos[unit], names.index(name)))
        else:
            labels.setdefault(name, len(labels))
            out.append((pos[unit], labels[name]))
    return tuple(out)
