"""Turn a validated scenario into data: read the units, build the geography and the territory spec."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import geopandas as gpd
import numpy as np

from geodata.build import build_geography, locate_many, refuse_far_homes
from geodata.distances import DENSE_MAX_UNITS
from geodata.instance import Geography
from geodata.read_units import read_units, require_file
from geodata.split_units import split_units
from model.coverage import build_options
from model.coverage_search import check_tele_is_enough
from model.precheck import precheck
from model.redesign import DisruptionLimit, DisruptionTerms, Redesign, aggregate, locked_offsets, with_disruption
from model.spec import BalanceRule, TerritorySpec, balance_bounds, default_names
from scenarios.coverage_inputs import CoverageData, coverage_inputs, read_coverage
from scenarios.errors import ScenarioError, quote_hint
from scenarios.redesign_inputs import read_redesign
from scenarios.schema import Scenario


@dataclass(frozen=True)
class Prepared:
    """Everything a run needs before modelling."""

    scenario: Scenario
    frame: gpd.GeoDataFrame
    geography: Geography
    spec: TerritorySpec
    inputs: dict[str, str]  # role -> absolute file path
    redesign: Redesign | None = None
    aggregated: dict[str, str] | None = None  # unit attribute -> account value it sums
    outside_accounts: tuple[str, ...] = ()  # accounts outside every unit, joined to the nearest
    base_spec: TerritorySpec | None = None  # the spec before disruption terms (trade-off sweeps)
    coverage: CoverageData | None = None  # the coverage block's customer data, read and checked
    names: dict[int, str] | None = None  # territory names by centre from a plan file (tplan evaluate)
    homes_outside: tuple[str, ...] = ()  # centres given by lat/lon outside every unit, placed in the nearest

    def with_terms(self, terms: DisruptionTerms) -> TerritorySpec:
        """The spec with other disruption terms (a point of a trade-off sweep)."""
        return with_disruption(self.base_spec, self.redesign, terms)


def input_files(scenario: Scenario) -> dict[str, str]:
    """Every input file of the run, by role, including a shapefile's sidecars."""
    files = {"units": scenario.units.path}
    if scenario.units.split is not None:
        files["units.split"] = scenario.units.split.path
    if scenario.adjacency.edges:
        files["adjacency.edges"] = scenario.adjacency.edges
    if scenario.adjacency.remove:
        files["adjacency.remove"] = scenario.adjacency.remove
    if scenario.distances.matrix:
        files["distances.matrix"] = scenario.distances.matrix
    for role in ("reps", "alignment", "accounts"):
        block = getattr(scenario, role)
        if block is not None and getattr(block, "path", None):
            files[role] = block.path
    if scenario.coverage is not None and scenario.coverage.data.path:
        files["coverage.data"] = scenario.coverage.data.path
    units = Path(scenario.units.path)
    if units.suffix.lower() == ".shp":
        for ext in (".shx", ".dbf", ".prj", ".cpg"):
            side = units.with_suffix(ext)
            if side.is_file():
                files[f"units{ext}"] = str(side)
    return files


def units_to_split(scenario: Scenario, frame: gpd.GeoDataFrame) -> set[str]:
    """The units named in units.split.units, and those whose value of a balance attribute is above
    units.split.threshold times a territory's maximum in `frame`."""
    split, count = scenario.units.split, scenario.territories.count
    chosen = set(split.units)
    for b in scenario.balance:
        if b.attribute not in frame.columns:
            continue
        values = frame[b.attribute].to_numpy(dtype=float)
        if b.tolerance is not None:
            upper = balance_bounds(values, count, b.tolerance)[1]
        elif b.max is not None:
            upper = b.max
        else:
            continue
        chosen |= set(frame.index[values > split.threshold * upper])
    return chosen


def _split(scenario: Scenario, frame: gpd.GeoDataFrame, attributes: list[str]) -> gpd.GeoDataFrame:
    """The units with those too large for a territory replaced by their finer units (units.split).
    Splitting changes the totals, and so a territory's maximum (the finer units' values need not add
    up to their unit's): units are split until no other unit is above the threshold."""
    u, split = scenario.units, scenario.units.split
    if scenario.reps is not None:
        raise ScenarioError("units.split: a redesign (reps, alignment, accounts) needs its units as they are; "
                            "remove units.split or split the units file itself")
    require_file(Path(split.path), "units.split.path")  # even when no unit needs splitting: the run hashes it
    chosen = units_to_split(scenario, frame)
    if not chosen:
        return frame
    unknown = sorted(set(split.columns) - set(attributes))
    if unknown:
        raise ScenarioError(f"units.split.columns: '{unknown[0]}' is not an attribute the scenario uses; "
                            f"use one of: {', '.join(attributes)}")
    parts = read_units(Path(split.path), split.id, [split.columns.get(a, a) for a in attributes],
                       crs=split.crs or u.crs, lat=split.lat, lon=split.lon, repair_geometry=u.repair_geometry,
                       key="units.split", layer=split.layer, label=split.label)
    parts = parts.drop(columns=[a for a in split.columns if a in parts.columns and split.columns[a] != a])
    parts = parts.rename(columns={column: a for a, column in split.columns.items()})
    if u.label and split.label:
        if split.label not in parts.columns:
            raise ScenarioError(f"units.split.label: column '{split.label}' not found in {Path(split.path).name}")
        parts = parts.rename(columns={split.label: u.label}) if split.label != u.label else parts
    elif u.label:
        parts = parts.assign(**{u.label: parts.index.astype(str)})
    while True:
        merged = split_units(frame, parts, split.parent, sorted(chosen), split.prefix, Path(split.path).name)
        more = (units_to_split(scenario, merged) & set(frame.index)) - chosen
        if not more:
            return merged
        chosen |= more


def disruption_terms(scenario: Scenario) -> DisruptionTerms:
    d = scenario.disruption
    if d is None:
        return DisruptionTerms()
    limits = tuple(DisruptionLimit(x.measure, x.max_share, x.per_rep) for x in d.limits)
    return DisruptionTerms(d.weight, d.measure, limits)


def prepare(scenario: Scenario, feasible: bool = True) -> Prepared:
    """Read and check the data named by the scenario; no solving. `feasible`: also refuse a model that
    cannot have a plan (not when a plan the user brings is evaluated: it is scored and its rules listed)."""
    aggregated = {}
    if scenario.accounts is not None:
        aggregated = {a: ("accounts" if c == "count" else c) for a, c in scenario.accounts.aggregate.items()}
    attributes = sorted({b.attribute for b in scenario.balance} | ({scenario.objective.weight} - {None}))
    u = scenario.units
    from_file = [a for a in attributes if a not in aggregated]
    keys = {scenario.objective.weight: "objective.weight"} if scenario.objective.weight else {}
    keys.update({b.attribute: f"balance[{i}].attribute" for i, b in reversed(list(enumerate(scenario.balance)))})
    frame = read_units(Path(u.path), u.id, from_file, crs=u.crs, lat=u.lat, lon=u.lon, repair_geometry=u.repair_geometry,
                       layer=u.layer, column_keys=keys, label=u.label)
    if u.label and u.label not in frame.columns:
        raise ScenarioError(f"units.label: column '{u.label}' not found in {Path(u.path).name}")
    if u.split is not None:
        frame = _split(scenario, frame, from_file)
    inputs = None
    if scenario.reps is not None and len(frame) > DENSE_MAX_UNITS:
        raise ScenarioError(f"{Path(u.path).name}: {len(frame):,} units; a redesign (reps, alignment, accounts) works on "
                            f"at most {DENSE_MAX_UNITS:,} units for now; use a coarser geography (e.g. counties)")
    if scenario.reps is not None:
        clash = sorted(set(aggregated) & set(frame.columns))
        if clash:
            raise ScenarioError(f"accounts.aggregate: '{clash[0]}' is already a column of {Path(u.path).name}; "
                                "give the aggregated attribute another name")
        pos = {str(x): i for i, x in enumerate(frame.index)}
        inputs = read_redesign(scenario.reps, scenario.alignment, scenario.accounts, frame, pos, Path(u.path).name)
        frame = frame.copy()
        for attribute, column in aggregated.items():
            frame[attribute] = aggregate(inputs.redesign.accounts, len(frame), column)
    geo = build_geography(
        frame,
        attributes,
        adjacency=scenario.adjacency.method,
        edges_path=Path(scenario.adjacency.edges) if scenario.adjacency.edges else None,
        barriers_path=Path(scenario.adjacency.remove) if scenario.adjacency.remove else None,
        matrix_path=Path(scenario.distances.matrix) if scenario.distances.matrix else None,
        matrix_column=scenario.distances.column,
        matrix_unit=scenario.distances.unit,
    )
    if inputs is None:
        spec = make_spec(scenario, frame, geo)
        if feasible:
            precheck(spec)
        return Prepared(scenario, frame, geo, spec, input_files(scenario), homes_outside=_homes_outside(scenario, frame, spec))
    redesign = inputs.redesign
    held = {}
    if redesign.accounts.locked.any():
        locked = redesign.accounts.locked
        held = {a: float(redesign.accounts.values[c][locked].sum()) for a, c in aggregated.items()}
    reps = [redesign.reps[r] for r in redesign.territory_reps]
    names = [r.name for r in reps]
    names = tuple(names if len(set(names)) == len(names) else [r.id for r in reps])
    base = make_spec(scenario, frame, geo, (redesign.centres, names), held,
                     {r.id: n for r, n in zip(reps, names)})
    base = replace(base, offsets=locked_offsets(redesign, base, aggregated))
    spec = with_disruption(base, redesign, disruption_terms(scenario))
    if feasible:
        precheck(spec)
    coverage = None
    if scenario.coverage is not None:
        coverage = read_coverage(scenario.coverage, redesign, scenario.accounts.path, scenario.accounts.id)
        # every customer needs an allowed channel: say so now, not after the territories are solved
        early = coverage_inputs(scenario.coverage, coverage, redesign, None, geo.distance, geo.distance_unit)
        if scenario.coverage.reps_from == "plan":  # a leaver's customers get another rep in the new plan
            leaving = np.array([r.status == "leaving" for r in redesign.reps])
            early = replace(early, rep=np.where(leaving[redesign.accounts.rep], 0, early.rep))
        problem = build_options(early)
        if feasible:
            check_tele_is_enough(problem)  # (the reps' hours depend on the plan; the tele team's do not)
    return Prepared(scenario, frame, geo, spec, input_files(scenario), redesign, aggregated, inputs.outside, base,
                    coverage)


def _homes_outside(scenario: Scenario, frame: gpd.GeoDataFrame, spec: TerritorySpec) -> tuple[str, ...]:
    """Centres given as a home's lat/lon that lie in no unit (across a state line): which unit took each, the
    nearest. A home lies in no unit when it lies outside the unit `_centres` placed it in."""
    centres = scenario.territories.centres
    homes = [(k, c) for k, c in enumerate(centres if centres != "free" else []) if c.unit is None]
    if not homes or set(frame.geom_type) == {"Point"}:
        return ()
    points = gpd.GeoSeries(gpd.points_from_xy([c.lon for _, c in homes], [c.lat for _, c in homes]),
                           crs="EPSG:4326").to_crs(frame.crs)
    names = default_names(len(centres))
    return tuple(f"{c.name or names[k]} (lat {c.lat:g}, lon {c.lon:g}) lies in no unit: placed in the nearest, "
                 f"{frame.index[spec.centres[k]]}"
                 for (k, c), point in zip(homes, points) if not frame.geometry.iloc[spec.centres[k]].covers(point))


def make_spec(scenario: Scenario, frame: gpd.GeoDataFrame, geo: Geography, reps=None,
              held: dict[str, float] | None = None, aliases: dict[str, str] | None = None) -> TerritorySpec:
    """The territory spec. With reps, `reps` = (home units, names) of the territories, `held` the
    balance totals that sit outside the units (accounts locked to their rep), `aliases` rep id -> name
    (locks may name either)."""
    t = scenario.territories
    pos = geo.index_of()
    centres, names = reps if reps is not None else _centres(scenario, frame, pos)
    count = t.count if reps is None else len(centres)
    if reps is not None and t.count is not None and t.count != count:
        raise ScenarioError(f"territories.count is {t.count} but {count} reps are active, vacant or new hires; "
                            "remove territories.count or make them agree")
    if reps is None and centres is not None and len(centres) != count:
        raise ScenarioError(f"territories.centres lists {len(centres)} centres but territories.count is {count}; make them agree")
    if centres is None and t.names is not None:
        if len(t.names) != count:
            raise ScenarioError(f"territories.names has {len(t.names)} names for {count} territories")
        names = tuple(t.names)
    names = names or default_names(count)
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        where = "territories.names" if centres is None else "territories.centres[].name"
        raise ScenarioError(f"{where}: {', '.join(repr(n) for n in twice)} used for more than one territory; "
                            "give each territory its own name")
    locked = {u: (aliases or {}).get(name, name) for u, name in t.locked.items()}
    locks = _locks(locked, pos, names, centres is not None)
    rules = []
    for b in scenario.balance:
        values = geo.attributes[b.attribute]
        if b.tolerance is not None:
            lo, hi = balance_bounds(np.append(values, (held or {}).get(b.attribute, 0.0)), count, b.tolerance)
        else:
            lo, hi = (b.min or 0.0), (b.max if b.max is not None else float(values.sum()))
        rules.append(BalanceRule(b.attribute, lo, hi, b.tolerance))
    w = scenario.objective.weight
    weight = geo.attributes[w] if w else np.ones(geo.n)
    levels = _levels(scenario, count, reps=reps is not None)
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
        levels=levels,
        max_distance=t.max_distance,
    )


def _levels(scenario: Scenario, count: int, reps: bool = False) -> tuple[tuple[str, int], ...]:
    """The nesting levels, checked against the territory count (with `reps`: one territory per rep)."""
    nesting = scenario.territories.nesting
    if not nesting:
        return ()
    groups = int(np.prod([lv.count for lv in nesting]))
    names = " x ".join(f"{lv.count} {lv.name}s" for lv in nesting)
    if count % groups:
        lower, upper = count // groups * groups, (count // groups + 1) * groups
        what = "territories (one per active, vacant or new-hire rep)" if reps else "territories"
        fix = (f"have {lower or upper} or {upper} such reps (reps.add, reps.set_status)" if reps
               else f"use {lower or upper} or {upper} territories")
        raise ScenarioError(f"territories.nesting: {names} make {groups} groups, which cannot share {count} {what} "
                            f"equally; {fix}, or change the nesting")
    names = [lv.name for lv in nesting]
    taken = sorted({n for n in names if names.count(n) > 1} | ({"unit", "territory", "centre"} & set(names)))
    if taken:
        raise ScenarioError(f"territories.nesting: the level name '{taken[0]}' is used twice or is already a column "
                            "(unit, territory, centre); give each level its own name")
    if not scenario.balance:
        raise ScenarioError("territories.nesting needs at least one balance rule (the levels are balanced on it)")
    return tuple((lv.name, lv.count) for lv in nesting)


def _centres(scenario: Scenario, frame: gpd.GeoDataFrame, pos: dict[str, int]):
    t = scenario.territories
    if t.centres == "free":
        return None, ()
    units, names, defaults = [], [], default_names(len(t.centres))
    homes = [(k, c.lon, c.lat) for k, c in enumerate(t.centres) if c.unit is None]
    placed = {}
    if homes:  # one projection and one spatial join for all homes (per home, 100 on the US counties took a minute)
        lon, lat = [h[1] for h in homes], [h[2] for h in homes]
        refuse_far_homes(frame, lon, lat, [f"territories.centres[{h[0]}]" for h in homes])
        placed = dict(zip((h[0] for h in homes), locate_many(frame, np.array(lon), np.array(lat))[0]))
    for k, c in enumerate(t.centres):
        if c.unit is not None:
            if c.unit not in pos:
                raise ScenarioError(f"territories.centres[{k}].unit = '{c.unit}' is not a unit id of "
                                    f"{Path(scenario.units.path).name}{quote_hint(c.unit, pos)}")
            unit = c.unit
        else:
            unit = placed[k]
        units.append(pos[unit])
        names.append(c.name or defaults[k])
    dup = sorted({names[i] for i, u in enumerate(units) if units.count(u) > 1})
    if dup:
        raise ScenarioError(f"territories.centres: {', '.join(dup)} share a centre unit; give each territory its own")
    return tuple(units), tuple(names)


def _locks(locked: dict[str, str], pos: dict[str, int], names: tuple[str, ...], fixed: bool):
    out = []
    labels: dict[str, int] = {}
    for unit, name in sorted(locked.items()):
        if unit not in pos:
            raise ScenarioError(f"territories.locked: unit '{unit}' is not in the units file; remove it or fix the id"
                                f"{quote_hint(unit, pos)}")
        if fixed:
            if name not in names:
                raise ScenarioError(f"territories.locked: '{unit}' -> '{name}', which is not a territory name ({', '.join(names)})")
            out.append((pos[unit], names.index(name)))
        else:
            labels.setdefault(name, len(labels))
            out.append((pos[unit], labels[name]))
    return tuple(out)
