"""Read and check the coverage block's data (visit values, today's channels and contacts, the value
index and segments, response curves) and turn it, with a territory plan, into the coverage model's inputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from geodata.read_units import short_list
from model.coverage import CHANNELS, Channel, CoverageInputs, Rule
from model.plan import Plan
from model.redesign import Redesign
from model.response import ResponseCurve
from scenarios.errors import ScenarioError
from scenarios.redesign_inputs import flags, named_columns, numbers, read_table
from scenarios.schema import CoverageConfig, CurveConfig


KM_PER = {"km": 1.0, "kilometre": 1.0, "kilometer": 1.0, "m": 0.001, "metre": 0.001, "meter": 0.001,
          "mi": 1.609344, "mile": 1.609344, "miles": 1.609344, "ft": 0.0003048, "foot": 0.0003048,
          "feet": 0.0003048, "us survey foot": 0.0003048006096}
HOURS_PER = {"minutes": 1 / 60, "minute": 1 / 60, "min": 1 / 60, "seconds": 1 / 3600, "second": 1 / 3600,
             "s": 1 / 3600, "hours": 1.0, "hour": 1.0, "h": 1.0}


@dataclass(frozen=True)
class CoverageData:
    """Per account: value index, segment, visit value (NaN unknown), today's channel (-1) and contacts (NaN).
    `note`: how many accounts have a blank channel today (so are not contacted today) and how many rows of a
    separate coverage file name no account, else None."""

    index: np.ndarray
    segment: np.ndarray
    visit_value: np.ndarray
    current_channel: np.ndarray
    current_contacts: np.ndarray
    keep: np.ndarray
    curves: dict[str, ResponseCurve]
    note: str | None = None


def curve_from(cfg: CurveConfig) -> ResponseCurve:
    return ResponseCurve(cfg.kind, cfg.scale, cfg.floor, cfg.ceiling, cfg.shape, cfg.half,
                         tuple((float(a), float(b)) for a, b in cfg.points))


def read_coverage(cfg: CoverageConfig, redesign: Redesign, accounts_path: str, accounts_id: str) -> CoverageData:
    """The coverage columns, joined to the accounts by id; bad values name the file, column and rows."""
    acc = redesign.accounts
    path = cfg.data.path or accounts_path
    key = cfg.data.id if cfg.data.path else accounts_id
    file = Path(path).name
    extra = [c for c in cfg.value_index if c not in ("potential", "relationship")]
    data = cfg.data
    columns = {key: "coverage.data.id" if data.path else "accounts.id"}
    columns.update(named_columns("coverage.data", {"visit_value": data.visit_value, "channel": data.channel,
                                                   "contacts": data.contacts, "keep_channel": data.keep_channel}))
    for c in extra:
        columns.setdefault(c, "coverage.value_index")
    table = read_table(path, "coverage.data", columns)
    table[key] = table[key].str.strip()
    if table[key].duplicated().any():
        raise ScenarioError(f"{file}: duplicate account ids in '{key}': "
                            f"{short_list(sorted(table.loc[table[key].duplicated(), key].unique()))}; make them unique")
    missing = sorted(set(acc.ids) - set(table[key]))
    if missing:
        raise ScenarioError(f"{file}: accounts {short_list(missing)} have no row; add them (coverage.data.id = '{key}')")
    strays = sorted(set(table[key]) - set(acc.ids))  # (a CRM export may hold closed accounts: said, not refused)
    table = table.set_index(key).loc[list(acc.ids)].reset_index()
    table["_label"] = table[key]
    n = len(acc.ids)
    visit = np.full(n, np.nan)
    if cfg.data.visit_value:
        text = table[cfg.data.visit_value].str.strip()
        known = text != ""
        if known.any():
            visit[known.to_numpy()] = numbers(table[known], cfg.data.visit_value, file, "_label")
    channel = np.full(n, -1)
    if cfg.data.channel:
        text = table[cfg.data.channel].str.strip().str.lower()
        bad = table.loc[~text.isin(list(CHANNELS) + [""]), "_label"].tolist()
        if bad:
            raise ScenarioError(f"{file}: column '{cfg.data.channel}' must be field, tele, online or empty for "
                                f"{short_list(bad)}")
        channel = np.array([CHANNELS.index(t) if t else -1 for t in text])
    contacts = np.full(n, np.nan)
    if cfg.data.contacts:
        contacts = numbers(table, cfg.data.contacts, file, "_label")
    note = None
    if cfg.data.channel and (channel < 0).any():
        contacts, note = no_channel_today(channel, contacts, acc.ids, file, cfg.data.channel)
    keep = flags(table, cfg.data.keep_channel, file, "_label") if cfg.data.keep_channel else np.zeros(n, dtype=bool)
    if (keep & (channel < 0)).any():
        who = [acc.ids[i] for i in np.flatnonzero(keep & (channel < 0))]
        raise ScenarioError(f"{file}: accounts {short_list(who)} must keep their channel but have none; fill in "
                            f"'{cfg.data.channel or 'coverage.data.channel'}'")
    if strays:
        stray_note = (f"{len(strays)} row{'s' * (len(strays) > 1)} of {file} for accounts not in the accounts file "
                      f"({short_list(strays)}) ignored")
        note = stray_note if note is None else f"{note}; {stray_note}"
    index = value_index(cfg, acc.values, table, file)
    segment = segments(cfg, index)
    curves = {}
    for s in cfg.segments:
        curve = curve_from(s.response)
        problem = curve.shape_problem(cfg.levels)
        if problem and not s.response.allow_nonconcave:
            raise ScenarioError(f"coverage.segments[{s.name}].response: the curve {problem}; use a concave curve "
                                "(adbudg shape <= 1) or set allow_nonconcave: true")
        curves[s.name] = curve
    return CoverageData(index, segment, visit, channel, contacts, keep, curves, note)


def no_channel_today(channel: np.ndarray, contacts: np.ndarray, ids: tuple[str, ...], file: str,
                     column: str) -> tuple[np.ndarray, str]:
    """A blank channel means no channel today: those accounts are not contacted today (contacts 0, any
    given are not counted, as no channel can value them), and the note says how many."""
    blank = channel < 0
    count, given = int(blank.sum()), float(np.nansum(contacts[blank]))
    who = short_list([ids[i] for i in np.flatnonzero(blank)])
    note = f"{count} account{'s' * (count > 1)} with no channel today (blank '{column}' in {file}: {who}): " \
           "not contacted today"
    if given:
        note += f"; the {given:g} contacts a year given are not counted (fill in '{column}' to count them)"
    return np.where(blank, 0.0, contacts), note


def value_index(cfg: CoverageConfig, values: dict[str, np.ndarray], table: pd.DataFrame, file: str) -> np.ndarray:
    """Weighted sum of min-max normalised columns, scaled to 0-1."""
    total = np.zeros(len(table))
    for column, weight in cfg.value_index.items():
        x = values[column] if column in ("potential", "relationship") else numbers(table, column, file, "_label")
        span = x.max() - x.min()
        total += weight * ((x - x.min()) / span if span > 0 else np.zeros_like(x))
    span = total.max() - total.min()
    return (total - total.min()) / span if span > 0 else np.zeros_like(total)


def segments(cfg: CoverageConfig, index: np.ndarray) -> np.ndarray:
    """First matching segment in order: top share of those left, or index threshold; the last takes the rest."""
    out = np.full(len(index), cfg.segments[-1].name, dtype=object)
    left = np.ones(len(index), dtype=bool)
    order = np.argsort(-index, kind="stable")
    for s in cfg.segments[:-1]:
        if s.top_share is not None:
            ranked = order[left[order]]
            take = ranked[: int(round(s.top_share * len(index)))]
        else:
            take = np.flatnonzero(left & (index >= s.min_index))
        out[take] = s.name
        left[take] = False
    return out


def rep_hours(cfg: CoverageConfig, redesign: Redesign) -> np.ndarray:
    """Hours a year per rep: working days (the reps file's capacity, else the default) x hours a day;
    none for a vacant position or a rep who leaves."""
    return np.array([0.0 if r.status in ("vacant", "leaving") else
                     (r.capacity if r.capacity is not None else cfg.field.working_days) * cfg.field.hours_per_day
                     for r in redesign.reps], dtype=float)


def coverage_inputs(cfg: CoverageConfig, data: CoverageData, redesign: Redesign, plan: Plan | None,
                    distance: np.ndarray, distance_unit: str, today: bool = False) -> CoverageInputs:
    """The model's inputs for a territory plan: each customer's rep (new plan, or today's when
    reps_from is current or there is no plan yet), travel per field visit from that rep's home (round
    trip shared by visits_per_trip), hours per rep. `today`: as things are today (today's reps, all
    serving), to value today's coverage."""
    acc = redesign.accounts
    rep = redesign.new_reps(plan) if cfg.reps_from == "plan" and plan is not None and not today else acc.rep.copy()
    if not today:
        serving = np.array([r.status in ("active", "new_hire") for r in redesign.reps])
        rep = np.where(serving[rep], rep, -1)  # vacant territories and leavers have nobody to visit
    homes = np.array([r.home for r in redesign.reps])
    f = cfg.field
    one_way = np.where(rep >= 0, distance[homes[np.maximum(rep, 0)], acc.unit], 0.0)
    unit = distance_unit.strip().lower()
    if unit in HOURS_PER:  # a drive-time matrix: time is given, only the local part is driven at speed
        travel = 2 * (one_way * HOURS_PER[unit] + f.local_km / f.speed_kmh) / f.visits_per_trip
    elif unit in KM_PER:
        travel = 2 * f.circuity * (one_way * KM_PER[unit] + f.local_km) / f.speed_kmh / f.visits_per_trip
    else:
        raise ScenarioError(f"coverage: travel needs distances in a known unit, not '{distance_unit}'; set "
                            "distances.unit to km, m, mi, ft, minutes, seconds or hours")
    potential = acc.values["potential"]
    usable = np.isfinite(data.visit_value) & (data.visit_value > 0) & (potential > 0)
    scale = np.where(usable, potential / np.where(usable, data.visit_value, 1.0), np.nan)
    rules = {s.name: Rule(tuple(s.channels), s.min_contacts, s.max_contacts if s.max_contacts is not None else np.inf)
             for s in cfg.segments}
    channels = {"field": Channel(f.cost_per_contact, f.response, f.minutes_per_contact),
                "tele": Channel(cfg.tele.cost_per_contact, cfg.tele.response, cfg.tele.minutes_per_contact),
                "online": Channel(cfg.online.cost_per_contact, cfg.online.response, cfg.online.minutes_per_contact)}
    return CoverageInputs(
        ids=acc.ids, segment=data.segment, rep=rep, potential=potential, scale=scale, travel_hours=travel,
        keep=data.keep, current_channel=data.current_channel, current_contacts=data.current_contacts,
        curves=data.curves, rules=rules, channels=channels, levels=tuple(float(x) for x in sorted(cfg.levels)),
        rep_ids=tuple(r.id for r in redesign.reps), rep_hours=rep_hours(cfg, redesign),
        tele_hours=cfg.tele.hours(),
    )
