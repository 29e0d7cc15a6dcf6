"""Assemble a Geography from a checked units frame: coordinates, distances, adjacency, islands."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np

from geodata.adjacency import join_islands, polygon_edges, read_edges, remove_barriers
from geodata.distances import DENSE_MAX_UNITS, great_circle_km, lazy_distance, planar, read_matrix
from geodata.errors import GeodataError
from geodata.instance import Geography
from geodata.read_units import representative_xy


def build_geography(
    frame: gpd.GeoDataFrame,
    attributes: list[str],
    adjacency: str = "queen",
    edges_path: Path | None = None,
    barriers_path: Path | None = None,
    matrix_path: Path | None = None,
    matrix_column: str | None = None,
    matrix_unit: str = "minutes",
) -> Geography:
    """Turn units into arrays: the only place geometry becomes numbers."""
    ids = tuple(str(u) for u in frame.index)
    x, y, geographic = representative_xy(frame)
    if matrix_path is not None:
        distance, unit = read_matrix(matrix_path, ids, matrix_column), matrix_unit
    elif len(ids) > DENSE_MAX_UNITS:
        distance, unit = lazy_distance(x, y, geographic, frame.crs)
    elif geographic:
        distance, unit = great_circle_km(x, y), "km"
    else:
        distance, unit = planar(x, y, frame.crs)
    edges = read_edges(edges_path, ids) if edges_path is not None else polygon_edges(frame, adjacency)
    if barriers_path is not None:
        edges = remove_barriers(edges, read_edges(barriers_path, ids, "adjacency.remove"), barriers_path.name, ids)
    added = join_islands(len(ids), edges, distance)
    all_edges = tuple(sorted(edges | set(added)))
    return Geography(
        ids=ids,
        attributes={a: frame[a].to_numpy(dtype=float) for a in attributes},
        x=x,
        y=y,
        edges=all_edges,
        distance=distance,
        distance_unit=unit,
        joined=tuple((ids[a], ids[b]) for a, b in added),
        frame=frame,
    )


FAR_SHARE = 0.5  # a home outside every unit and farther than this share of the units' extent is a mistake
FAR_ACCOUNT_SHARE = 1.0  # an account (a customer over a border is more common than a rep's home there)


def far_homes(frame: gpd.GeoDataFrame, lon: np.ndarray, lat: np.ndarray, share: float = FAR_SHARE) -> np.ndarray:
    """km from the nearest unit of each WGS84 point that lies outside every unit and farther from all of them
    than `share` of the units' extent (its diagonal): a typo or latitude and longitude swapped, not a rep
    living over the border; 0 for the others."""
    metric = frame if not frame.crs.is_geographic else frame.to_crs(frame.estimate_utm_crs())
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326").to_crs(metric.crs)
    units = metric.reset_index(drop=True)[["geometry"]]
    near = gpd.sjoin_nearest(points, units, how="left", distance_col="gap")
    gap = near[~near.index.duplicated(keep="first")]["gap"].to_numpy(dtype=float)
    minx, miny, maxx, maxy = (float(v) for v in metric.total_bounds)
    extent = float(np.hypot(maxx - minx, maxy - miny))
    return np.where(gap > share * max(extent, 1.0), gap / 1000.0, 0.0)


def refuse_far_homes(frame: gpd.GeoDataFrame, lon: np.ndarray, lat: np.ndarray, names: list[str],
                     what: str = "the home", share: float = FAR_SHARE) -> None:
    """Stop on the first point (named by `names`, e.g. the scenario key) that `far_homes` finds far outside."""
    km = far_homes(frame, np.asarray(lon, dtype=float), np.asarray(lat, dtype=float), share)
    if km.any():
        i = int(np.flatnonzero(km)[0])
        more = f" ({int(np.count_nonzero(km)) - 1} more like it)" if np.count_nonzero(km) > 1 else ""
        raise GeodataError(f"{names[i]}: {what} at lat {lat[i]:g}, lon {lon[i]:g} is {km[i]:,.0f} km from the "
                           f"nearest unit, outside the units' area{more}; check the coordinates (latitude and "
                           "longitude swapped?)")


def locate(frame: gpd.GeoDataFrame, lon: float, lat: float) -> str:
    """The unit that contains a WGS84 point (e.g. a rep's home), or else the nearest unit."""
    return locate_many(frame, np.array([lon]), np.array([lat]))[0][0]


def locate_many(frame: gpd.GeoDataFrame, lon: np.ndarray, lat: np.ndarray) -> tuple[list[str], np.ndarray]:
    """For WGS84 points (accounts, homes): the id of the unit containing each, else of the nearest
    unit; and a mask of the points that lay outside every unit (to report them)."""
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326").to_crs(frame.crs)
    owner = np.full(len(points), -1)
    units = frame.reset_index(drop=True)[["geometry"]]
    if set(frame.geom_type) != {"Point"}:
        hits = gpd.sjoin(points, units, how="inner", predicate="within")
        hits = hits[~hits.index.duplicated(keep="first")]
        owner[hits.index.to_numpy()] = hits["index_right"].to_numpy()
    outside = owner < 0
    if outside.any():
        metric = units if not frame.crs.is_geographic else units.to_crs(frame.estimate_utm_crs())
        lost = points[outside].to_crs(metric.crs)
        near = gpd.sjoin_nearest(lost, metric, how="left")
        near = near[~near.index.duplicated(keep="first")]
        owner[near.index.to_numpy()] = near["index_right"].to_numpy()
    ids = [str(frame.index[i]) for i in owner]
    return ids, outside if set(frame.geom_type) != {"Point"} else np.zeros(len(points), dtype=bool)
