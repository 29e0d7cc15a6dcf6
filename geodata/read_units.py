"""Read geographic units from GeoPackage, Shapefile, GeoJSON or CSV points, and check them."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
from pyproj import CRS
from pyproj.exceptions import CRSError

from geodata.errors import GeodataError
from geodata.tables import NUMBERS, alias_columns, find_column, first_bad, read_text_csv, to_numbers

POLYGON_FORMATS = {".gpkg", ".shp", ".geojson", ".json"}
LAT_NAMES = ("latitude", "lat")
LON_NAMES = ("longitude", "lon", "lng")


def short_list(values: list, limit: int = 5) -> str:
    """A short, readable list of offending values."""
    head = ", ".join(str(v) for v in values[:limit])
    return head + (f" and {len(values) - limit} more" if len(values) > limit else "")


def parse_crs(crs: str, where: str) -> CRS:
    """Turn a user's CRS string (e.g. EPSG:26916) into a CRS, or say what is wrong."""
    try:
        return CRS.from_user_input(crs)
    except CRSError:
        raise GeodataError(f"{where}: '{crs}' is not a known CRS; use e.g. 'EPSG:4326'") from None


def require_file(path: Path, key: str) -> None:
    """Stop with a message naming the file and the scenario key when a data file is not there."""
    if not path.is_file():
        built = " (the ZIP cells are built by `make zips`)" if path.name == "us_zip_cells.gpkg" else ""
        raise GeodataError(f"{path}: file not found; check {key} in the scenario{built}")


def _read_points_csv(path: Path, crs: str | None, lat: str | None, lon: str | None, key: str) -> gpd.GeoDataFrame:
    """Points from a CSV as a spreadsheet writes it (geodata.tables): ids stay text, 01001 keeps its zero."""
    frame = read_text_csv(path, f"{key}.path")
    if frame.empty:
        raise GeodataError(f"{path.name}: the file holds no units (no rows); check {key}.path")
    lower = {c.lower(): c for c in frame.columns}
    lat = (find_column(frame, lat) or lat) if lat else next((lower[n] for n in LAT_NAMES if n in lower), None)
    lon = (find_column(frame, lon) or lon) if lon else next((lower[n] for n in LON_NAMES if n in lower), None)
    for name, col in ((f"{key}.lat", lat), (f"{key}.lon", lon)):
        if col is None or col not in frame.columns:
            raise GeodataError(
                f"{path.name}: no coordinate column for {name}; name it in the scenario "
                f"(columns are: {short_list(list(frame.columns), 12)})"
            )
    style = frame.attrs[NUMBERS]
    coords = pd.DataFrame({c: to_numbers(frame[c], style, f"{path.name}: column '{c}'") for c in (lon, lat)})
    bad = frame.index[coords.isna().any(axis=1)].tolist()
    if bad:
        raise GeodataError(f"{path.name}: rows {short_list([b + 2 for b in bad])} have no valid {lat}/{lon}; fix them")
    if crs is None or parse_crs(crs, f"{key}.crs").is_geographic:
        outside = frame.index[(coords[lat].abs() > 90) | (coords[lon].abs() > 180)].tolist()
        if outside and len(outside) < len(frame):
            rows = f"rows {short_list([b + 2 for b in outside])} have" if len(outside) > 1 else f"row {outside[0] + 2} has"
            raise GeodataError(f"{path.name}: {rows} a latitude beyond ±90 or a longitude beyond ±180 in {lat}/{lon} "
                               "(counting the header as row 1); fix them")
        swapped = _swapped_rows(coords[lat].to_numpy(float), coords[lon].to_numpy(float))
        if len(swapped):
            r = int(swapped[0])
            raise GeodataError(
                f"{path.name}: row {frame.index[r] + 2} ({lat} {coords[lat].iloc[r]:g}, {lon} {coords[lon].iloc[r]:g}) lies "
                f"far from the other units, among them with latitude and longitude swapped"
                f"{f' (and {len(swapped) - 1} more rows)' if len(swapped) > 1 else ''}; swap them back "
                "(counting the header as row 1)")
    frame = frame.assign(**{lon: coords[lon], lat: coords[lat]})
    points = gpd.points_from_xy(coords[lon].to_numpy(float), coords[lat].to_numpy(float))
    units = gpd.GeoDataFrame(frame, geometry=points, crs=crs or "EPSG:4326")
    units.attrs[NUMBERS] = style  # the attribute columns are text until read_units checks them
    return units


def _swapped_rows(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Rows whose latitude and longitude look swapped: as written far outside the box of most units (5th to 95th
    percentile, widened by its larger side), swapped inside it. A few such rows only: a file swapped throughout is
    consistent with itself."""
    if len(lat) < 3:
        return np.array([], dtype=int)
    (x0, x1), (y0, y1) = np.percentile(lon, [5, 95]), np.percentile(lat, [5, 95])
    pad = max(x1 - x0, y1 - y0, 1.0)

    def inside(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (x >= x0 - pad) & (x <= x1 + pad) & (y >= y0 - pad) & (y <= y1 + pad)

    return np.flatnonzero(~inside(lon, lat) & inside(lat, lon))


def read_units(
    path: Path,
    id_column: str,
    columns: list[str],
    crs: str | None = None,
    lat: str | None = None,
    lon: str | None = None,
    repair_geometry: bool = False,
    key: str = "units",
    layer: str | None = None,
    column_keys: dict[str, str] | None = None,
    label: str | None = None,
) -> gpd.GeoDataFrame:
    """Read the units file, index it by id (as text, sorted) and check ids, columns, geometry, CRS.

    `columns` are the numeric attributes the scenario uses: each must exist, be numeric,
    non-null and non-negative. `layer`: the layer of a file holding several. `key` is the scenario block the
    messages name (units, units.split);
    `column_keys` the scenario key that names each column (balance[0].attribute, objective.weight). In a CSV the id,
    attribute and `label` columns are found in any case, as in every other CSV input.
    """
    require_file(path, f"{key}.path")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame = _read_points_csv(path, crs, lat, lon, key)
        alias_columns(frame, [id_column, *columns, *([label] if label else [])])  # (missing ones named below)
    elif suffix in POLYGON_FORMATS:
        if lat or lon:  # (they were ignored: a user would think the points had been taken from those columns)
            raise GeodataError(f"{path.name}: {key}.lat and {key}.lon name the coordinate columns of a CSV of points; "
                               f"this file has its own geometry, so remove them from {key}")
        try:
            frame = gpd.read_file(path, engine="pyogrio", layer=_layer(path, layer, key))
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, ValueError) as err:
            raise GeodataError(f"{path.name}: cannot be read as geodata ({err}); check the file") from None
        if frame.crs is None:
            if crs is None:
                raise GeodataError(
                    f"{path.name}: the file has no CRS; add 'crs:' (e.g. EPSG:26916) under {key} in the scenario"
                )
            frame = frame.set_crs(parse_crs(crs, f"{key}.crs"))
        elif crs is not None and not frame.crs.equals(parse_crs(crs, f"{key}.crs")):
            if not (frame.crs.is_geographic and not _in_degrees(frame)):
                raise GeodataError(
                    f"{path.name}: the file says its CRS is {frame.crs.to_string()} but the scenario says {crs}; "
                    f"remove {key}.crs or reproject the file"
                )
            # GeoJSON without a crs member reads as WGS84, which coordinates beyond ±180 cannot be: trust the scenario
            frame = frame.set_crs(parse_crs(crs, f"{key}.crs"), allow_override=True)
    else:
        raise GeodataError(
            f"{path.name}: unsupported format '{suffix}'; use .gpkg, .shp, .geojson or .csv with latitude/longitude"
        )

    if frame.empty:
        raise GeodataError(f"{path.name}: the file holds no units (no rows); check {key}.path, or the layer written")
    style = frame.attrs.get(NUMBERS, "plain")
    if id_column not in frame.columns:
        raise GeodataError(
            f"{path.name}: id column '{id_column}' not found; set {key}.id to one of: "
            f"{short_list([c for c in frame.columns if c != 'geometry'], 12)}"
        )
    ids = frame[id_column]
    blank = ids.isna() | (ids.astype(str).str.strip() == "")
    if blank.any():
        raise GeodataError(f"{path.name}: {int(blank.sum())} rows have no '{id_column}'; give every unit an id")
    if pd.api.types.is_float_dtype(ids) and (ids == ids.round()).all():
        ids = ids.astype("int64")  # 51001.0 as a spreadsheet or a GIS stores a whole-number id: 51001
    ids = ids.astype(str).str.strip()
    dup = sorted(ids[ids.duplicated()].unique().tolist())
    if dup:
        raise GeodataError(f"{path.name}: duplicate unit ids in '{id_column}': {short_list(dup)}; make ids unique")
    frame = frame.assign(**{id_column: ids}).set_index(id_column, drop=True)
    frame.index.name = "unit"
    frame = frame.sort_index()

    _check_columns(frame, columns, path.name, column_keys or {}, style)
    _check_geometry(frame, path.name, repair_geometry)
    _check_degrees(frame, path.name, key, declared=crs is not None)
    return frame


def _layer(path: Path, layer: str | None, key: str) -> str | None:
    """The layer to read: the one named, or the only one; a file of several layers needs `layer:`."""
    try:
        layers = [str(name) for name in pyogrio.list_layers(path)[:, 0]]
    except (pyogrio.errors.DataSourceError, ValueError):
        return layer  # reading the file says what is wrong with it
    if layer is not None and layer not in layers:
        raise GeodataError(f"{path.name}: no layer '{layer}' (it has {short_list(layers, 8)}); fix {key}.layer")
    if layer is None and len(layers) > 1:
        raise GeodataError(f"{path.name}: the file has {len(layers)} layers ({short_list(layers, 8)}); name the units' "
                           f"layer in {key}.layer")
    return layer


def _in_degrees(frame: gpd.GeoDataFrame) -> bool:
    minx, miny, maxx, maxy = (float(v) for v in frame.total_bounds)
    return -180 <= minx and maxx <= 180 and -90 <= miny and maxy <= 90


def _check_degrees(frame: gpd.GeoDataFrame, name: str, key: str, declared: bool) -> None:
    """Coordinates said to be longitude/latitude must be degrees (a projected file given a geographic
    `crs:` otherwise fails deep inside the projection code); coordinates the scenario's `crs:` (`declared`)
    calls metres of a projected CRS that all fit in a few hundred metres around its origin are degrees given
    the wrong `crs:` (every distance came out 0 km). A file's own projected CRS is trusted."""
    minx, miny, maxx, maxy = (float(v) for v in frame.total_bounds)
    if not frame.crs.is_geographic:
        if declared and _in_degrees(frame) and len(frame) > 1 and max(maxx - minx, maxy - miny) < 360:
            raise GeodataError(
                f"{name}: coordinates run from ({minx:.6g}, {miny:.6g}) to ({maxx:.6g}, {maxy:.6g}), which look like "
                f"longitude/latitude in degrees, not {frame.crs.to_string()}'s {frame.crs.axis_info[0].unit_name}s "
                f"(the units would span {max(maxx - minx, maxy - miny):.3g} {frame.crs.axis_info[0].unit_name}s); "
                f"set {key}.crs to EPSG:4326"
            )
        return
    if not _in_degrees(frame):
        raise GeodataError(
            f"{name}: coordinates run from ({minx:.6g}, {miny:.6g}) to ({maxx:.6g}, {maxy:.6g}), not degrees, so "
            f"they are not in {frame.crs.to_string()}; set {key}.crs to the projected CRS they are in "
            "(e.g. a UTM zone's EPSG code)"
        )


def _check_columns(frame: gpd.GeoDataFrame, columns: list[str], name: str, keys: dict[str, str],
                   style: str = "plain") -> None:
    for col in columns:
        if col not in frame.columns:
            named = f" (named by {keys[col]})" if col in keys else ""
            raise GeodataError(
                f"{name}: column '{col}'{named} not found; available: "
                f"{short_list([c for c in frame.columns if c != 'geometry'], 12)}"
            )
        values = to_numbers(frame[col], style, f"{name}: column '{col}'")
        missing = frame.index[values.isna()].tolist()
        if missing:
            raise GeodataError(f"{name}: column '{col}' is empty or not a number for units {short_list(missing)}"
                               f"{first_bad(frame[col], values)}; fill it in")
        negative = frame.index[values < 0].tolist()
        if negative:
            raise GeodataError(f"{name}: column '{col}' is negative for units {short_list(negative)}; values must be >= 0")
        frame[col] = values.to_numpy(dtype=float)


def _check_geometry(frame: gpd.GeoDataFrame, name: str, repair: bool) -> None:
    geom = frame.geometry
    empty = frame.index[geom.isna() | geom.is_empty].tolist()
    if empty:
        raise GeodataError(f"{name}: units {short_list(empty)} have no geometry; add it or drop those units")
    kinds = set(geom.geom_type)
    allowed = {"Polygon", "MultiPolygon"} if kinds & {"Polygon", "MultiPolygon"} else {"Point"}
    if not kinds <= allowed:
        raise GeodataError(f"{name}: mixed geometry types {sorted(kinds)}; units must all be polygons or all points")
    invalid = frame.index[~geom.is_valid].tolist()
    if invalid:
        if not repair:
            raise GeodataError(
                f"{name}: invalid geometry for units {short_list(invalid)}; repair it in a GIS "
                "or set units.repair_geometry: true"
            )
        frame.geometry = geom.make_valid()


def representative_xy(frame: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray, bool]:
    """Centroid coordinates of the units: lon/lat if the CRS is geographic, else CRS units.

    Geographic centroids are taken in a local projected CRS so they are true area centroids.
    """
    geographic = bool(frame.crs.is_geographic)
    if geographic and set(frame.geom_type) != {"Point"}:
        local = frame.to_crs(frame.estimate_utm_crs())
        cent = local.geometry.centroid.to_crs(frame.crs)
    else:
        cent = frame.geometry.centroid if set(frame.geom_type) != {"Point"} else frame.geometry
    return np.asarray(cent.x, dtype=float), np.asarray(cent.y, dtype=float), geographic
