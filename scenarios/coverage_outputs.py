"""Write a coverage plan: per customer (coverage.csv), per rep (rep_utilisation.csv), per channel
(channels.csv), the potential x visit-value matrix (matrix.csv), the shift from today's plan, and the
value of an extra hour of field and tele capacity (capacity_value.png)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from model.coverage import CHANNELS, FIELD, TELE, CoverageInputs, CoveragePlan, Evaluation, evaluate  # noqa: E402
from model.coverage_search import CoverageOutcome  # noqa: E402
from scenarios.coverage_inputs import CoverageData  # noqa: E402
from scenarios.json_files import strict_json  # noqa: E402

NOT_CONTACTED = "not contacted"


def current_plan(inputs: CoverageInputs) -> CoveragePlan | None:
    """Today's plan when it is known for every customer; a customer with no channel and no (or zero)
    contacts today is not contacted today."""
    channel, contacts = inputs.current_channel.copy(), inputs.current_contacts.copy()
    idle = (channel < 0) & ~(np.nan_to_num(contacts, nan=0.0) > 0)
    channel[idle], contacts[idle] = CHANNELS.index("online"), 0.0
    if (channel < 0).any() or not np.isfinite(contacts).all():
        return None
    return CoveragePlan(channel, contacts)


def actions(inputs: CoverageInputs, plan: CoveragePlan, today: CoveragePlan | None) -> np.ndarray:
    """What the plan does for each customer compared with today."""
    if today is None:
        return np.full(inputs.n, "plan", dtype=object)
    out = np.full(inputs.n, "keep", dtype=object)
    out[plan.contacts > today.contacts] = "increase"
    out[plan.contacts < today.contacts] = "reduce"
    moved = (today.channel != plan.channel) & (plan.contacts > 0) & (today.contacts > 0)
    out[moved] = "move to " + np.array(CHANNELS, dtype=object)[plan.channel[moved]]
    out[(today.contacts == 0) & (plan.contacts > 0)] = "reactivate"
    out[(today.contacts > 0) & (plan.contacts == 0)] = "stop"
    return out


def served_by(plan: CoveragePlan) -> list[str]:
    """Each customer's channel, or "not contacted" when the plan gives it no contacts."""
    return [CHANNELS[c] if k > 0 else NOT_CONTACTED for c, k in zip(plan.channel, plan.contacts)]


def write_coverage(folder: Path, inputs: CoverageInputs, data: CoverageData, outcome: CoverageOutcome,
                   rep_status: list[str], today_inputs: CoverageInputs | None = None) -> dict:
    """`today_inputs`: the inputs as things are today (today's reps and their travel), which value today's
    plan; the plan's own inputs when not given."""
    plan = outcome.plan
    ev = evaluate(inputs, plan)
    today = current_plan(inputs)
    rep_name = np.array(list(inputs.rep_ids) + [""], dtype=object)
    table = pd.DataFrame({
        "customer": inputs.ids, "segment": inputs.segment, "value_index": np.round(data.index, 4),
        "rep": rep_name[inputs.rep], "channel": served_by(plan), "contacts": plan.contacts,
        "expected_contribution": ev.value.round(2), "cost": ev.cost.round(2), "margin": (ev.value - ev.cost).round(2),
        "hours": ev.hours.round(3), "travel_hours": ev.travel.round(3),
    })
    now = None
    if today is not None:
        now = evaluate(today_inputs if today_inputs is not None else inputs, today)
        table["current_channel"] = served_by(today)
        table["current_contacts"] = today.contacts
        table["current_contribution"] = now.value.round(2)
        table["current_cost"] = now.cost.round(2)
    table["action"] = actions(inputs, plan, today)
    table.to_csv(folder / "coverage.csv", index=False)

    prices = outcome.prices
    visited = (plan.channel == FIELD) & (inputs.rep >= 0)  # (a vacant territory's customers have no rep)
    reps = pd.DataFrame({
        "rep": inputs.rep_ids, "status": rep_status, "hours_available": inputs.rep_hours,
        "hours_used": ev.rep_hours_used.round(1), "travel_hours": ev.rep_travel.round(1),
        "utilisation_pct": np.round(100 * ev.rep_hours_used / np.maximum(inputs.rep_hours, 1e-9), 1),
        "travel_share_pct": np.round(100 * ev.rep_travel / np.maximum(ev.rep_hours_used, 1e-9), 1),
        "field_customers": np.bincount(inputs.rep[visited & (plan.contacts > 0)], minlength=len(inputs.rep_ids)),
        "visits": np.bincount(inputs.rep[visited], weights=plan.contacts[visited], minlength=len(inputs.rep_ids)),
        "value_per_extra_hour": prices[: len(inputs.rep_ids)].round(2),
    })
    reps.to_csv(folder / "rep_utilisation.csv", index=False)

    channels = _channel_summary(plan, ev, today, now)
    channels.to_csv(folder / "channels.csv", index=False)
    matrix = _matrix(inputs, data, table)
    matrix.to_csv(folder / "matrix.csv", index=False)
    shift = _shift(plan, today)
    tele_price = float(prices[len(inputs.rep_ids)]) if len(prices) > len(inputs.rep_ids) else 0.0
    _plot_capacity_value(reps, tele_price, folder / "capacity_value.png")

    r = outcome.result
    summary = {
        "status": r.termination.value, "expected_contribution": float(ev.value.sum()), "cost": float(ev.cost.sum()),
        "margin": ev.profit, "bound": r.bound, "gap": r.gap, "seconds": round(r.seconds, 2),
        "customers": inputs.n, "open_customers_in_mip": outcome.open_customers,
        "options": outcome.options_total, "options_after_pruning": outcome.options_kept,
        "field_hours_used": float(ev.rep_hours_used.sum()), "field_hours_available": float(inputs.rep_hours.sum()),
        "tele_hours_used": ev.tele_hours_used, "tele_hours_available": inputs.tele_hours,
        "tele_value_per_extra_hour": tele_price, "shift": shift,
        "current_margin": None if now is None else now.profit,
        "current_field_hours_used": None if now is None else float(now.rep_hours_used.sum()),
        "current_tele_hours_used": None if now is None else now.tele_hours_used,
        "note": data.note,
    }
    (folder / "coverage.json").write_text(strict_json(summary, indent=2))
    return summary


def _channel_summary(plan, ev, today, now) -> pd.DataFrame:
    """Per channel and `not contacted`, planned and today; the rows add up to the plan's and today's totals
    (a not contacted customer's contribution is the curve at 0 contacts, not always 0)."""
    rows = []
    for name in list(CHANNELS) + [NOT_CONTACTED]:
        row = {"channel": name, **_channel_totals(plan, ev, name)}
        if today is not None:
            row.update({f"current_{k}": v for k, v in _channel_totals(today, now, name).items()})
        rows.append(row)
    return pd.DataFrame(rows)


def _channel_totals(plan: CoveragePlan, ev: Evaluation, name: str) -> dict:
    """Customers, contacts, contribution, cost and margin of the customers `served_by` channel `name`."""
    m = np.array(served_by(plan)) == name
    contribution, cost = round(float(ev.value[m].sum()), 2), round(float(ev.cost[m].sum()), 2)
    return {"customers": int(m.sum()), "contacts": float(plan.contacts[m].sum()), "contribution": contribution,
            "cost": cost, "margin": round(contribution - cost, 2)}


def _matrix(inputs: CoverageInputs, data: CoverageData, table: pd.DataFrame) -> pd.DataFrame:
    """Customers by potential (tertiles) x visit value (above/below the median of known ones), with the
    plan's most common action in each cell."""
    # tertiles by rank, so ties (many accounts with the same potential) cannot collapse the bins
    pot = pd.qcut(pd.Series(inputs.potential).rank(method="first"), 3, labels=["low", "medium", "high"]) \
        if inputs.n >= 3 else pd.Categorical(["medium"] * inputs.n)
    known = np.isfinite(data.visit_value)
    median = np.median(data.visit_value[known]) if known.any() else np.nan
    vv = np.where(~known, "unknown", np.where(data.visit_value >= median, "high", "low"))
    frame = pd.DataFrame({"potential": np.asarray(pot, dtype=object), "visit_value": vv, "action": table["action"],
                          "contacts": table["contacts"], "channel": table["channel"]})
    rows = []
    for (p, v), g in frame.groupby(["potential", "visit_value"], sort=True):
        rows.append({"potential": p, "visit_value": v, "customers": len(g),
                     "recommended_action": g["action"].value_counts().index[0],
                     "field_share_pct": round(100 * float((g["channel"] == "field").mean()), 1),
                     "mean_contacts": round(float(g["contacts"].mean()), 2)})
    return pd.DataFrame(rows)


def _shift(plan: CoveragePlan, today: CoveragePlan | None) -> dict | None:
    """Contacts moving between channels (today's contacts of customers whose channel changes)."""
    if today is None:
        return None
    out = {}
    for a, name_a in enumerate(CHANNELS):
        for b, name_b in enumerate(CHANNELS):
            if a != b:
                m = (today.channel == a) & (plan.channel == b) & (today.contacts > 0)
                out[f"{name_a}_to_{name_b}"] = {"customers": int(m.sum()), "contacts_today": float(today.contacts[m].sum())}
    field_today = float(today.contacts[today.channel == FIELD].sum())
    moved = out["field_to_tele"]["contacts_today"]
    out["field_visits_today"] = field_today
    out["field_visits_to_tele_pct"] = round(100 * moved / field_today, 1) if field_today else 0.0
    out["field_visits_planned"] = float(plan.contacts[plan.channel == FIELD].sum())
    out["tele_contacts_planned"] = float(plan.contacts[plan.channel == TELE].sum())
    return out


def _plot_capacity_value(reps: pd.DataFrame, tele_price: float, path: Path) -> None:
    order = reps.sort_values("value_per_extra_hour", ascending=False)
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(order) + 2), 4.2), dpi=110)
    ax.bar(order["rep"], order["value_per_extra_hour"], color="#4e79a7", label="one more field hour of this rep")
    ax.axhline(tele_price, color="#e15759", linestyle="--", label=f"one more tele hour ({tele_price:,.0f})")
    ax.set_ylabel("margin gained per extra hour")
    ax.set_title("Where capacity pays: value of an extra hour (dual prices)")
    ax.tick_params(axis="x", rotation=60, labelsize=8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
