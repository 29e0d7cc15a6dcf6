"""Distances between units: great-circle (km) for geographic coordinates, Euclidean in a
projected CRS (km when the CRS is in metres), or a user's distance / drive-time matrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pyproj import CRS

from geodata.errors import GeodataError
from geodata.read_units import short_list
from geodata.tables import NUMBERS, as_known_ids, find_column, read_text_csv, to_numbers

EARTH_RADIUS_KM = 6371.0088
# Above this many units no n x n matrix is stored (33,000 ZIP cells would need 8.7 GB): distances are
# computed from the coordinates when asked (LazyPairs).
DENSE_MAX_UNITS = 6_000


class LazyPairs:
    """An n x n matrix that is never stored: `value(rows, cols)` computes entries (broadcast arrays)
    on demand. Indexing follows numpy for the forms the models use: m[i, j], m[rows, j], m[:, cols],
    m[np.ix_(a, b)] and paired arrays m[a, b]."""

    def __init__(self, n: int, value, largest: float, points: np.ndarray | None = None, chord=None):
        self.n = n
        self.shape = (n, n)
        self.size = n * n  # (as numpy has it: the exact model reads it when scaling its costs)
        self._value = value
        self._largest = largest
        # For neighbour searches (scipy cKDTree): coordinates in which Euclidean distance grows with this
        # matrix's distance, and `chord(d)` turning a distance into that Euclidean radius.
        self.points = points
        self.chord = chord

    def __getitem__(self, key):
        rows, cols = key
        r_slice, c_slice = isinstance(rows, slice), isinstance(cols, slice)
        r = np.arange(self.n)[rows] if r_slice else np.asarray(rows)
        c = np.arange(self.n)[cols] if c_slice else np.asarray(cols)
        if (r_slice and c.ndim == 1) or (c_slice and r.ndim == 1) or (r_slice and c_slice):
            r, c = r[:, None], c[None, :]  # numpy: a slice and an array index make an outer product
        out = self._value(r, c)
        return float(out) if np.ndim(out) == 0 else out

    def max(self) -> float:
        """An upper bound on every entry (for penalty scales)."""
        return self._largest

    def scaled(self, weight: np.ndarray, power: int) -> LazyPairs:
        """weight[i] * self[i, j] ** power, lazily (the compactness cost)."""
        return LazyPairs(self.n, lambda r, c: weight[r] * self._value(r, c) ** power,
                         float(np.max(weight, initial=0.0)) * self._largest ** power)


def lazy_distance(x: np.ndarray, y: np.ndarray, geographic: bool, crs: CRS | None) -> tuple[LazyPairs, str]:
    """Great-circle (km) or planar distances computed on demand, and their unit."""
    if geographic:
        lam, phi = np.radians(x), np.radians(y)

        def value(r, c):
            a = np.sin((phi[r] - phi[c]) / 2) ** 2 + np.cos(phi[r]) * np.cos(phi[c]) * np.sin((lam[r] - lam[c]) / 2) ** 2
            return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))

        sphere = EARTH_RADIUS_KM * np.column_stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)])
        chord = lambda d: 2 * EARTH_RADIUS_KM * np.sin(np.minimum(d, np.pi * EARTH_RADIUS_KM) / (2 * EARTH_RADIUS_KM))  # noqa: E731
        return LazyPairs(len(x), value, np.pi * EARTH_RADIUS_KM, sphere, chord), "km"
    unit = crs.axis_info[0].unit_name if crs is not None and crs.axis_info else "unit"
    scale = 1000.0 if unit in ("metre", "meter") else 1.0
    diagonal = float(np.hypot(np.ptp(x), np.ptp(y))) / scale
    return LazyPairs(len(x), lambda r, c: np.hypot(x[r] - x[c], y[r] - y[c]) / scale, diagonal,
                     np.column_stack([x, y]) / scale, lambda d: d), ("km" if scale == 1000.0 else unit)


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


def _check_pairs(name: str, ids: tuple[str, ...], rows: np.ndarray, cols: np.ndarray, values: np.ndarray) -> None:
    """No pair given twice with different values (the last row won), no unit with a distance to itself other than 0.
    On positions, not text: a 3,000-unit matrix has 9 million rows."""
    key = rows.astype(np.int64) * len(ids) + cols
    order = np.argsort(key, kind="stable")
    same = key[order][1:] == key[order][:-1]
    differ = order[1:][same & (values[order][1:] != values[order][:-1])]
    if len(differ):  # (the same pair twice with the same value is harmless)
        pairs = sorted({f"{ids[rows[i]]}->{ids[cols[i]]}" for i in differ})
        raise GeodataError(f"{name}: {short_list(pairs)} given twice with different values; keep one row per pair")
    itself = np.flatnonzero((rows == cols) & (values != 0))
    if len(itself):
        pairs = [f"{ids[rows[i]]}->{ids[cols[i]]}" for i in itself]
        raise GeodataError(f"{name}: {short_list(pairs)} from a unit to itself must be 0; fix or remove those rows")


def read_matrix(path: Path, ids: tuple[str, ...], column: str | None) -> np.ndarray:
    """Read a long-format matrix CSV (`from,to,<value>`); a missing direction takes the other one."""
    if not path.is_file():
        raise GeodataError(f"{path}: file not found; check distances.matrix in the scenario")
    table = read_text_csv(path, "distances.matrix")
    ends = find_column(table, "from"), find_column(table, "to")
    if None in ends:
        raise GeodataError(f"{path.name}: needs columns 'from' and 'to' (unit ids) and a value column")
    table = table.rename(columns={ends[0]: "from", ends[1]: "to"})
    value = find_column(table, column) if column else next((c for c in table.columns if c not in ("from", "to")), None)
    if value is None:
        wanted = f"value column '{column}' not found" if column else "no value column besides 'from' and 'to'"
        raise GeodataError(f"{path.name}: {wanted} (columns: {', '.join(table.columns)}); "
                           + ("fix distances.column" if column else "add the distances or drive times as a third column"))
    table["from"] = as_known_ids(table["from"].str.strip(), ids)
    table["to"] = as_known_ids(table["to"].str.strip(), ids)
    pos = {u: i for i, u in enumerate(ids)}
    unknown = sorted(set(table["from"]).union(table["to"]) - set(pos))
    if unknown:
        raise GeodataError(f"{path.name}: unit ids not in the units file: {short_list(unknown)}; fix or remove those rows")
    vals = to_numbers(table[value], table.attrs[NUMBERS], f"{path.name}: column '{value}'")
    if vals.isna().any() or (vals < 0).any() or np.isinf(vals).any():
        bad = table.index[vals.isna() | (vals < 0) | np.isinf(vals)]
        pairs = [f"{table.at[i, 'from']}-{table.at[i, 'to']}" for i in bad]
        raise GeodataError(f"{path.name}: column '{value}' must hold finite non-negative numbers in every row; it does not for "
                           f"{short_list(pairs)} (row {int(bad[0]) + 2}, counting the header as row 1)")
    n = len(ids)
    d = np.full((n, n), np.nan)
    rows = table["from"].map(pos).to_numpy()
    cols = table["to"].map(pos).to_numpy()
    values = vals.to_numpy(float)
    _check_pairs(path.name, ids, rows, cols, values)
    d[rows, cols] = values
    d = np.where(np.isnan(d), d.T, d)
    np.fill_diagonal(d, 0.0)
    missing = np.argwhere(np.isnan(d))
    if len(missing):
        pairs = [f"{ids[i]}->{ids[j]}" for i, j in missing[:5]]
        raise GeodataError(f"{path.name}: {len(missing)} unit pairs have no value (e.g. {short_list(pairs)}); complete the matrix")
    return d
