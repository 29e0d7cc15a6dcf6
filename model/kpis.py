"""Plan KPIs per territory and in total: balance attributes and their deviation from target,
units, compactness, distances to the centre, contiguity."""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.check import pieces_by_label
from model.plan import Plan, group_labels
from model.spec import TerritorySpec


def territory_kpis(spec: TerritorySpec, plan: Plan, names: dict[int, str]) -> pd.DataFrame:
    """One row per territory (ordered by name) with every balance attribute and its deviation."""
    geo = spec.geography
    cost = spec.compactness()
    rows = []
    pieces = pieces_by_label(plan.centre_of, geo.edges)  # connected pieces of each territory
    for centre, members in plan.members().items():
        row: dict = {
            "territory": names[centre],
            "centre": geo.ids[centre],
            "units": len(members),
        }
        for r, rule in enumerate(spec.balance):
            values = geo.attributes[rule.attribute]
            held, everything = _held(spec, r)
            total = float(values[members].sum() + held[centre])
            target = everything / spec.count
            row[rule.attribute] = total
            row[f"{rule.attribute}_target"] = target
            row[f"{rule.attribute}_deviation_pct"] = 100.0 * (total - target) / target if target else 0.0
            row[f"{rule.attribute}_within_bounds"] = bool(rule.lower - 1e-6 <= total <= rule.upper + 1e-6)
        dist = geo.distance[members, centre]
        row["compactness"] = float(cost[members, centre].sum())
        row[f"mean_distance_{geo.distance_unit}"] = float(dist.mean())
        row[f"max_distance_{geo.distance_unit}"] = float(dist.max())
        row["contiguous"] = pieces[centre] == 1
        rows.append(row)
    return pd.DataFrame(rows).sort_values("territory").reset_index(drop=True)


def _held(spec: TerritorySpec, r: int) -> tuple[np.ndarray, float]:
    """For balance rule r: what each centre's territory holds whatever its units (a redesign's accounts
    locked to the rep; zeros otherwise), and the plan's whole total of the attribute including those."""
    geo = spec.geography
    held = spec.offsets[r] if spec.offsets is not None else np.zeros(geo.n)
    locked = float(held[list(spec.centres)].sum()) if spec.centres is not None else 0.0
    return held, float(geo.attributes[spec.balance[r].attribute].sum()) + locked


def plan_totals(spec: TerritorySpec, table: pd.DataFrame) -> dict:
    """Plan-level figures: objective, worst deviation per attribute, all contiguous."""
    totals: dict = {
        "territories": int(len(table)),
        "units": int(table["units"].sum()),
        "compactness": float(table["compactness"].sum()),
        "all_contiguous": bool(table["contiguous"].all()),
    }
    for rule in spec.balance:
        dev = table[f"{rule.attribute}_deviation_pct"]
        totals[f"{rule.attribute}_total"] = float(table[rule.attribute].sum())
        totals[f"{rule.attribute}_max_abs_deviation_pct"] = float(np.abs(dev).max())
        totals[f"{rule.attribute}_bounds"] = [rule.lower, rule.upper]
    return totals


def level_kpis(spec: TerritorySpec, plan: Plan) -> pd.DataFrame:
    """One row per group of every nesting level: territories, units, balance totals against the group's
    target and bounds (the territory bounds times the territories it holds), contiguity."""
    geo = spec.geography
    rows = []
    for depth, (name, codes) in enumerate(group_labels(spec, plan).items()):
        q = spec.territories_per_group(depth)
        pieces = pieces_by_label(codes, geo.edges)
        codes = np.asarray(codes)
        centres = np.asarray(plan.centre_of)
        for code in sorted(set(codes)):
            members = np.flatnonzero(codes == code)
            row: dict = {"level": name, "group": code, "territories": len(set(centres[members])), "units": len(members)}
            inside = np.unique(centres[members])
            for r, rule in enumerate(spec.balance):
                held, everything = _held(spec, r)
                total = float(geo.attributes[rule.attribute][members].sum() + held[inside].sum())
                target = everything * q / spec.count
                row[rule.attribute] = total
                row[f"{rule.attribute}_target"] = target
                row[f"{rule.attribute}_deviation_pct"] = 100.0 * (total - target) / target if target else 0.0
                row[f"{rule.attribute}_within_bounds"] = bool(q * rule.lower - 1e-6 <= total <= q * rule.upper + 1e-6)
            row["contiguous"] = pieces[code] == 1
            rows.append(row)
    return pd.DataFrame(rows)
