"""Read a redesign's inputs (reps, today's alignment, accounts) and check them against the units.

Every user mistake raises ScenarioError naming the file, the rows or ids, and what to do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geodata.build import FAR_ACCOUNT_SHARE, locate_many, refuse_far_homes
from geodata.read_units import short_list
from geodata.tables import NUMBERS, alias_columns, as_known_ids, first_bad, read_text_csv, to_numbers
from model.redesign import STATUSES, Accounts, Redesign, Rep
from scenarios.errors import ScenarioError, quote_hint
from scenarios.schema import AccountsConfig, AlignmentConfig, RepsConfig

TRUE = {"1", "true", "yes", "y", "t", "x"}
FALSE = {"0", "false", "no", "n", "f", ""}


@dataclass(frozen=True)
class RedesignInputs:
    redesign: Redesign
    outside: tuple[str, ...]  # accounts that lay outside every unit (joined to the nearest)


def read_table(path: str, role: str, columns: dict[str, str]) -> pd.DataFrame:
    """A CSV with its ids as text; every named column (column -> the scenario key naming it) must exist,
    and the file must have rows."""
    file = Path(path)
    if not file.is_file():
        raise ScenarioError(f"{file}: file not found; check {role}.path in the scenario")
    table = read_text_csv(file, f"{role}.path")
    missing = alias_columns(table, columns)  # Rep_ID in the file, rep_id in the scenario
    if missing:
        raise ScenarioError(
            f"{file.name}: column '{missing[0]}' not found (columns: {short_list(list(table.columns), 8)}); "
            f"fix the file or {columns[missing[0]]} in the scenario")
    if table.empty:
        raise ScenarioError(f"{file.name}: the file has a header but no rows; fill it in ({role}.path)")
    return table


def named_columns(block: str, keys: dict[str, str | None]) -> dict[str, str]:
    """Column -> the scenario key that names it (the first key, when two name the same column)."""
    columns: dict[str, str] = {}
    for key, column in keys.items():
        if column:
            columns.setdefault(column, f"{block}.{key}")
    return columns


def numbers(table: pd.DataFrame, column: str, file: str, rows_label: str) -> np.ndarray:
    """A numeric column with no blanks and no negatives."""
    values = to_numbers(table[column], table.attrs.get(NUMBERS, "plain"), f"{file}: column '{column}'")
    bad = table.loc[values.isna(), rows_label].tolist()
    if bad:
        raise ScenarioError(f"{file}: column '{column}' is empty or not a number for {short_list(bad)}"
                            f"{first_bad(table[column], values)}; fill it in")
    negative = table.loc[values < 0, rows_label].tolist()
    if negative:
        raise ScenarioError(f"{file}: column '{column}' is negative for {short_list(negative)}; values must be >= 0")
    return values.to_numpy(dtype=float)


def flags(table: pd.DataFrame, column: str, file: str, rows_label: str) -> np.ndarray:
    text = table[column].str.strip().str.lower()
    bad = table.loc[~text.isin(TRUE | FALSE), rows_label].tolist()
    if bad:
        raise ScenarioError(f"{file}: column '{column}' must be true/false (or 1/0) for {short_list(bad)}")
    return text.isin(TRUE).to_numpy()


def unique_ids(table: pd.DataFrame, column: str, file: str, what: str) -> list[str]:
    ids = table[column].str.strip()
    if (ids == "").any():
        rows = [i + 2 for i in np.flatnonzero(ids == "")]
        raise ScenarioError(f"{file}: rows {short_list(rows)} have no {what} id in '{column}'; give every {what} an id")
    dup = sorted(ids[ids.duplicated()].unique())
    if dup:
        raise ScenarioError(f"{file}: duplicate {what} ids in '{column}': {short_list(dup)}; make them unique")
    return ids.tolist()


def locations(table: pd.DataFrame, cfg, frame: gpd.GeoDataFrame, pos: dict[str, int], file: str,
              labels: list[str], role: str) -> tuple[np.ndarray, np.ndarray]:
    """Unit index of each row (from a unit column or lat/lon) and a mask of rows outside every unit."""
    if cfg.unit is not None:
        units = as_known_ids(table[cfg.unit].str.strip(), tuple(pos))
        unknown = [f"{labels[i]} ({u})" for i, u in enumerate(units) if u not in pos]
        if unknown:
            raise ScenarioError(f"{file}: {role} {short_list(unknown)} name units not in the units file; fix the ids")
        return np.array([pos[u] for u in units], dtype=int), np.zeros(len(table), dtype=bool)
    lat = numbers_signed(table, cfg.lat, file, labels, -90, 90)
    lon = numbers_signed(table, cfg.lon, file, labels, -180, 180)
    # Outside every unit but near (over a border) is joined to the nearest unit and listed in the run; farther
    # than the units' extent (half of it for a rep's home) is a mistake (swapped coordinates: 13,000 km away)
    if role == "reps":
        refuse_far_homes(frame, lon, lat, [f"{file}: rep {label}" for label in labels])
    else:
        refuse_far_homes(frame, lon, lat, [f"{file}: {role[:-1]} {label}" for label in labels], "its location",
                         FAR_ACCOUNT_SHARE)
    ids, outside = locate_many(frame, lon, lat)
    return np.array([pos[u] for u in ids], dtype=int), outside


def numbers_signed(table: pd.DataFrame, column: str, file: str, labels: list[str], lo: float, hi: float) -> np.ndarray:
    values = to_numbers(table[column], table.attrs.get(NUMBERS, "plain"), f"{file}: column '{column}'").to_numpy(dtype=float)
    bad = [labels[i] for i in np.flatnonzero(~np.isfinite(values) | (values < lo) | (values > hi))]
    if bad:
        raise ScenarioError(f"{file}: column '{column}' needs a number in [{lo}, {hi}] for {short_list(bad)}")
    return values


def read_reps(cfg: RepsConfig, frame: gpd.GeoDataFrame, pos: dict[str, int]) -> tuple[Rep, ...]:
    file = Path(cfg.path).name
    named = {"id": cfg.id, "name": cfg.name, "lat": cfg.lat, "lon": cfg.lon, "unit": cfg.unit, "status": cfg.status,
             "capacity": cfg.capacity}
    table = read_table(cfg.path, "reps", named_columns("reps", named))
    ids = unique_ids(table, cfg.id, file, "rep")
    table["_label"] = ids
    homes, _ = locations(table, cfg, frame, pos, file, ids, "reps")
    names = table[cfg.name].str.strip().tolist() if cfg.name else ids
    status = table[cfg.status].str.strip().str.lower().tolist() if cfg.status else ["active"] * len(ids)
    bad = [f"{r} ({s})" for r, s in zip(ids, status) if s not in STATUSES]
    if bad:
        raise ScenarioError(f"{file}: unknown status for reps {short_list(bad)}; use one of {', '.join(STATUSES)}")
    capacity = numbers_signed(table, cfg.capacity, file, ids, 0, 366) if cfg.capacity else [None] * len(ids)  # days a year
    reps = [Rep(i, n or i, int(h), s, None if c is None else float(c))
            for i, n, h, s, c in zip(ids, names, homes, status, capacity)]
    unknown = sorted(set(cfg.set_status) - set(ids))
    if unknown:
        raise ScenarioError(f"reps.set_status: reps {short_list(unknown)} are not in {file}; fix the ids")
    reps = [Rep(r.id, r.name, r.home, cfg.set_status.get(r.id, r.status), r.capacity) for r in reps]
    for k, new in enumerate(cfg.add):
        if new.id in {r.id for r in reps}:
            raise ScenarioError(f"reps.add[{k}]: rep id '{new.id}' already exists; give the new rep its own id")
        if new.unit is not None and new.unit not in pos:
            raise ScenarioError(f"reps.add[{k}].unit = '{new.unit}' is not a unit id; fix it{quote_hint(new.unit, pos)}")
        if new.unit is None:
            refuse_far_homes(frame, [new.lon], [new.lat], [f"reps.add[{k}]"])
        unit = new.unit if new.unit is not None else locate_many(frame, np.array([new.lon]), np.array([new.lat]))[0][0]
        reps.append(Rep(new.id, new.name or new.id, pos[unit], new.status))
    home, who = _shared(reps, lambda r: r.home)
    if who:
        raise ScenarioError(
            f"reps {' and '.join(who)} both have their home in unit {frame.index[home]}; territories are centred on "
            "homes, so give each rep a home in a unit of their own")
    if not any(r.status != "leaving" for r in reps):
        raise ScenarioError(f"{file}: every rep is leaving; at least one rep must keep a territory")
    name, who = _shared(reps, lambda r: r.name)
    if who:  # (a territory is named after its rep: two of one name would be one territory in every output)
        raise ScenarioError(f"reps {' and '.join(who)} are both named '{name}', and each territory is named after its "
                            "rep; give them names that differ (e.g. add an initial or the city)")
    return tuple(reps)


def _shared(reps: list[Rep], key: Callable[[Rep], object]) -> tuple[object, list[str]]:
    """The first value of `key` that two or more reps keeping a territory share, and their ids (None, [] if none)."""
    groups: dict[object, list[str]] = {}
    for r in reps:
        if r.status != "leaving":
            groups.setdefault(key(r), []).append(r.id)
    return next(((value, ids) for value, ids in groups.items() if len(ids) > 1), (None, []))


def read_alignment(cfg: AlignmentConfig, frame: gpd.GeoDataFrame, pos: dict[str, int],
                   reps: tuple[Rep, ...], units_file: str) -> np.ndarray:
    """Rep index of every unit today."""
    rep_index = {r.id: k for k, r in enumerate(reps)}
    if cfg.column is not None:
        if cfg.column not in frame.columns:
            raise ScenarioError(f"{units_file}: alignment column '{cfg.column}' not found; fix alignment.column")
        unit_ids = [str(u) for u in frame.index]
        rep_ids = [str(v).strip() if v is not None and not pd.isna(v) else "" for v in frame[cfg.column]]
        source = units_file
    else:
        source = Path(cfg.path).name
        table = read_table(cfg.path, "alignment", {cfg.rep: "alignment.rep", cfg.unit: "alignment.unit"})
        unit_ids = as_known_ids(table[cfg.unit].str.strip(), tuple(pos)).tolist()
        rep_ids = table[cfg.rep].str.strip().tolist()
        unknown_units = sorted({u for u in unit_ids if u not in pos})
        if unknown_units:
            raise ScenarioError(f"{source}: units {short_list(unknown_units)} are not in {units_file}; fix or remove those rows")
        seen: dict[str, str] = {}
        twice = sorted({u for u, r in zip(unit_ids, rep_ids) if seen.setdefault(u, r) != r})
        if twice:
            raise ScenarioError(f"{source}: units {short_list(twice)} are aligned to two reps; keep one row per unit")
    unknown = sorted({r for r in rep_ids if r and r not in rep_index})
    if unknown:
        units = [u for u, r in zip(unit_ids, rep_ids) if r == unknown[0]]
        raise ScenarioError(
            f"{source}: rep '{unknown[0]}' (units {short_list(units)}) is not in the reps file"
            + (f", nor are {short_list(unknown[1:])}" if len(unknown) > 1 else "") + "; add the rep or fix the alignment")
    current = np.full(len(pos), -1)
    for u, r in zip(unit_ids, rep_ids):
        if r:
            current[pos[u]] = rep_index[r]
    orphans = [str(frame.index[i]) for i in np.flatnonzero(current < 0)]
    if orphans:
        raise ScenarioError(f"{source}: {len(orphans)} units have no rep today ({short_list(orphans)}); "
                            "align every unit to a rep (a vacant territory can hold them)")
    return current


def read_accounts(cfg: AccountsConfig, frame: gpd.GeoDataFrame, pos: dict[str, int],
                  reps: tuple[Rep, ...]) -> tuple[Accounts, tuple[str, ...]]:
    file = Path(cfg.path).name
    value_columns = sorted({cfg.relationship, cfg.potential} | {c for c in cfg.aggregate.values() if c != "count"})
    named = {"id": cfg.id, "rep": cfg.rep, "relationship": cfg.relationship, "potential": cfg.potential, "lat": cfg.lat,
             "lon": cfg.lon, "unit": cfg.unit, "key": cfg.key, "locked": cfg.locked}
    columns = named_columns("accounts", named)
    for c in value_columns:
        columns.setdefault(c, "accounts.aggregate")
    table = read_table(cfg.path, "accounts", columns)
    ids = unique_ids(table, cfg.id, file, "account")
    table["_label"] = ids
    rep_index = {r.id: k for k, r in enumerate(reps)}
    rep_ids = table[cfg.rep].str.strip()
    unknown = sorted(set(rep_ids) - set(rep_index))
    if unknown:
        accounts = table.loc[rep_ids == unknown[0], "_label"].tolist()
        raise ScenarioError(f"{file}: rep '{unknown[0]}' of accounts {short_list(accounts)} is not in the reps file; "
                            "add the rep or fix the accounts")
    rep = np.array([rep_index[r] for r in rep_ids], dtype=int)
    unit, outside = locations(table, cfg, frame, pos, file, ids, "accounts")
    values = {c: numbers(table, c, file, "_label") for c in value_columns}
    values["relationship"] = values[cfg.relationship]
    values["potential"] = values[cfg.potential]
    values["accounts"] = np.ones(len(ids))
    locked = flags(table, cfg.locked, file, "_label") if cfg.locked else np.zeros(len(ids), dtype=bool)
    key = flags(table, cfg.key, file, "_label") if cfg.key else np.zeros(len(ids), dtype=bool)
    leaving = {k for k, r in enumerate(reps) if r.status == "leaving"}
    stuck = [ids[a] for a in np.flatnonzero(locked & np.isin(rep, list(leaving)))]
    if stuck:
        raise ScenarioError(f"{file}: accounts {short_list(stuck)} are locked to a rep who is leaving; unlock them")
    accounts = Accounts(tuple(ids), unit, rep, values, locked, key)
    return accounts, tuple(ids[a] for a in np.flatnonzero(outside))


def read_redesign(reps_cfg: RepsConfig, alignment_cfg: AlignmentConfig, accounts_cfg: AccountsConfig,
                  frame: gpd.GeoDataFrame, pos: dict[str, int], units_file: str) -> RedesignInputs:
    reps = read_reps(reps_cfg, frame, pos)
    current = read_alignment(alignment_cfg, frame, pos, reps, units_file)
    accounts, outside = read_accounts(accounts_cfg, frame, pos, reps)
    return RedesignInputs(Redesign(reps, current, accounts), outside)
