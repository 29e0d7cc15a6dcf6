"""Redesign of an existing alignment: reps, their current units and accounts, and disruption.

Each territory belongs to one rep (active, vacant or new hire) and is centred on the rep's home unit.
An account *changes rep* when its new rep differs from its current one; its new rep is the rep of
its unit's territory, unless it is locked to its current rep (an exception). Disruption enters the
territory model in two ways, both linear in assign[i, j]:

- priced: cost[i, j] += price * (value of the movable accounts in unit i whose rep is not j's rep),
  with price = weight * (compactness of the current alignment) / (total value at stake), so weight 1
  means "losing every relationship costs as much as today's whole compactness";
- limited: the share of accounts, potential or relationship value that changes rep is at most X,
  overall and/or per rep (model.spec.Limit rows).

Accounts of reps who leave change rep whatever the plan: they are reported, but neither priced nor
counted in the limits (a limit could otherwise never be met).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from model.plan import Plan
from model.spec import Limit, TerritorySpec

MEASURES = ("accounts", "potential", "relationship")
TERRITORY_STATUSES = ("active", "vacant", "new_hire")
STATUSES = (*TERRITORY_STATUSES, "leaving")


@dataclass(frozen=True)
class Rep:
    """A rep: `home` is the unit index of the home; status one of STATUSES."""

    id: str
    name: str
    home: int
    status: str = "active"
    capacity: float | None = None


@dataclass(frozen=True)
class Accounts:
    """Accounts joined to units. `rep[a]` indexes Redesign.reps (current rep); `values` holds at least
    the MEASURES (accounts = 1 each) and any other numeric column used for aggregation."""

    ids: tuple[str, ...]
    unit: np.ndarray
    rep: np.ndarray
    values: dict[str, np.ndarray]
    locked: np.ndarray  # bool: stays with its current rep whatever its unit does
    key: np.ndarray  # bool: key account flag, for reports

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Redesign:
    """Reps (including leavers), the current alignment (unit -> rep index) and the accounts."""

    reps: tuple[Rep, ...]
    current: np.ndarray
    accounts: Accounts

    @property
    def territory_reps(self) -> tuple[int, ...]:
        """Reps who get a territory, in rep order; territory t belongs to rep territory_reps[t]."""
        return tuple(r for r, rep in enumerate(self.reps) if rep.status in TERRITORY_STATUSES)

    @property
    def centres(self) -> tuple[int, ...]:
        return tuple(self.reps[r].home for r in self.territory_reps)

    def staying(self) -> np.ndarray:
        """Per account: its current rep keeps a territory (so its move is a choice of the plan)."""
        keeps = np.zeros(len(self.reps), dtype=bool)
        keeps[list(self.territory_reps)] = True
        return keeps[self.accounts.rep]

    def new_reps(self, plan: Plan) -> np.ndarray:
        """Per account: its rep under `plan` (locked accounts keep theirs)."""
        rep_of_centre = {self.reps[r].home: r for r in self.territory_reps}
        unit_rep = np.array([rep_of_centre[c] for c in plan.centre_of])
        acc = self.accounts
        return np.where(acc.locked, acc.rep, unit_rep[acc.unit])

    def unit_reps(self, plan: Plan) -> np.ndarray:
        rep_of_centre = {self.reps[r].home: r for r in self.territory_reps}
        return np.array([rep_of_centre[c] for c in plan.centre_of])


@dataclass(frozen=True)
class DisruptionLimit:
    """At most `max_share` of `measure` may change rep: over all staying reps' accounts, or per rep."""

    measure: str
    max_share: float
    per_rep: bool = False


@dataclass(frozen=True)
class DisruptionTerms:
    weight: float = 0.0
    measure: str = "relationship"
    limits: tuple[DisruptionLimit, ...] = ()


def aggregate(accounts: Accounts, n: int, column: str) -> np.ndarray:
    """Per unit: the sum of an account column over the accounts that follow their unit (not locked)."""
    values = accounts.values[column]
    return np.bincount(accounts.unit[~accounts.locked], weights=values[~accounts.locked], minlength=n).astype(float)


def locked_offsets(redesign: Redesign, spec: TerritorySpec, aggregated: dict[str, str]) -> np.ndarray | None:
    """len(balance) x n: what each centre's territory holds through accounts locked to its rep,
    for balance attributes aggregated from accounts (`aggregated`: unit attribute -> account column)."""
    acc = redesign.accounts
    if not acc.locked.any():
        return None
    offsets = np.zeros((len(spec.balance), spec.geography.n))
    for r_idx, rule in enumerate(spec.balance):
        column = aggregated.get(rule.attribute)
        if column is None:
            continue
        for r in redesign.territory_reps:
            mine = acc.locked & (acc.rep == r)
            offsets[r_idx, redesign.reps[r].home] = float(acc.values[column][mine].sum())
    return offsets


def moved_values(redesign: Redesign, n: int, measure: str, rep: int | None = None) -> np.ndarray:
    """n x n: value of `measure` over the movable accounts of staying reps in unit i that change rep
    when i joins the territory centred on j (only centre columns are filled). With `rep`, only that
    rep's accounts count."""
    acc = redesign.accounts
    movable = ~acc.locked & redesign.staying()
    if rep is not None:
        movable &= acc.rep == rep
    values = acc.values[measure]
    out = np.zeros((n, n))
    total = np.bincount(acc.unit[movable], weights=values[movable], minlength=n)
    for r in redesign.territory_reps:
        mine = movable & (acc.rep == r)
        kept = np.bincount(acc.unit[mine], weights=values[mine], minlength=n)
        out[:, redesign.reps[r].home] = total - kept
    return out


def current_compactness(redesign: Redesign, spec: TerritorySpec) -> float:
    """Compactness of today's alignment, measured from each unit's current rep's home."""
    homes = np.array([redesign.reps[r].home for r in redesign.current])
    return float(spec.compactness()[np.arange(spec.geography.n), homes].sum())


def at_stake(redesign: Redesign, measure: str, rep: int | None = None) -> float:
    """Total of `measure` over staying reps' accounts (or one rep's): the base of shares."""
    acc = redesign.accounts
    mask = redesign.staying() if rep is None else acc.rep == rep
    return float(acc.values[measure][mask].sum())


def with_disruption(spec: TerritorySpec, redesign: Redesign, terms: DisruptionTerms) -> TerritorySpec:
    """The spec with disruption priced in its cost and limited by side limits."""
    n = spec.geography.n
    extra = None
    if terms.weight > 0:
        stake = at_stake(redesign, terms.measure)
        if stake > 0:
            reference = current_compactness(redesign, spec) or 1.0
            extra = terms.weight * reference / stake * moved_values(redesign, n, terms.measure)
    limits = []
    for lim in terms.limits:
        if lim.per_rep:
            for r in redesign.territory_reps:
                base = at_stake(redesign, lim.measure, r)
                if base > 0:
                    limits.append(Limit(f"{lim.measure} moved from {redesign.reps[r].id}",
                                        moved_values(redesign, n, lim.measure, r), lim.max_share * base, base))
        else:
            base = at_stake(redesign, lim.measure)
            limits.append(Limit(f"{lim.measure} moved", moved_values(redesign, n, lim.measure),
                                lim.max_share * base, base))
    return replace(spec, extra_cost=extra, limits=tuple(limits))


# ---- reports --------------------------------------------------------------------------------------


def disruption(redesign: Redesign, new_rep: np.ndarray) -> dict:
    """Plan-level disruption: accounts, potential and relationship value that change rep (absolute
    and % of all accounts), split into moves the plan chose and moves forced by leaving reps."""
    acc = redesign.accounts
    moved = new_rep != acc.rep
    staying = redesign.staying()
    out: dict = {}
    for measure in MEASURES:
        values = acc.values[measure]
        total = float(values.sum())
        moved_total = float(values[moved].sum())
        out[f"{measure}_moved"] = moved_total
        out[f"{measure}_moved_pct"] = 100.0 * moved_total / total if total else 0.0
        out[f"{measure}_moved_by_choice"] = float(values[moved & staying].sum())
        out[f"{measure}_moved_because_rep_leaves"] = float(values[moved & ~staying].sum())
        out[f"{measure}_kept_pct"] = 100.0 - out[f"{measure}_moved_pct"]
    return out


def balance_index(totals: np.ndarray, lower: float, upper: float) -> float:
    """Share (%) of territories whose total lies within the balance bounds."""
    return 100.0 * float(((totals >= lower - 1e-6) & (totals <= upper + 1e-6)).mean()) if len(totals) else 100.0


def rep_totals(redesign: Redesign, spec: TerritorySpec, unit_rep: np.ndarray, account_rep: np.ndarray,
               attribute: str, aggregated: dict[str, str]) -> np.ndarray:
    """Per rep: total of a balance attribute, from accounts (by their rep) when it is aggregated from
    them, else from units (by their rep)."""
    k = len(redesign.reps)
    column = aggregated.get(attribute)
    if column is not None:
        return np.bincount(account_rep, weights=redesign.accounts.values[column], minlength=k)
    return np.bincount(unit_rep, weights=spec.geography.attributes[attribute], minlength=k)


def rep_kpis(redesign: Redesign, spec: TerritorySpec, plan: Plan, aggregated: dict[str, str]) -> pd.DataFrame:
    """One row per rep (leavers and new hires too): before and after for every balance attribute,
    accounts, relationship value kept, and distance from home to the accounts (mean and max)."""
    acc = redesign.accounts
    dist = spec.geography.distance
    unit_after = redesign.unit_reps(plan)
    acc_after = redesign.new_reps(plan)
    rel = acc.values["relationship"]
    rows = []
    per_attr = {
        r.attribute: (rep_totals(redesign, spec, redesign.current, acc.rep, r.attribute, aggregated),
                      rep_totals(redesign, spec, unit_after, acc_after, r.attribute, aggregated))
        for r in spec.balance
    }
    for r, rep in enumerate(redesign.reps):
        row: dict = {"rep": rep.id, "name": rep.name, "status": rep.status, "home_unit": spec.geography.ids[rep.home]}
        row["units_before"] = int((redesign.current == r).sum())
        row["units_after"] = int((unit_after == r).sum())
        for attribute, (before, after) in per_attr.items():
            row[f"{attribute}_before"] = float(before[r])
            row[f"{attribute}_after"] = float(after[r])
        mine_before, mine_after = acc.rep == r, acc_after == r
        row["accounts_before"] = int(mine_before.sum())
        row["accounts_after"] = int(mine_after.sum())
        row["relationship_before"] = float(rel[mine_before].sum())
        row["relationship_kept"] = float(rel[mine_before & mine_after].sum())
        row["relationship_kept_pct"] = 100.0 * row["relationship_kept"] / row["relationship_before"] if row["relationship_before"] else 100.0
        for when, mine in (("before", mine_before), ("after", mine_after)):
            d = dist[rep.home, acc.unit[mine]]
            row[f"mean_distance_{when}"] = float(d.mean()) if len(d) else 0.0
            row[f"max_distance_{when}"] = float(d.max()) if len(d) else 0.0
        rows.append(row)
    return pd.DataFrame(rows)


def moves(redesign: Redesign, spec: TerritorySpec, plan: Plan) -> pd.DataFrame:
    """Every unit and every account that changes rep: kind, id, unit, from, to, and its values
    (a unit's values are the totals of its accounts)."""
    geo, acc = spec.geography, redesign.accounts
    rep_ids = [rep.id for rep in redesign.reps]
    unit_after = redesign.unit_reps(plan)
    acc_after = redesign.new_reps(plan)
    by_unit = {m: np.bincount(acc.unit, weights=acc.values[m], minlength=geo.n) for m in MEASURES}
    rows = []
    for i in np.flatnonzero(unit_after != redesign.current):
        rows.append({"kind": "unit", "id": geo.ids[i], "unit": geo.ids[i],
                     "from_rep": rep_ids[redesign.current[i]], "to_rep": rep_ids[unit_after[i]],
                     **{m: float(by_unit[m][i]) for m in MEASURES}})
    for a in np.flatnonzero(acc_after != acc.rep):
        rows.append({"kind": "account", "id": acc.ids[a], "unit": geo.ids[acc.unit[a]],
                     "from_rep": rep_ids[acc.rep[a]], "to_rep": rep_ids[acc_after[a]],
                     **{m: float(acc.values[m][a]) for m in MEASURES}})
    return pd.DataFrame(rows, columns=["kind", "id", "unit", "from_rep", "to_rep", *MEASURES])


def exceptions(redesign: Redesign, spec: TerritorySpec, plan: Plan) -> pd.DataFrame:
    """Locked accounts whose unit goes to another rep: they stay with their rep as exceptions."""
    acc = redesign.accounts
    unit_after = redesign.unit_reps(plan)
    rep_ids = [rep.id for rep in redesign.reps]
    rows = [
        {"account": acc.ids[a], "unit": spec.geography.ids[acc.unit[a]], "rep": rep_ids[acc.rep[a]],
         "unit_rep": rep_ids[unit_after[acc.unit[a]]], **{m: float(acc.values[m][a]) for m in MEASURES}}
        for a in np.flatnonzero(acc.locked & (unit_after[acc.unit] != acc.rep))
    ]
    return pd.DataFrame(rows, columns=["account", "unit", "rep", "unit_rep", *MEASURES])
