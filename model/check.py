"""Independent check of any plan: it trusts no solver and re-derives everything from the data."""

from __future__ import annotations

from collections import deque

import numpy as np

from model.message_numbers import message_number, outside_band, places_beside
from model.plan import Plan, group_labels
from model.spec import TerritorySpec

TOLERANCE = 1e-6


class PlanCheckError(Exception):
    """A plan breaks a rule of its scenario: a bug, never a user mistake."""


def plan_violations(spec: TerritorySpec, plan: Plan, names: dict[int, str] | None = None) -> list[str]:
    """Every rule the plan breaks, in words; empty when the plan is valid. Territories are named by their
    centre unit, or by `names` (keyed by centre) when given."""
    geo = spec.geography

    def territory(c: int) -> str:
        return f"territory {names[c]} (centre {geo.ids[c]})" if names and c in names else f"territory of {geo.ids[c]}"

    problems: list[str] = []
    centre_of = list(plan.centre_of)
    if len(centre_of) != geo.n:
        return [f"plan covers {len(centre_of)} units, the geography has {geo.n}"]
    centres = sorted(set(centre_of))
    if len(centres) != spec.count:
        problems.append(f"plan has {len(centres)} territories, the scenario asks for {spec.count}")
    for c in centres:
        if not 0 <= c < geo.n or centre_of[c] != c:
            problems.append(f"centre {geo.ids[c] if 0 <= c < geo.n else c} is not in its own territory")
    if spec.centres is not None and sorted(spec.centres) != centres:
        problems.append("territory centres differ from the fixed centres")
    owner = np.asarray(centre_of)
    if owner.min() < 0 or owner.max() >= geo.n:
        return problems + ["plan names a centre outside the geography"]
    pieces = pieces_by_label(owner, geo.edges) if spec.contiguity else {}
    for c, rule, total in _outside_bounds(spec, owner):
        problems.append(f"{territory(c)}: {rule.attribute} = {outside_band(total, rule.lower, rule.upper)}")
    for c in centres:
        if spec.contiguity and pieces.get(c, 1) > 1:
            problems.append(f"{territory(c)} is not contiguous")
    if spec.max_distance is not None:
        far = np.flatnonzero(spec.geography.distance[np.arange(geo.n), owner] > spec.max_distance * (1 + TOLERANCE))
        for i in far[:5]:
            d = float(geo.distance[i, owner[i]])
            places = places_beside(d, spec.max_distance)
            problems.append(f"unit {geo.ids[i]} is {message_number(d, places)} {geo.distance_unit} from its centre "
                            f"{geo.ids[owner[i]]}, beyond max_distance {message_number(spec.max_distance, places)}")
    for limit in spec.limits:
        used = sum(float(limit.coef[i, c]) for i, c in enumerate(centre_of))
        if used > limit.rhs + TOLERANCE * max(1.0, abs(limit.rhs)):
            places = places_beside(used, limit.rhs)
            problems.append(f"limit {limit.name}: {message_number(used, places)} above {message_number(limit.rhs, places)}")
    for u, label in spec.locks:
        if spec.centres is not None and centre_of[u] != spec.centres[label]:
            problems.append(f"locked unit {geo.ids[u]} is not in its territory {spec.territory_names()[label]}")
    if spec.centres is None and spec.locks:
        problems += _lock_violations(spec, centre_of)
    if spec.levels:
        problems += _nesting_violations(spec, plan)
    return problems


def _lock_violations(spec: TerritorySpec, centre_of) -> list[str]:
    """Free centres: units locked under one label in different territories, and units under different labels in one
    territory, each group named by its own units."""
    ids = spec.geography.ids
    by_label: dict[int, list[int]] = {}
    for u, label in spec.locks:
        by_label.setdefault(label, []).append(u)
    problems = []
    for units in by_label.values():
        if len({centre_of[u] for u in units}) > 1:
            problems.append(f"units locked together lie in different territories: {_few(ids, units)}")
    holder: dict[int, list[int]] = {}  # territory (centre) -> labels wholly inside it
    for label, units in by_label.items():
        owners = {centre_of[u] for u in units}
        if len(owners) == 1:
            holder.setdefault(owners.pop(), []).append(label)
    for labels in holder.values():
        if len(labels) > 1:
            problems.append("units locked apart share a territory: " + _few(ids, [by_label[q][0] for q in labels]))
    return problems


def _few(ids, units: list[int], most: int = 5) -> str:
    return ", ".join(str(ids[u]) for u in units[:most]) + (" …" if len(units) > most else "")


def _outside_bounds(spec: TerritorySpec, owner: np.ndarray) -> list[tuple[int, object, float]]:
    """(centre, rule, total) for every territory total outside its rule's bounds (what a territory
    holds anyway, e.g. accounts locked to its rep, counts)."""
    found = []
    for r, rule in enumerate(spec.balance):
        sums = np.bincount(owner, weights=spec.geography.attributes[rule.attribute], minlength=len(owner))
        slack = TOLERANCE * max(1.0, abs(rule.upper))
        for c in np.unique(owner):
            total = float(sums[c]) + (float(spec.offsets[r, c]) if spec.offsets is not None else 0.0)
            if total < rule.lower - slack or total > rule.upper + slack:
                found.append((int(c), rule, total))
    return found


def unbalanced(spec: TerritorySpec, centre_of) -> list[int]:
    """Centres of the territories outside their balance bounds."""
    return sorted({c for c, _, _ in _outside_bounds(spec, np.asarray(centre_of))})


def _nesting_violations(spec: TerritorySpec, plan: Plan) -> list[str]:
    """Each level: the right number of groups, each inside one parent group, each territory inside one
    group, every group contiguous and within its balance bounds (bounds x territories it holds)."""
    geo = spec.geography
    counts = spec.level_counts()
    if len(plan.groups) != len(spec.levels):
        return [f"plan gives {len(plan.groups)} nesting levels, the scenario asks for {len(spec.levels)}"]
    problems: list[str] = []
    parent: np.ndarray | None = None
    codes = group_labels(spec, plan)  # R01, R01.D03, ...: as the outputs name the groups
    for depth, ((name, per_parent), labels) in enumerate(zip(spec.levels, plan.groups)):
        labels = np.asarray(labels)
        groups = np.unique(labels)
        expected = int(np.prod(counts[: depth + 1]))
        if len(groups) != expected:
            problems.append(f"{len(groups)} {name}s, the scenario asks for {expected}")
        pieces = pieces_by_label(labels, geo.edges) if spec.contiguity else {}
        q = spec.territories_per_group(depth)
        sums = {rule.attribute: dict(zip(*_totals(labels, geo.attributes[rule.attribute]))) for rule in spec.balance}
        held = _held_by_group(spec, plan, labels)  # accounts locked to the groups' reps (a redesign)
        # a group in a message: its code in the outputs and its first unit, to find it by in a user's own plan
        # (tplan evaluate), whose group names may differ from the codes
        first = {int(g): int(np.flatnonzero(labels == g)[0]) for g in groups}
        named = {g: f"{codes[name][i]} (holding unit {geo.ids[i]})" for g, i in first.items()}
        for g in groups:
            g = int(g)
            if pieces.get(g, 1) > 1:
                problems.append(f"{name} {named[g]} is not contiguous")
            for r, rule in enumerate(spec.balance):
                total = float(sums[rule.attribute][g]) + float(held[r][g])
                slack = TOLERANCE * max(1.0, abs(q * rule.upper))
                if total < q * rule.lower - slack or total > q * rule.upper + slack:
                    problems.append(f"{name} {named[g]}: {rule.attribute} = "
                                    f"{outside_band(total, q * rule.lower, q * rule.upper)}")
        if parent is not None:
            inside = np.unique(np.column_stack([labels, parent]), axis=0)  # (group, parent group) pairs
            spans = np.unique(inside[:, 0], return_counts=True)
            for g, times in zip(*spans):
                if times != 1:
                    problems.append(f"{name} {named[int(g)]} spans {int(times)} groups of "
                                    "the level above")
            _, per = np.unique(inside[:, 1], return_counts=True)
            if (per != per_parent).any():
                problems.append(f"every group of the level above must hold {per_parent} {name}s")
        parent = labels
    if parent is not None:
        inside = np.unique(np.column_stack([np.asarray(plan.centre_of), parent]), axis=0)
        territories, zones = np.unique(inside[:, 0], return_counts=True)
        for c, times in zip(territories, zones):
            if times != 1:
                problems.append(f"territory of {geo.ids[int(c)]} spans {int(times)} {spec.levels[-1][0]}s")
    return problems


def _held_by_group(spec: TerritorySpec, plan: Plan, labels: np.ndarray) -> list[dict[int, float]]:
    """Per balance rule and group: what the territories of the group hold whatever their units (a
    redesign's accounts locked to their rep, `spec.offsets` at the territory centres); zeros otherwise."""
    groups = np.unique(labels)
    held = [dict.fromkeys((int(g) for g in groups), 0.0) for _ in spec.balance]
    if spec.offsets is None:
        return held
    centres = np.unique(np.asarray(plan.centre_of))
    for c in centres:
        g = int(labels[c])  # a territory lies in one group (checked separately); its centre tells which
        for r in range(len(spec.balance)):
            held[r][g] += float(spec.offsets[r, c])
    return held


def _totals(labels: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(label, total of `values` over its units) for every label present."""
    present, inverse = np.unique(labels, return_inverse=True)
    return present, np.bincount(inverse, weights=values)


def pieces_by_label(labels, edges) -> dict:
    """How many connected pieces each label's units form, using only edges between units of the same
    label (1 means contiguous): one union-find pass over the edges for all labels at once."""
    labels = np.asarray(labels).tolist()  # plain ints or strings: fast to compare
    parent = list(range(len(labels)))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        if labels[a] == labels[b]:
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[ra] = rb
    pieces: dict[int, set[int]] = {}
    for i, label in enumerate(labels):
        pieces.setdefault(label, set()).add(root(i))
    return {label: len(roots) for label, roots in pieces.items()}


def _connected(members: list[int], edges) -> bool:
    """Breadth-first search over the edge list, restricted to the members."""
    if len(members) <= 1:
        return True
    inside = set(members)
    adj: dict[int, list[int]] = {u: [] for u in members}
    for a, b in edges:
        if a in inside and b in inside:
            adj[a].append(b)
            adj[b].append(a)
    seen = {members[0]}
    queue = deque([members[0]])
    while queue:
        u = queue.popleft()
        for v in adj[u]:
            if v not in seen:
                seen.add(v)
                queue.append(v)
    return len(seen) == len(inside)


def check_plan(spec: TerritorySpec, plan: Plan) -> None:
    """Raise PlanCheckError listing every violated rule."""
    problems = plan_violations(spec, plan)
    if problems:
        raise PlanCheckError("plan failed the independent check: " + "; ".join(problems))


def is_valid(spec: TerritorySpec, plan: Plan) -> bool:
    return not plan_violations(spec, plan)



