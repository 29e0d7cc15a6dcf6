"""Checks that need no solver: impossible counts and balance bounds are named before any model is built."""

from __future__ import annotations

from model.spec import ModelError, TerritorySpec


def precheck(spec: TerritorySpec) -> None:
    """Raise ModelError for a problem that cannot have a plan, with the smallest change that helps."""
    geo = spec.geography
    if spec.count > geo.n:
        raise ModelError(f"territories.count = {spec.count} exceeds the {geo.n} units; lower it to at most {geo.n}")
    for rule in spec.balance:
        values = geo.attributes[rule.attribute]
        total = float(values.sum())
        too_big = [geo.ids[i] for i in range(geo.n) if values[i] > rule.upper + 1e-9]
        if too_big:
            worst = float(values.max())
            raise ModelError(
                f"balance {rule.attribute}: unit {too_big[0]} alone has {worst:.6g}, above a territory's "
                f"maximum {rule.upper:.6g}; raise the maximum (or tolerance) to at least {worst:.6g}"
            )
        if spec.count * rule.upper < total - 1e-9:
            raise ModelError(
                f"balance {rule.attribute}: {spec.count} territories of at most {rule.upper:.6g} cannot hold the "
                f"total {total:.6g}; raise max to at least {total / spec.count:.6g}"
            )
        if spec.count * rule.lower > total + 1e-9:
            raise ModelError(
                f"balance {rule.attribute}: {spec.count} territories of at least {rule.lower:.6g} need more than "
                f"the total {total:.6g}; lower min to at most {total / spec.count:.6g}"
            )
    labels = {label for _, label in spec.locks}
    if len(labels) > spec.count:
        raise ModelError(f"locked units name {len(labels)} territories but there are only {spec.count}")
    if spec.centres is not None:
        centre_set = set(spec.centres)
        for u, label in spec.locks:
            if u in centre_set and spec.centres[label] != u:
                raise ModelError(f"unit {geo.ids[u]} is the centre of another territory and cannot be locked to {spec.territory_names()[label]}")
