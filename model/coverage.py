"""Coverage plan data: customers, channels, rules and capacities; every customer's options (a channel
and a number of contacts a year) with what each returns, costs and uses of a rep's or the tele team's
time; and the evaluation and independent check of a plan."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.response import ResponseCurve
from model.spec import ModelError

CHANNELS = ("field", "tele", "online")
FIELD, TELE, ONLINE = range(3)


@dataclass(frozen=True)
class Channel:
    """Money per contact, response relative to a field visit, and minutes a contact takes."""

    cost_per_contact: float
    response: float = 1.0
    minutes_per_contact: float = 0.0


@dataclass(frozen=True)
class Rule:
    """What a segment allows: channels and contacts a year."""

    channels: tuple[str, ...] = CHANNELS
    min_contacts: float = 0.0
    max_contacts: float = float("inf")


@dataclass(frozen=True)
class CoverageInputs:
    """One row per customer; reps by index (-1: the customer's territory has no rep)."""

    ids: tuple[str, ...]
    segment: np.ndarray  # segment name per customer
    rep: np.ndarray  # rep index per customer, -1 for none
    potential: np.ndarray  # amplitude of the response curve (expected contribution at saturation)
    scale: np.ndarray  # per-customer saturating scale (from visit value), NaN: the segment's curve
    travel_hours: np.ndarray  # travel hours a field visit costs (estimate from the rep's home)
    keep: np.ndarray  # must keep its current channel
    current_channel: np.ndarray  # channel index or -1 where unknown
    current_contacts: np.ndarray  # NaN where unknown
    curves: dict[str, ResponseCurve]
    rules: dict[str, Rule]
    channels: dict[str, Channel]
    levels: tuple[float, ...]
    rep_ids: tuple[str, ...]
    rep_hours: np.ndarray  # hours a year each rep can spend on visits and travel
    tele_hours: float | None  # None: no limit

    @property
    def n(self) -> int:
        return len(self.ids)

    def contribution(self, idx: np.ndarray, channel: np.ndarray, contacts: np.ndarray) -> np.ndarray:
        """Expected contribution a year of `contacts` in `channel` for customers `idx`: what the customer
        gives with no contact (the curve at 0, whatever the channel) plus the channel's response times
        what contacts add to it."""
        base = np.zeros(len(idx))
        gain = np.zeros(len(idx))
        for seg in np.unique(self.segment[idx]):
            m = self.segment[idx] == seg
            at_zero = self.curves[seg].share(np.zeros(int(m.sum())), self.scale[idx[m]])
            share = self.curves[seg].share(contacts[m], self.scale[idx[m]])
            base[m] = self.potential[idx[m]] * at_zero
            gain[m] = self.potential[idx[m]] * (share - at_zero)
        response = np.array([self.channels[c].response for c in CHANNELS])
        return base + gain * response[channel]

    def cost(self, channel: np.ndarray, contacts: np.ndarray) -> np.ndarray:
        price = np.array([self.channels[c].cost_per_contact for c in CHANNELS])
        return contacts * price[channel]

    def hours(self, idx: np.ndarray, channel: np.ndarray, contacts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(hours used, of which travel) of the customer's rep (field) or the tele team (tele)."""
        per = np.array([self.channels[c].minutes_per_contact / 60.0 for c in CHANNELS])[channel]
        travel = np.where(channel == FIELD, contacts * self.travel_hours[idx], 0.0)
        return contacts * per + travel, travel


@dataclass(frozen=True)
class CoverageProblem:
    """Every customer's options, grouped by customer (options start[c]..start[c+1]-1). An option uses
    `hours` of one resource: rep r (0..R-1), the tele team (R) or none (-1)."""

    inputs: CoverageInputs
    start: np.ndarray
    channel: np.ndarray
    contacts: np.ndarray
    value: np.ndarray
    cost: np.ndarray
    resource: np.ndarray
    hours: np.ndarray
    capacity: np.ndarray  # per resource: reps, then tele (inf when unlimited)

    @property
    def profit(self) -> np.ndarray:
        return self.value - self.cost

    @property
    def customer(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.start) - 1), np.diff(self.start))

    def resource_names(self) -> list[str]:
        return list(self.inputs.rep_ids) + ["tele"]


@dataclass(frozen=True)
class CoveragePlan:
    """Channel index and contacts a year per customer."""

    channel: np.ndarray
    contacts: np.ndarray


def allowed_contacts(inputs: CoverageInputs, seg: str, channel: str) -> list[float]:
    """Levels a customer of segment `seg` may get in `channel` (0 always allowed when the minimum is 0)."""
    rule = inputs.rules.get(seg, Rule())
    if channel not in rule.channels:
        return []
    return [lv for lv in inputs.levels if rule.min_contacts <= lv <= rule.max_contacts]


def build_options(inputs: CoverageInputs) -> CoverageProblem:
    """Every allowed (channel, contacts) per customer, with zero contacts once per customer (in its
    least costly allowed channel), so that 'not contacted' is one option, not three."""
    n, levels = inputs.n, np.asarray(inputs.levels, float)
    k = len(CHANNELS) * len(levels)
    ch = np.repeat(np.arange(len(CHANNELS)), len(levels))
    lv = np.tile(levels, len(CHANNELS))
    ok = np.zeros((n, k), dtype=bool)
    for seg in np.unique(inputs.segment):
        m = inputs.segment == seg
        for c, name in enumerate(CHANNELS):
            allowed = set(allowed_contacts(inputs, seg, name))
            ok[np.ix_(m, ch == c)] = np.isin(levels, list(allowed))[None, :]
    ok[inputs.rep < 0, :] &= ~((ch == FIELD) & (lv > 0))[None, :]  # nobody to visit: no field contacts
    keep = inputs.keep & (inputs.current_channel >= 0)
    ok[keep, :] &= ch[None, :] == inputs.current_channel[keep, None]
    # zero contacts once: in the last allowed channel of (online, tele, field) order
    zero = (lv == 0)
    zero_ok = ok[:, zero]
    if zero_ok.shape[1]:
        pick = np.full(n, -1)
        for col in range(zero_ok.shape[1]):  # columns are field, tele, online: the last allowed wins
            pick = np.where(zero_ok[:, col], col, pick)
        zero_cols = np.flatnonzero(zero)
        ok[:, zero_cols] = False
        has = pick >= 0
        ok[np.flatnonzero(has), zero_cols[pick[has]]] = True
    _no_option(inputs, ok)
    rows, cols = np.nonzero(ok)
    channel, contacts = ch[cols], lv[cols]
    value = inputs.contribution(rows, channel, contacts)
    cost = inputs.cost(channel, contacts)
    hours, _ = inputs.hours(rows, channel, contacts)
    r = len(inputs.rep_ids)
    resource = np.where(channel == FIELD, inputs.rep[rows], np.where(channel == TELE, r, -1))
    resource = np.where(hours > 0, resource, -1)
    start = np.concatenate([[0], np.cumsum(ok.sum(axis=1))])
    capacity = np.append(inputs.rep_hours.astype(float), np.inf if inputs.tele_hours is None else inputs.tele_hours)
    return CoverageProblem(inputs, start, channel, contacts, value, cost, resource, hours, capacity)


def _no_option(inputs: CoverageInputs, ok: np.ndarray) -> None:
    none = np.flatnonzero(~ok.any(axis=1))
    if not len(none):
        return
    c = int(none[0])
    seg, rule = inputs.segment[c], inputs.rules.get(inputs.segment[c], Rule())
    why = f"segment '{seg}' allows {', '.join(rule.channels)} with {rule.min_contacts:g}-{rule.max_contacts:g} contacts"
    if inputs.rep[c] < 0 and "field" in rule.channels:
        why += ", and its territory has no rep for field visits"
    if inputs.keep[c] and inputs.current_channel[c] >= 0:
        why += f", and it must keep its current channel {CHANNELS[inputs.current_channel[c]]}"
    more = f" (and {len(none) - 1} more)" if len(none) > 1 else ""
    raise ModelError(f"customer {inputs.ids[c]}{more} has no allowed channel: {why}; "
                     "widen the segment's rules or its contact levels")


def plan_from_choice(problem: CoverageProblem, choice: np.ndarray) -> CoveragePlan:
    return CoveragePlan(problem.channel[choice].copy(), problem.contacts[choice].copy())


@dataclass(frozen=True)
class Evaluation:
    """Per customer value, cost, hours and travel; per resource hours used."""

    value: np.ndarray
    cost: np.ndarray
    hours: np.ndarray
    travel: np.ndarray
    rep_hours_used: np.ndarray
    rep_travel: np.ndarray
    tele_hours_used: float

    @property
    def profit(self) -> float:
        return float(self.value.sum() - self.cost.sum())


def evaluate(inputs: CoverageInputs, plan: CoveragePlan) -> Evaluation:
    """Recompute a plan's value, cost and time from the inputs (no solver output is trusted)."""
    idx = np.arange(inputs.n)
    value = inputs.contribution(idx, plan.channel, plan.contacts)
    cost = inputs.cost(plan.channel, plan.contacts)
    hours, travel = inputs.hours(idx, plan.channel, plan.contacts)
    field = (plan.channel == FIELD) & (inputs.rep >= 0)  # a rep's time: field contacts of their customers
    r = len(inputs.rep_ids)
    reps = np.where(field, inputs.rep, r)
    used = np.bincount(reps[field], weights=hours[field], minlength=r + 1)[:r]
    trav = np.bincount(reps[field], weights=travel[field], minlength=r + 1)[:r]
    tele = float(hours[plan.channel == TELE].sum())
    return Evaluation(value, cost, hours, travel, used, trav, tele)


def check_coverage(inputs: CoverageInputs, plan: CoveragePlan, tol: float = 1e-6) -> Evaluation:
    """Raise ModelError unless every customer has one allowed channel and level within its segment's
    rules, kept channels are kept, field customers have a rep, and no rep or the tele team is over time."""
    problems: list[str] = []
    for c in range(inputs.n):
        seg, ch, k = inputs.segment[c], int(plan.channel[c]), float(plan.contacts[c])
        rule = inputs.rules.get(seg, Rule())
        name = CHANNELS[ch]
        if k not in inputs.levels:
            problems.append(f"customer {inputs.ids[c]}: {k:g} contacts is not a level")
        elif k > 0 and name not in rule.channels:
            problems.append(f"customer {inputs.ids[c]}: channel {name} not allowed for segment {seg}")
        elif not rule.min_contacts <= k <= rule.max_contacts:
            problems.append(f"customer {inputs.ids[c]}: {k:g} contacts outside [{rule.min_contacts:g}, {rule.max_contacts:g}]")
        elif k > 0 and ch == FIELD and inputs.rep[c] < 0:
            problems.append(f"customer {inputs.ids[c]}: field visits but no rep")
        elif inputs.keep[c] and inputs.current_channel[c] >= 0 and k > 0 and ch != inputs.current_channel[c]:
            problems.append(f"customer {inputs.ids[c]}: must keep channel {CHANNELS[inputs.current_channel[c]]}")
        if len(problems) >= 5:
            break
    ev = evaluate(inputs, plan)
    for r, (used, cap) in enumerate(zip(ev.rep_hours_used, inputs.rep_hours)):
        if used > cap * (1 + tol) + tol:
            problems.append(f"rep {inputs.rep_ids[r]}: {used:,.1f} h planned, {cap:,.1f} h available")
    if inputs.tele_hours is not None and ev.tele_hours_used > inputs.tele_hours * (1 + tol) + tol:
        problems.append(f"tele team: {ev.tele_hours_used:,.1f} h planned, {inputs.tele_hours:,.1f} h available")
    if problems:
        raise ModelError("coverage plan check failed: " + "; ".join(problems[:5]))
    return ev
