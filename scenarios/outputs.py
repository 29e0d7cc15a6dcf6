"""Write a plan's files into a run folder: assignment, GeoPackage, KPIs and map."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geodata.maps import draw_change_map, draw_map_and_report, territory_colours
from geodata.split_units import PARENT_COLUMN
from model.kpis import level_kpis, plan_totals, territory_kpis
from model.plan import Plan, group_labels
from model.redesign import at_stake, balance_index, disruption, exceptions, moves, rep_kpis
from scenarios.display import amount
from scenarios.json_files import strict_json
from scenarios.prepare import Prepared


def territory_names(prepared: Prepared, plan: Plan) -> dict[int, str]:
    """Name each territory (keyed by centre): a plan file's names when it gave them; fixed centres keep
    their names; free ones are numbered by centre id so the same plan always gets the same names."""
    if prepared.names is not None:
        return prepared.names
    spec = prepared.spec
    names = spec.territory_names()
    if spec.centres is not None:
        return {c: names[t] for t, c in enumerate(spec.centres)}
    return {c: names[t] for t, c in enumerate(sorted(plan.centres, key=lambda c: prepared.geography.ids[c]))}


def unit_names(prepared: Prepared) -> list | None:
    """Each unit's readable name (the `units.label` column), in unit order; None without a label. Finer
    units (`units.split`) without a label of their own go by their id, prefix included (Z0410, not 0410)."""
    frame, label, split = prepared.frame, prepared.scenario.units.label, prepared.scenario.units.split
    if not label or label not in frame.columns:
        return None
    names = frame[label]
    if split is not None and not split.label and PARENT_COLUMN in frame.columns:
        names = names.mask(frame[PARENT_COLUMN] != "", pd.Series(frame.index.astype(str), index=frame.index))
    return names.reindex(list(prepared.geography.ids)).tolist()


def whole_as_int(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every float column whose values are all whole as integers (3 accounts, not 3.0);
    missing values stay missing."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if not pd.api.types.is_float_dtype(values) or not values.notna().any():
            continue
        known = values.dropna()
        if (known.abs() < 2**53).all() and (known % 1 == 0).all():
            out[column] = values.astype("Int64" if values.isna().any() else "int64")
    return out


def _csv(frame: pd.DataFrame, path: Path) -> None:
    """Write a CSV with whole-number columns as integers."""
    whole_as_int(frame).to_csv(path, index=False)


def shapefile_fields(columns) -> dict[str, str]:
    """Column -> Shapefile field name: cut to 10 bytes (UTF-8) less trailing spaces; a cut that would clash with
    another field ends in a number instead (Sales Pote, Sales Po_2, Sales Po_3)."""
    # (GDAL drops the spaces a cut leaves at the end: 'Ünïcode näme' is written 'Ünïcode', not 'Ünïcode ')
    cut = lambda text, size: text.encode()[:size].decode("utf-8", "ignore").rstrip()  # noqa: E731
    taken = {c.lower() for c in columns if cut(c, 10) == c}
    fields = {}
    for column in columns:
        name, n = cut(column, 10), 1
        if name != column:
            while name.lower() in taken:
                n += 1
                name = cut(column, 9 - len(str(n))) + f"_{n}"
            taken.add(name.lower())
        fields[column] = name
    return fields


def write_plan(prepared: Prepared, plan: Plan, folder: Path) -> dict:
    """Write assignment.csv, territories.gpkg, kpis.csv/json, map.png and report.pdf; return the plan totals."""
    geo, spec, frame = prepared.geography, prepared.spec, prepared.frame
    names = territory_names(prepared, plan)
    territory = [names[c] for c in plan.centre_of]
    centre_ids = [geo.ids[c] for c in plan.centre_of]
    assignment = pd.DataFrame({"unit": list(geo.ids), "territory": territory, "centre": centre_ids})
    if PARENT_COLUMN in frame.columns:  # mixed geography: the unit each finer unit was cut from
        assignment.insert(1, PARENT_COLUMN, frame[PARENT_COLUMN].reindex(list(geo.ids)).to_numpy())
    names_of_units = unit_names(prepared)
    if names_of_units is not None:
        assignment.insert(1, "name", names_of_units)
    groups = group_labels(spec, plan)  # nesting levels: region, district, ... of every unit
    for level, codes in groups.items():
        assignment[level] = codes
    _csv(assignment, folder / "assignment.csv")

    table = territory_kpis(spec, plan, names)
    for position, (level, codes) in enumerate(groups.items(), start=1):  # region, district, ... after the name
        table.insert(position, level, table["centre"].map(dict(zip(geo.ids, codes))))
    if names_of_units is not None:
        table.insert(table.columns.get_loc("centre") + 1, "centre_name", table["centre"].map(dict(zip(geo.ids, names_of_units))))
    totals = plan_totals(spec, table)
    _csv(table, folder / "kpis.csv")
    levels = level_kpis(spec, plan) if spec.levels else None
    if levels is not None:
        _csv(levels, folder / "levels.csv")
        for level, _ in spec.levels:
            part = levels[levels["level"] == level]
            totals[f"{level}s"] = int(len(part))
            for rule in spec.balance:
                totals[f"{level}_{rule.attribute}_max_abs_deviation_pct"] = float(part[f"{rule.attribute}_deviation_pct"].abs().max())
            totals[f"{level}s_contiguous"] = bool(part["contiguous"].all())

    units = frame.copy()
    keep = [c for c in [prepared.scenario.units.label, PARENT_COLUMN, *geo.attributes] if c and c in units.columns]
    units = gpd.GeoDataFrame(units[keep], geometry=frame.geometry, crs=frame.crs)
    if names_of_units is not None:  # finer units named by their own id
        units[prepared.scenario.units.label] = names_of_units
    units["territory"] = territory
    units["centre"] = centre_ids
    for level, codes in groups.items():
        units[level] = codes
    units = units.reset_index()
    units.to_file(folder / "territories.gpkg", layer="units", driver="GPKG")
    dissolved = units[["territory", "geometry"]].dissolve(by="territory").reset_index()
    dissolved = dissolved.merge(table, on="territory")
    dissolved.to_file(folder / "territories.gpkg", layer="territories", driver="GPKG")

    _draw(prepared, plan, names, units, table, folder / "map.png")
    if prepared.redesign is not None:
        totals["redesign"] = write_redesign(prepared, plan, folder, units, table, names)
        totals["objective_with_disruption_price"] = plan.objective(spec.cost())
    (folder / "kpis.json").write_text(
        strict_json({"territories": table.to_dict(orient="records"), "plan": totals,
                     **({"levels": levels.to_dict(orient="records")} if levels is not None else {})},
                    default=_jsonable, indent=2)
    )
    return totals


def map_parts(prepared: Prepared, plan: Plan, names: dict[int, str], units: gpd.GeoDataFrame, table: pd.DataFrame):
    """Centre points, a colour and legend line per territory, and a title."""
    geo, spec = prepared.geography, prepared.spec
    tedges = {
        tuple(sorted((names[plan.centre_of[a]], names[plan.centre_of[b]])))
        for a, b in geo.edges
        if plan.centre_of[a] != plan.centre_of[b]
    }
    colours = territory_colours(tedges, list(names.values()))
    centre_pts = units[units["unit"].isin([geo.ids[c] for c in plan.centres])].copy()
    centre_pts["geometry"] = centre_pts.geometry.representative_point()
    attributes = [rule.attribute for rule in spec.balance]
    legend = {}
    for _, row in table.iterrows():
        totals = "".join(f", {a} {amount(row[a])} {row[a + '_deviation_pct']:+.1f}%" for a in attributes)
        legend[row["territory"]] = f"{row['territory']}  ({row['units']} unit{'' if row['units'] == 1 else 's'}{totals})"
    title = f"{prepared.scenario.name}: {spec.count} territories"
    if attributes:
        title += ", max deviation " + ", ".join(
            f"{a} {np.abs(table[a + '_deviation_pct']).max():.2f}%" for a in attributes)
    return centre_pts, colours, legend, title


def write_redesign(prepared: Prepared, plan: Plan, folder: Path, units: gpd.GeoDataFrame, table: pd.DataFrame,
                   names: dict[int, str]) -> dict:
    """rep_kpis.csv, moves.csv, exceptions.csv, changes.png (and accounts_outside.csv when some
    accounts lay outside every unit); returns the plan-level disruption and balance figures."""
    redesign, spec, aggregated = prepared.redesign, prepared.spec, prepared.aggregated or {}
    reps = rep_kpis(redesign, spec, plan, aggregated)
    _csv(reps, folder / "rep_kpis.csv")
    moved = moves(redesign, spec, plan)
    _csv(moved, folder / "moves.csv")
    excepted = exceptions(redesign, spec, plan)
    _csv(excepted, folder / "exceptions.csv")
    if prepared.outside_accounts:
        pd.DataFrame({"account": list(prepared.outside_accounts)}).to_csv(folder / "accounts_outside.csv", index=False)
    summary = disruption(redesign, redesign.new_reps(plan))
    summary["units_moved"] = int((moved["kind"] == "unit").sum())
    summary["exceptions"] = int(len(excepted))
    summary["accounts_outside_every_unit"] = len(prepared.outside_accounts)
    with_territory = reps[reps["status"] != "leaving"]
    for rule in spec.balance:
        for when in ("before", "after"):
            rows = reps if when == "before" else with_territory
            values = rows[f"{rule.attribute}_{when}"].to_numpy()
            values = values[rows[f"units_{when}"].to_numpy() > 0] if when == "before" else values
            mean = values.mean() if len(values) else 0.0
            summary[f"{rule.attribute}_balance_index_{when}"] = balance_index(values, rule.lower, rule.upper)
            summary[f"{rule.attribute}_max_abs_deviation_pct_{when}"] = (
                float(np.abs(values / mean - 1).max() * 100) if mean else 0.0)
    summary["relationship_kept_pct_of_staying_reps"] = (
        100.0 * (1 - summary["relationship_moved_by_choice"] / max(1e-12, at_stake(redesign, "relationship"))))
    moved_units = [u in set(moved.loc[moved["kind"] == "unit", "unit"]) for u in units["unit"]]
    centre_pts, colours, legend, _ = map_parts(prepared, plan, names, units, table)
    title = (f"{prepared.scenario.name}: {summary['units_moved']} of {len(units)} units change rep; "
             f"{summary['relationship_moved_pct']:.1f}% of relationship value moves")
    draw_change_map(units, moved_units, centre_pts, colours, legend, title, folder / "changes.png")
    return summary


def _draw(prepared: Prepared, plan: Plan, names: dict[int, str], units: gpd.GeoDataFrame,
          table: pd.DataFrame, path: Path) -> None:
    """map.png and its printable twin report.pdf (map, then the KPI table)."""
    centre_pts, colours, legend, title = map_parts(prepared, plan, names, units, table)
    levels = tuple(level for level, _ in prepared.spec.levels)
    draw_map_and_report(units, centre_pts, colours, legend, title, table, path, path.with_name("report.pdf"), levels)


def _jsonable(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_exports(prepared: Prepared, plan: Plan, folder: Path, gis: list[str]) -> None:
    """exports/: units.csv (unit -> territory, rep) and accounts.csv (account -> rep, channel, contacts a
    year) ready for a CRM import, and the units and territories as Shapefile and/or GeoJSON when asked
    (the GeoPackage territories.gpkg is always written)."""
    out = folder / "exports"
    out.mkdir()
    geo = prepared.geography
    names = territory_names(prepared, plan)
    units = pd.DataFrame({"unit_id": list(geo.ids), "territory": [names[c] for c in plan.centre_of]})
    names_of_units = unit_names(prepared)
    if names_of_units is not None:
        units.insert(1, "unit_name", names_of_units)
    for level, codes in group_labels(prepared.spec, plan).items():
        units[level] = codes
    redesign = prepared.redesign
    if redesign is not None:
        reps = redesign.unit_reps(plan)
        units["rep_id"] = [redesign.reps[r].id for r in reps]
        units["rep_name"] = [redesign.reps[r].name for r in reps]
        accounts = pd.DataFrame({"account_id": list(redesign.accounts.ids),
                                 "rep_id": [redesign.reps[r].id for r in redesign.new_reps(plan)]})
        if (folder / "coverage.csv").is_file():
            cov = pd.read_csv(folder / "coverage.csv", dtype={"customer": str})
            accounts = accounts.merge(cov[["customer", "channel", "contacts"]].rename(
                columns={"customer": "account_id", "contacts": "contacts_per_year"}), on="account_id", how="left")
            if prepared.scenario.coverage.reps_from == "current":  # visits were planned with today's reps' time
                accounts["coverage_rep_id"] = accounts["account_id"].map(dict(zip(cov["customer"], cov["rep"])))
        _csv(accounts, out / "accounts.csv")
    _csv(units, out / "units.csv")
    if not gis:
        return
    for layer in ("units", "territories"):
        frame = whole_as_int(gpd.read_file(folder / "territories.gpkg", layer=layer))
        if "geojson" in gis:  # RFC 7946: GeoJSON is in WGS84
            frame.to_crs("EPSG:4326").to_file(out / f"{layer}.geojson", driver="GeoJSON")
        if "shp" in gis:
            (out / "shapefile").mkdir(exist_ok=True)
            short = shapefile_fields([c for c in frame.columns if c != frame.geometry.name])
            frame.rename(columns=short).to_file(out / "shapefile" / f"{layer}.shp")
            if any(k != v for k, v in short.items()):  # Shapefile field names are 10 characters at most
                pd.DataFrame({"field": list(short.values()), "column": list(short)}).to_csv(
                    out / "shapefile" / f"{layer}_fields.csv", index=False)
