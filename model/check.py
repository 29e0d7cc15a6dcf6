"""Independent check of any plan: it trusts no solver and re-derives everything from the data."""

from __future__ import annotations

from collections import deque

import numpy as np

from model.plan import Plan
from model.spec import TerritorySpec

TOLERANCE = 1e-6


class PlanCheckError(Exception):
    """A plan breaks a rule of its scenario: a bug, never a user mistake."""


def plan_violations(spec: TerritorySpec, plan: Plan) -> list[str]:
    """Every rule the plan breaks, in words; empty when the plan is valid."""
    geo = spec.geography
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
    for c in centres:
        members = [i for i, owner in enumerate(centre_of) if owner == c]
        for r, rule in enumerate(spec.balance):
            held = float(spec.offsets[r, c]) if spec.offsets is not None else 0.0  # e.g. locked accounts
            total = held + float(sum(geo.attributes[rule.attribute][i] for i in members))
            slack = TOLERANCE * max(1.0, abs(rule.upper))
            if total < rule.lower - slack or total > rule.upper + slack:
                problems.append(
                    f"territory of {geo.ids[c]}: {rule.attribute} = {total:.6g} outside [{rule.lower:.6g}, {rule.upper:.6g}]"
                )
        if spec.contiguity and not _connected(members, geo.edges):
            problems.append(f"territory of {geo.ids[c]} is not contiguous")
    for limit in spec.limits:
        used = sum(float(limit.coef[i, c]) for i, c in enumerate(centre_of))
        if used > limit.rhs + TOLERANCE * max(1.0, abs(limit.rhs)):
            problems.append(f"limit {limit.name}: {used:.6g} above {limit.rhs:.6g}")
    for u, label in spec.locks:
        if spec.centres is not None and centre_of[u] != spec.centres[label]:
            problems.append(f"locked unit {geo.ids[u]} is not in its territory {label}")
    if spec.centres is None and spec.locks:
        by_label: dict[int, set[int]] = {}
        for u, label in spec.locks:
            by_label.setdefault(label, set()).add(centre_of[u])
        owners = [next(iter(s)) for s in by_label.values() if len(s) == 1]
        if any(len(s) > 1 for s in by_label.values()) or len(owners) != len(set(owners)):
            problems.append("locked units are not grouped as their labels say")
    if spec.levels:
        problems += _nesting_violations(spec, plan)
    return problems


def _nesting_violations(spec: TerritorySpec, plan: Plan) -> list[str]:
    """Each level: the right number of groups, each inside one parent group, each territory inside one
    group, every group contiguous and within its balance bounds (bounds x territories it holds)."""
    geo = spec.geography
    counts = spec.level_counts()
    if len(plan.groups) != len(spec.levels):
        return [f"plan gives {len(plan.groups)} nesting levels, the scenario asks for {len(spec.levels)}"]
    problems: list[str] = []
    parent: list[int] | None = None
    for depth, ((name, per_parent), labels) in enumerate(zip(spec.levels, plan.groups)):
        labels = list(labels)
        groups = sorted(set(labels))
        expected = int(np.prod(counts[: depth + 1]))
        if len(groups) != expected:
            problems.append(f"{len(groups)} {name}s, the scenario asks for {expected}")
        children: dict[int, set[int]] = {}
        for g in groups:
            members = [i for i, label in enumerate(labels) if label == g]
            if parent is not None:
                above = {parent[i] for i in members}
                if len(above) != 1:
                    problems.append(f"{name} {g + 1} spans {len(above)} groups of the level above")
                children.setdefault(min(above), set()).add(g)
            if spec.contiguity and not _connected(members, geo.edges):
                problems.append(f"{name} {g + 1} is not contiguous")
            q = spec.territories_per_group(depth)
            for rule in spec.balance:
                total = float(sum(geo.attributes[rule.attribute][i] for i in members))
                slack = TOLERANCE * max(1.0, abs(q * rule.upper))
                if total < q * rule.lower - slack or total > q * rule.upper + slack:
                    problems.append(f"{name} {g + 1}: {rule.attribute} = {total:.6g} outside "
                                    f"[{q * rule.lower:.6g}, {q * rule.upper:.6g}]")
        if parent is not None and any(len(c) != per_parent for c in children.values()):
            problems.append(f"every group of the level above must hold {per_parent} {name}s")
        parent = labels
    finest = parent or []
    for c in sorted(set(plan.centre_of)):
        zones = {finest[i] for i, owner in enumerate(plan.centre_of) if owner == c}
        if len(zones) != 1:
            problems.append(f"territory of {geo.ids[c]} spans {len(zones)} {spec.levels[-1][0]}s")
    return problems


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



