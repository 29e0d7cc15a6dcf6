"""Checks that need no solver: impossible counts and balance bounds are named before any model is built."""

from __future__ import annotations

import numpy as np

from geodata.distances import DENSE_MAX_UNITS, LazyPairs
from geodata.read_units import short_list
from model.contiguity import lightest_paths
from model.fixing import balance_paths
from model.message_numbers import message_number
from model.spec import ModelError, TerritorySpec


def _nearest_other(geo) -> np.ndarray:
    """Each unit's distance to its nearest other unit (for distances computed on demand, the straight
    chord, which is never longer: a unit it calls lonely is lonely)."""
    if geo.n < 2:
        return np.full(geo.n, np.inf)
    if isinstance(geo.distance, LazyPairs):
        from scipy.spatial import cKDTree

        return cKDTree(geo.distance.points).query(geo.distance.points, k=[2])[0][:, 0]
    d = np.array(geo.distance, dtype=float, copy=True)
    np.fill_diagonal(d, np.inf)
    return d.min(axis=1)


def _check_reach(spec: TerritorySpec) -> None:
    """Units no centre can reach within max_distance (fixed centres), or that only a territory of their
    own could hold (free centres: no other unit within the limit, yet a lone unit breaks the balance)."""
    geo, limit = spec.geography, spec.max_distance
    unit = geo.distance_unit
    if spec.centres is not None:
        nearest = np.min(geo.distance[:, list(spec.centres)], axis=1)
        far = np.flatnonzero(nearest > limit)
        if len(far):
            names = ", ".join(geo.ids[i] for i in far[:5]) + (f" (and {len(far) - 5} more)" if len(far) > 5 else "")
            who = f"units {names} are" if len(far) > 1 else f"unit {names} is"
            raise ModelError(f"territories.max_distance: {who} farther than {limit:g} {unit} from every centre; "
                             f"raise max_distance to at least {float(nearest.max()):.4g}")
        return
    nearest = _nearest_other(geo)
    lonely = [(geo.ids[i], float(nearest[i])) for i in np.flatnonzero(nearest > limit)
              if any(geo.attributes[r.attribute][i] < r.lower for r in spec.balance)]
    if lonely:
        who, gap = lonely[0]
        raise ModelError(f"territories.max_distance: unit {who} has no other unit within {limit:g} {unit} (the nearest is "
                         f"{gap:.4g} {unit} away), so it could only be a territory on its own, below the balance minimum; "
                         f"raise max_distance to at least {max(g for _, g in lonely):.4g}")


def _check_paths(spec: TerritorySpec) -> None:
    """Fixed centres and contiguity: a connected territory holds a path from its centre to each of its units, so
    a unit to which every centre's lightest path (centre and unit included) is above a territory's maximum fits
    in no territory (georgia_reps with a rep in Lawrenceville, not Decatur: DeKalb County between the Atlanta, Marietta
    and Lawrenceville territories)."""
    geo = spec.geography
    if spec.centres is None or not spec.contiguity or not geo.edges or isinstance(geo.distance, LazyPairs):
        return
    centres = np.asarray(spec.centres)
    names = spec.territory_names()
    for r, rule in enumerate(spec.balance):
        value = geo.attributes[rule.attribute].astype(float)
        path, room, fits = balance_paths(spec, r, centres)  # room: the maximum less what is locked to each centre
        fits[centres, np.arange(len(centres))] = True
        for unit, label in spec.locks:
            fits[unit, label] = True
        stranded = np.flatnonzero(~fits.any(axis=1))
        if not len(stranded):
            continue
        excess = (path[stranded] - room[None, :]).min(axis=1)
        i = int(stranded[np.argmax(excess)])  # the unit needing the largest raise
        t = int(np.argmin(path[i] - room))
        need = float(np.max(rule.upper)) + float(path[i, t] - room[t])
        others = f" (and {len(stranded) - 1} more units)" if len(stranded) > 1 else ""
        tolerance = ""
        if rule.tolerance is not None:
            tolerance = f" (tolerance {100 * (need * spec.count / float(value.sum()) - 1):.1f}%)"
        raise ModelError(
            f"balance {rule.attribute} with contiguity: unit {geo.ids[i]} ({value[i]:,.6g}){others} fits in no "
            f"territory: every centre's lightest connected path to it holds more than the centre's territory has "
            f"room for (the closest, from {names[t]}: {float(path[i, t]):,.6g} for {float(room[t]):,.6g}); raise "
            f"the maximum to at least {need:,.6g}{tolerance}, put a centre in or next to it, or turn contiguity off")


def _check_locked_totals(spec: TerritorySpec, upper: np.ndarray) -> None:
    """Units locked to one territory (with its fixed centre) that together exceed its maximum: name them."""
    geo = spec.geography
    groups: dict[int, set[int]] = {}
    for u, label in spec.locks:
        groups.setdefault(label, set()).add(u)
    for label, units in sorted(groups.items()):
        if spec.centres is not None:
            units = units | {spec.centres[label]}
        members = sorted(units, key=lambda u: geo.ids[u])
        for r, rule in enumerate(spec.balance):
            total = float(geo.attributes[rule.attribute][members].sum())
            room = float(upper[r, spec.centres[label]]) if spec.centres is not None else float(np.max(rule.upper))
            if len(members) > 1 and total > room + 1e-9 * max(1.0, abs(room)):
                whose = (f"territory {spec.territory_names()[label]}" if spec.centres is not None
                         else "one territory")
                raise ModelError(f"balance {rule.attribute}: units {short_list([geo.ids[u] for u in members])} locked "
                                 f"to {whose} hold {total:.6g} together, above its maximum {room:.6g}; unlock some "
                                 f"of them or raise the maximum (or tolerance)")


BLOCKED = 1e299  # lightest_paths' total through a unit another territory holds


def _check_locks_reach(spec: TerritorySpec) -> None:
    """Contiguity with locked units: the units locked to one territory (and its fixed centre) must be joined by
    paths of units that no other territory holds (locked to it, or its centre), light enough for the territory's
    maximum; and a fixed centre walled in by such units must still reach its minimum."""
    geo = spec.geography
    if not spec.locks or not spec.contiguity or not geo.edges or isinstance(geo.distance, LazyPairs):
        return
    groups: dict[int, set[int]] = {}
    for u, label in spec.locks:
        groups.setdefault(label, set()).add(u)
    if spec.centres is not None:
        for t, c in enumerate(spec.centres):
            groups.setdefault(t, set()).add(c)
    owner = np.full(geo.n, -1)
    for label, members in groups.items():
        owner[list(members)] = label
    lower, upper = spec.bounds()
    rules = list(enumerate(spec.balance)) or [(None, None)]
    for label, members in sorted(groups.items()):
        fixed = spec.centres is not None
        anchor = spec.centres[label] if fixed else min(members, key=lambda u: geo.ids[u])
        whose = f"territory {spec.territory_names()[label]}" if fixed else f"the territory of unit {geo.ids[anchor]}"
        held = (owner >= 0) & (owner != label)
        for r, rule in rules:
            value = geo.attributes[rule.attribute].astype(float) if rule else np.ones(geo.n)
            path = lightest_paths(geo.edges, geo.n, np.where(held, np.inf, value), np.array([anchor]))[:, 0]
            path += value[anchor]
            cut = sorted((geo.ids[u] for u in members if path[u] >= BLOCKED))
            if cut:
                raise ModelError(f"locked units: unit {cut[0]} is locked to {whose}, but every connected path from "
                                 f"{geo.ids[anchor]} to it crosses units of other territories (locked to them, or "
                                 "their centres); unlock one of them, or turn contiguity off")
            if rule is None:
                continue
            room = float(upper[r, anchor]) if fixed else float(np.max(rule.upper))
            far = max(members, key=lambda u: path[u])
            if far != anchor and path[far] > room * (1 + 1e-9) + 1e-9:
                raise ModelError(f"balance {rule.attribute} with locked units: units {geo.ids[anchor]} and {geo.ids[far]} "
                                 f"must share {whose}, but the lightest connected path between them holds "
                                 f"{message_number(path[far])}, above its maximum {message_number(room)}; unlock one of "
                                 "them, raise the maximum (or tolerance), or turn contiguity off")
            reached = path < BLOCKED
            reach = float(value[reached].sum())
            if fixed and reach < float(lower[r, anchor]) - 1e-9 * max(1.0, abs(reach)):
                edges = np.asarray(geo.edges, dtype=int).reshape(-1, 2)
                rim = set(edges[reached[edges[:, 0]], 1]) | set(edges[reached[edges[:, 1]], 0])
                walls = sorted(geo.ids[u] for u in rim if held[u] and u not in spec.centres)
                raise ModelError(f"balance {rule.attribute} with locked units: {whose} is walled in by units of other "
                                 f"territories ({short_list(walls)} locked elsewhere, and their centres): the units it "
                                 f"can reach hold {message_number(reach)}, below its minimum "
                                 f"{message_number(float(lower[r, anchor]))}; unlock the units around it, or lower the "
                                 "minimum (or tolerance)")



def precheck(spec: TerritorySpec) -> None:
    """Raise ModelError for a problem that cannot have a plan, with the smallest change that helps."""
    geo = spec.geography
    if spec.count > geo.n:
        raise ModelError(f"territories.count = {spec.count} exceeds the {geo.n} units; lower it to at most {geo.n}")
    lower, upper = spec.bounds()
    columns = list(spec.centres) if spec.centres is not None else list(range(geo.n))
    for r, rule in enumerate(spec.balance):
        values = geo.attributes[rule.attribute]
        total = float(values.sum())
        roomiest = float(upper[r, columns].max())
        too_big = [geo.ids[i] for i in range(geo.n) if values[i] > roomiest + 1e-9]
        if too_big:
            worst_unit = int(np.argmax(values))
            worst = float(values[worst_unit])
            others = f" (and {len(too_big) - 1} more units above it)" if len(too_big) > 1 else ""
            raise ModelError(
                f"balance {rule.attribute}: unit {geo.ids[worst_unit]} alone has {worst:.6g}{others}, above a "
                f"territory's maximum {float(np.max(rule.upper)):.6g}; raise the maximum (or tolerance) to at least "
                f"{worst:.6g}, or use fewer territories"
            )
        if spec.centres is not None:
            full = [spec.territory_names()[t] for t, c in enumerate(spec.centres) if upper[r, c] < -1e-9]
            if full:
                raise ModelError(
                    f"balance {rule.attribute}: the accounts locked to {full[0]} alone exceed a territory's maximum "
                    f"{rule.upper:.6g}; unlock some of them or raise the maximum"
                )
        room = float(np.sort(upper[r, columns])[::-1][: spec.count].sum())
        need = float(np.sort(lower[r, columns])[: spec.count].sum())
        if room < total - 1e-9:
            raise ModelError(
                f"balance {rule.attribute}: {spec.count} territories of at most {rule.upper:.6g} cannot hold the "
                f"total {total:.6g}; raise max to at least {(total + rule.upper * spec.count - room) / spec.count:.6g}"
            )
        if need > total + 1e-9:
            raise ModelError(
                f"balance {rule.attribute}: {spec.count} territories of at least {rule.lower:.6g} need more than "
                f"the total {total:.6g}; lower min to at most {(total + rule.lower * spec.count - need) / spec.count:.6g}"
            )
    if spec.max_distance is not None:
        _check_reach(spec)
    _check_paths(spec)
    if isinstance(geo.distance, LazyPairs) and spec.centres is None and (spec.locks or spec.limits):
        raise ModelError(f"{geo.n:,} units with free centres and locked units: not supported above "
                         f"{DENSE_MAX_UNITS:,} units yet; fix the centres (territories.centres) or use a coarser geography")
    labels = {label for _, label in spec.locks}
    if len(labels) > spec.count:
        raise ModelError(f"locked units name {len(labels)} territories but there are only {spec.count}")
    if spec.centres is not None:
        centre_set = set(spec.centres)
        for u, label in spec.locks:
            if u in centre_set and spec.centres[label] != u:
                raise ModelError(f"unit {geo.ids[u]} is the centre of another territory and cannot be locked to {spec.territory_names()[label]}")
    _check_locked_totals(spec, upper)
    _check_locks_reach(spec)
