"""Mixed geography: units too large for one territory (a big county) replaced by their finer units (its
ZIP cells), so that a plan can share them among territories. Adjacency is derived afterwards from the
polygons of both levels, which meet where the finer units were cut from the same boundaries."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from geodata.errors import GeodataError
from geodata.read_units import short_list

PARENT_COLUMN = "parent_unit"  # added to the units: the unit a finer unit replaces ("" for the others)


def split_units(frame: gpd.GeoDataFrame, parts: gpd.GeoDataFrame, parent: str, split: list[str],
                prefix: str, name: str) -> gpd.GeoDataFrame:
    """`frame` with every unit in `split` replaced by the rows of `parts` whose `parent` column names it.

    `parts` is a checked units frame (indexed by id, see read_units); its ids get `prefix`. `name` is
    the parts file's name, for messages.
    """
    if parent not in parts.columns:
        raise GeodataError(f"{name}: parent column '{parent}' not found; set units.split.parent to one of: "
                           f"{short_list([c for c in parts.columns if c != 'geometry'], 12)}")
    unknown = sorted(set(split) - set(frame.index))
    if unknown:
        raise GeodataError(f"units.split.units: {short_list(unknown)} not among the units; check the ids")
    owner = parts[parent].astype(str).str.strip()
    _check_strays(frame, parts, owner, parent, split, name)
    chosen = parts[owner.isin(split)].copy()
    missing = sorted(set(split) - set(owner[owner.isin(split)]))
    if missing:
        raise GeodataError(f"{name}: units {short_list(missing)} must be split but no row of '{parent}' names them; "
                           "add their parts to the file (or raise units.split.threshold)")
    if (frame.geom_type == "Point").all() != (chosen.geom_type == "Point").all():
        raise GeodataError(f"{name}: the finer units and the units must both be polygons or both be points")
    chosen = chosen.drop(columns=[parent]).assign(**{PARENT_COLUMN: owner[chosen.index]})
    chosen.index = prefix + chosen.index.astype(str)
    kept = frame.drop(index=split)
    clash = sorted(set(chosen.index) & set(kept.index))
    if clash:
        raise GeodataError(f"{name}: finer unit ids {short_list(clash)} are also unit ids; set units.split.prefix "
                           "(e.g. 'Z') so they differ")
    if chosen.crs is not None and frame.crs is not None and not chosen.crs.equals(frame.crs):
        chosen = chosen.to_crs(frame.crs)
    kept = kept.assign(**{PARENT_COLUMN: ""})
    if chosen.geometry.name != kept.geometry.name:
        chosen = chosen.rename_geometry(kept.geometry.name)
    merged = pd.concat([kept, chosen], sort=False)
    merged = gpd.GeoDataFrame(merged, geometry=kept.geometry.name, crs=frame.crs).sort_index()
    merged.index.name = "unit"
    return merged


def _check_strays(frame: gpd.GeoDataFrame, parts: gpd.GeoDataFrame, owner: pd.Series, parent: str, split: list[str],
                  name: str) -> None:
    """Finer units naming a parent that is no unit are parts of units the file covers beyond the map, unless they lie
    inside a unit being split: then their parent is mistyped and their share of that unit would be lost."""
    strays = parts[~owner.isin(frame.index)]
    if strays.empty or (frame.geom_type == "Point").all():
        return  # (points have no inside)
    whole = frame.loc[split]
    if strays.crs is not None and whole.crs is not None:
        whole = whole.to_crs(strays.crs)
    inside = strays[strays.representative_point().within(whole.union_all())]
    if len(inside):
        raise GeodataError(f"{name}: finer units {short_list(sorted(inside.index.astype(str)))} lie inside a "
                           f"unit being split ({short_list(split)}) but name parent {short_list(sorted(set(owner[inside.index])))} in "
                           f"'{parent}', which is no unit id; fix the parent column (their share would be lost)")


def split_parents(frame: gpd.GeoDataFrame) -> dict[str, int]:
    """Each unit that was split -> how many finer units replace it (empty when nothing was split)."""
    if PARENT_COLUMN not in frame.columns:
        return {}
    parents = frame[PARENT_COLUMN]
    return {str(p): int(n) for p, n in parents[parents != ""].value_counts().sort_index().items()}
