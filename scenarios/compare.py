"""Compare runs side by side: every plan KPI, per-territory (per-rep) deltas between the first two runs,
and the units and accounts whose territory, rep or channel differs. Written to compare.csv,
compare_territories.csv, differences.csv and compare.html in a new folder."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from scenarios.errors import ScenarioError
from scenarios.loading import load_scenario
from scenarios.new_folder import NewFolder
from scenarios.report import STYLE, html_table
from scenarios.schema import COMPARE_FOLDER
from scenarios.run_index import run_folders


@dataclass(frozen=True)
class Run:
    label: str
    folder: Path
    manifest: dict


def resolve(arg: str) -> Run:
    """A run folder, or a scenario's folder or file (its newest solved run)."""
    path = Path(arg)
    if path.is_dir():
        folder = path
        if not (path / "manifest.json").is_file():  # a scenario's folder (runs/<scenario>/): its newest run
            found = solved(sorted(p.parent for p in path.glob("*/manifest.json") if not p.parent.name.startswith(".")))
            if not found:
                raise ScenarioError(f"{arg}: no solved run here (no manifest.json in it or in a folder under it); "
                                    "give a run folder runs/<scenario>/<run-id>, a scenario's folder or a scenario file")
            folder = found[-1]
    elif path.suffix in (".yaml", ".yml") and path.is_file():
        sc = load_scenario(path)
        root = Path(sc.output.dir) / (sc.name or "scenario")
        found = solved([f for f in run_folders(Path(sc.output.dir)) if f.parent == root])
        if not found:
            raise ScenarioError(f"{arg}: no solved runs of scenario '{sc.name}' under {sc.output.dir}/; run it first")
        folder = found[-1]
    else:
        raise ScenarioError(f"{arg}: no such run folder or scenario file")
    manifest = _manifest(folder)
    if manifest is None:
        raise ScenarioError(f"{folder}/manifest.json: damaged (not JSON); name another run, or remove this folder")
    if manifest.get("plan") is None:
        raise ScenarioError(f"{folder}: this run has no plan ({manifest.get('status')}); nothing to compare")
    return Run(f"{manifest.get('scenario')}/{folder.name}", folder, manifest)


def solved(folders: list[Path]) -> list[Path]:
    """The run folders that hold a run solved to its end: a plan brought by `tplan evaluate`, or a run stopped
    by Ctrl-C, is compared by naming its folder."""
    return [f for f in folders
            if (_manifest(f) or {}).get("status", "damaged") not in ("evaluated", "interrupted", "damaged")]


def _manifest(folder: Path) -> dict | None:
    """The run's manifest, or None where it is not JSON (a damaged folder)."""
    try:
        found = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return found if isinstance(found, dict) else None


def kpis(run: Run) -> dict:
    """Plan-level KPIs of a run, flat."""
    m, plan = run.manifest, run.manifest["plan"]
    out = {"scenario": m.get("scenario"), "status": m.get("status"), "territories": plan.get("territories"),
           "units": plan.get("units"), "objective": m.get("objective"), "gap_pct": _pct(m.get("gap")),
           "compactness": plan.get("compactness"), "all_contiguous": plan.get("all_contiguous"),
           "rules_broken": len(m.get("violations") or [])}  # (a solved plan passed the checker: 0)
    for k, v in plan.items():
        if k.endswith("_max_abs_deviation_pct"):
            out[k] = v
    red = plan.get("redesign") or {}
    for k in ("accounts_moved_pct", "potential_moved_pct", "relationship_moved_pct", "units_moved", "exceptions"):
        if k in red:
            out[k] = red[k]
    cov = m.get("coverage")
    if cov:
        reps = max(1, len(pd.read_csv(run.folder / "rep_utilisation.csv").query("hours_available > 0")))
        out.update(expected_contribution=cov["expected_contribution"], cost=cov["cost"], margin=cov["margin"],
                   contribution_per_rep=cov["expected_contribution"] / reps,
                   field_utilisation_pct=100 * cov["field_hours_used"] / max(cov["field_hours_available"], 1e-9))
        channels = pd.read_csv(run.folder / "channels.csv").set_index("channel")
        for c in ("field", "tele", "online"):
            out[f"{c}_contacts"] = float(channels.loc[c, "contacts"]) if c in channels.index else 0.0
    return out


def _pct(x):
    return None if x is None else 100 * x


def _units(run: Run) -> pd.DataFrame:
    return pd.read_csv(run.folder / "assignment.csv", dtype=str).set_index("unit")


def check_same_geography(runs: list[Run]) -> None:
    base = set(_units(runs[0]).index)
    for r in runs[1:]:
        other = set(_units(r).index)
        if other != base:
            only_a, only_b = sorted(base - other), sorted(other - base)
            raise ScenarioError(
                f"{runs[0].label} and {r.label} cover different units ({len(base)} vs {len(other)}"
                + (f"; e.g. {only_a[0]} only in the first" if only_a else "")
                + (f"; e.g. {only_b[0]} only in the second" if only_b else "")
                + "); compare runs of the same geography")


def differences(a: Run, b: Run) -> pd.DataFrame:
    """Units whose territory (rep) differs, and accounts whose rep, channel or contacts differ."""
    ua, ub = _units(a), _units(b)
    rows = [{"kind": "unit", "id": u, "first": ua.loc[u, "territory"], "second": ub.loc[u, "territory"]}
            for u in ua.index if ua.loc[u, "territory"] != ub.loc[u, "territory"]]
    acc_a, acc_b = a.folder / "exports" / "accounts.csv", b.folder / "exports" / "accounts.csv"
    if acc_a.is_file() and acc_b.is_file():
        xa = pd.read_csv(acc_a, dtype=str).set_index("account_id").fillna("")
        xb = pd.read_csv(acc_b, dtype=str).set_index("account_id").fillna("")
        cols = [c for c in xa.columns if c in xb.columns]
        both = xa.index.intersection(xb.index)
        for acc in both:
            ra, rb = xa.loc[acc, cols], xb.loc[acc, cols]
            if not ra.equals(rb):
                rows.append({"kind": "account", "id": acc, "first": " ".join(ra), "second": " ".join(rb)})
    return pd.DataFrame(rows, columns=["kind", "id", "first", "second"])


def territory_deltas(a: Run, b: Run) -> pd.DataFrame:
    """Per territory (rep, when territories are named after reps): KPIs of both runs and their difference."""
    ka = pd.read_csv(a.folder / "kpis.csv", dtype={"territory": str, "centre": str}).set_index("territory")
    kb = pd.read_csv(b.folder / "kpis.csv", dtype={"territory": str, "centre": str}).set_index("territory")
    numeric = [c for c in ka.columns if c in kb.columns and pd.api.types.is_numeric_dtype(ka[c])
               and not pd.api.types.is_bool_dtype(ka[c]) and not c.endswith(("_target", "_within_bounds"))
               and c != "contiguous"]
    out = pd.DataFrame(index=ka.index.union(kb.index))
    for c in numeric:
        counts = pd.api.types.is_integer_dtype(ka[c]) and pd.api.types.is_integer_dtype(kb[c])
        kind = "Int64" if counts else "float64"  # counts stay whole numbers where a territory is in one run only
        first, second = ka[c].reindex(out.index).astype(kind), kb[c].reindex(out.index).astype(kind)
        out[f"{c}_first"], out[f"{c}_second"] = first, second
        out[f"{c}_delta"] = second.fillna(0) - first.fillna(0)
    return out.reset_index().rename(columns={"index": "territory"})


def compare(args: list[str], out_root: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, Path]:
    """Compare the runs; write the tables and the HTML to a new folder under out_root/compare/."""
    if len(args) < 2:
        raise ScenarioError("compare needs at least two runs or scenario files")
    runs = [resolve(a) for a in args]
    folders = [r.folder.resolve() for r in runs]
    twice = next((r for r, f in zip(runs, folders) if folders.count(f) > 1), None)
    if twice is not None:
        raise ScenarioError(f"{twice.folder} is given twice (a scenario stands for its newest run); compare "
                            "different runs")
    check_same_geography(runs)
    table = pd.DataFrame({r.label: kpis(r) for r in runs})
    deltas = territory_deltas(runs[0], runs[1])
    diff = differences(runs[0], runs[1])
    if len(diff) and (diff["kind"] == "unit").any() and same_territory_rules(runs[0], runs[1]):
        table.attrs["note"] = ("the two runs have the same territory rules but different territory plans: their searches "
                               "ended on different plans (time limits), so part of what differs comes from the search, "
                               "not from the option; give both runs more time to compare the option alone")
    folder = NewFolder(out_root / COMPARE_FOLDER, datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ"))
    with folder as tmp:
        table.to_csv(tmp / "compare.csv", index_label="kpi")
        deltas.to_csv(tmp / "compare_territories.csv", index=False)
        diff.to_csv(tmp / "differences.csv", index=False)
        (tmp / "compare.html").write_text(_html(runs, table, deltas, diff), encoding="utf-8")
    return table, deltas, diff, folder.path


# Keys that do not change the territory problem: a coverage or tele option over the same territories
NOT_TERRITORY_KEYS = ("name", "description", "coverage", "solver", "output", "sweep")


def same_territory_rules(a: Run, b: Run) -> bool:
    """True when the two runs' resolved scenarios pose the same territory problem (only coverage, solver or
    output settings differ), so a difference in their territories is the search's, not the option's."""
    rules = [{k: v for k, v in r.manifest.get("resolved_scenario", {}).items() if k not in NOT_TERRITORY_KEYS}
             for r in (a, b)]
    inputs = [{k: v.get("sha256") for k, v in r.manifest.get("inputs", {}).items() if not k.startswith("coverage")}
              for r in (a, b)]
    return rules[0] == rules[1] and inputs[0] == inputs[1]


def _html(runs: list[Run], table: pd.DataFrame, deltas: pd.DataFrame, diff: pd.DataFrame) -> str:
    links = "".join(f"<li><a href='{(r.folder / 'report.html').resolve().as_uri()}'>{r.label}</a></li>" for r in runs)
    units = int((diff["kind"] == "unit").sum()) if len(diff) else 0
    accounts = int((diff["kind"] == "account").sum()) if len(diff) else 0
    body = (f"<h1>Comparison of {len(runs)} runs</h1><ul>{links}</ul><h2>Plan KPIs</h2>"
            f"{html_table(table.reset_index().rename(columns={'index': 'kpi'}))}"
            f"<h2>Per territory: second run minus first</h2>{html_table(deltas)}"
            f"<h2>What differs between the first two: {units} units, {accounts} accounts</h2>"
            + (f"<p><b>Note:</b> {table.attrs['note']}</p>" if table.attrs.get("note") else "") + html_table(diff))
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>tplan comparison</title>"
            f"<style>{STYLE}</style></head><body>{body}</body></html>")
