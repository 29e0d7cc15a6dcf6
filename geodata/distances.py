"""Distances between units: great-circle (km) for geographic coordinates, Euclidean in a
projected CRS (km when the CRS is in metres), or a user's distance / drive-time matrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pyproj import CRS

from geodata.errors import GeodataError
from geodata.read_units import short_list

EARTH_RADIUS_KM = 6371.0088


def great_circle_km(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Haversine distance matrix in km between points given in degrees."""
    lam, phi = np.radians(lon), np.radians(lat)
    dphi = phi[:, None] - phi[None, :]
    dlam = lam[:, None] - lam[None, :]
    a = np.sin(dphi / 2) ** 2 + np.cos(phi)[:, None] * np.cos(phi)[None, :] * np.sin(dlam / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def planar(x: np.ndarray, y: np.ndarray, crs: CRS) -> tuple[np.ndarray, str]:
    """Euclidean distance matrix in a projected CRS, in km when the CRS unit is the metre."""
    d = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    unit = crs.axis_info[0].unit_name if crs.axis_info else "unit"
    if unit in ("metre", "meter"):
        return d / 1000.0, "km"
    return d, unit


def read_matrix(path: Path, ids: tuple[str, ...], column: str | None) -> np.ndarray:
    """Read a long-format matrix CSV (`from,to,<value>`); a missing direction takes the other one."""
    if not path.is_file():
        raise GeodataError(f"{path}: file not found; check distances.matrix in the scenario")
    table = pd.read_csv(path, dtype={"from": str, "to": str})
    if "from" not in table.columns or "to" not in table.columns:
        raise GeodataError(f"{path.name}: needs columns 'from' and 'to' (unit ids) and a value column")
    value = column or next((c for c in table.columns if c not in ("from", "to")), None)
    if value is None or value not in table.columns:
        raise GeodataError(f"{path.name}: value column '{column}' not found; set distances.column")
    table["from"] = table["from"].str.strip()
    table["to"] = table["to"].str.strip()
    pos = {u: i for i, u in enumerate(ids)}
    unknown = sorted(set(table["from"]).union(table["to"]) - set(pos))
    if unknown:
        raise GeodataError(f"{path.name}: unit ids not in the units file: {short_list(unknown)}; fix or remove those rows")
    vals = pd.to_numeric(table[value], errors="coerce")
    if vals.isna().any() or (vals < 0).any():
        raise GeodataError(f"{path.name}: column '{value}' must hold non-negative numbers in every row")
    n = len(ids)
    d = np.full((n, n), np.nan)
    rows = table["from"].map(pos).to_numpy()
    cols = table["to"].map(pos).to_numpy()
    d[rows, cols] = vals.to_numpy(float)
    d = np.where(np.isnan(d), d.T, d)
    np.fill_diagonal(d, 0.0)
    missing = np.argwhere(np.isnan(d))
    if len(missing):
        pairs = [f"{ids[i]}->{ids[j]}" for i, j in missing[:5]]
        raise GeodataError(f"{path.name}: {len(missing)} unit pairs have no value (e.g. {short_list(pairs)}); complete the matrix")
    return d
