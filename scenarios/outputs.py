"""Write a plan's files into a run folder: assignment, GeoPackage, KPIs and map."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geodata.maps import draw_map, territory_colours
from model.kpis import plan_totals, territory_kpis
from model.plan import Plan
from scenarios.prepare import Prepared


def territory_names(prepared: Prepared, plan: Plan) -> dict[int, str]:
    """Name each territory (keyed by centre): fixed centres keep their names; free ones are
    numbered by centre id so the same plan always gets the same names."""
    spec = prepared.spec
    names = spec.territory_names()
    if spec.centres is not None:
        return {c: names[t] for t, c in enumerate(spec.centres)}
    return {c: names[t] for t, c in enumerate(sorted(plan.centres, key=lambda c: prepared.geography.ids[c]))}


def write_plan(prepared: Prepared, plan: Plan, folder: Path) -> dict:
    """Write assignment.csv, territories.gpkg, kpis.csv/json and map.png; return the plan totals."""
    geo, spec, frame = prepared.geography, prepared.spec, prepared.frame
    names = territory_names(prepared, plan)
    territory = [names[c] for c in plan.centre_of]
    centre_ids = [geo.ids[c] for c in plan.centre_of]
    assignment = pd.DataFrame({"unit": list(geo.ids), "territory": territory, "centre": centre_ids})
    assignment.to_csv(folder / "assignment.csv", index=False)

    table = territory_kpis(spec, plan, names)
    totals = plan_totals(spec, table)
    table.to_csv(folder / "kpis.csv", index=False)
    (folder / "kpis.json").write_text(
        json.dumps({"territories": table.to_dict(orient="records"), "plan": totals}, indent=2, default=_jsonable)
    )

    units = frame.copy()
    keep = [c for c in [prepared.scenario.units.label, *geo.attributes] if c and c in units.columns]
    units = gpd.GeoDataFrame(units[keep], geometry=frame.geometry, crs=frame.crs)
    units["territory"] = territory
    units["centre"] = centre_ids
    units = units.reset_index()
    units.to_file(folder / "territories.gpkg", layer="units", driver="GPKG")
    dissolved = units[["territory", "geometry"]].dissolve(by="territory").reset_index()
    dissolved = dissolved.merge(table, on="territory")
    dissolved.to_file(folder / "territories.gpkg", layer="territories", driver="GPKG")

    _draw(prepared, plan, names, units, table, folder / "map.png")
    return totals


def _draw(prepared: Prepared, plan: Plan, names: dict[int, str], units: gpd.GeoDataFrame,
          table: pd.DataFrame, path: Path) -> None:
    geo, spec = prepared.geography, prepared.spec
    tedges = {
        tuple(sorted((names[plan.centre_of[a]], names[plan.centre_of[b]])))
        for a, b in geo.edges
        if plan.centre_of[a] != plan.centre_of[b]
    }
    colours = territory_colours(tedges, list(names.values()))
    centre_pts = units[units["unit"].isin([geo.ids[c] for c in plan.centres])].copy()
    centre_pts["geometry"] = centre_pts.geometry.representative_point()
    main = spec.balance[0].attribute if spec.balance else None
    legend = {}
    for _, row in table.iterrows():
        label = f"{row['territory']}  ({row['units']} units"
        if main:
            label += f", {main} {row[main]:,.0f}, {row[main + '_deviation_pct']:+.1f}%"
        legend[row["territory"]] = label + ")"
    title = f"{prepared.scenario.name}: {spec.count} territories"
    if main:
        title += f", {main} max deviation {np.abs(table[main + '_deviation_pct']).max():.2f}%"
    draw_map(units, centre_pts, colours, legend, title, path)


def _jsonable(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
