"""report.html: one self-contained page per run that a manager opens from file:// with no network:
the territory map (hover a unit for its details and its territory's KPIs; wheel to zoom, drag to pan),
balance bars against the target band, the KPI table, and the change map, rep KPIs and coverage
summaries where the run has them."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geodata.svg_map import svg_map
from model.plan import Plan, group_labels
from scenarios.display import amount
from scenarios.outputs import map_parts, territory_names, unit_names
from scenarios.prepare import Prepared

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1400px}
.broken{border:2px solid #c9302c;background:#fdf2f2;padding:8px 14px;margin:10px 0}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.sub{color:#666;margin-bottom:12px} .row{display:flex;gap:18px;align-items:flex-start;flex-wrap:wrap}
svg.map{width:900px;max-width:100%;max-height:85vh;height:auto;border:1px solid #ddd;background:#fafafa;cursor:grab}
path.territory.hot{stroke:#000;stroke-width:4} path.unit:hover{opacity:.75}
.info{white-space:pre-wrap;font-size:13px;min-width:260px;max-width:360px;background:#f6f6f6;padding:10px;border-radius:6px}
table{border-collapse:collapse;font-size:12px;margin:6px 0;display:block;overflow-x:auto;max-width:100%} td,th{border:1px solid #ddd;padding:3px 7px;text-align:right}
th{background:#f0f0f0} td:first-child,th:first-child{text-align:left}
.legend span{display:inline-block;margin:2px 10px 2px 0;font-size:12px} .sw{width:12px;height:12px;display:inline-block;vertical-align:middle;margin-right:4px;border:1px solid #999}
.kv td{text-align:left}
"""

SCRIPT = """
window.addEventListener('error', function(e){ document.body.dataset.errors = (document.body.dataset.errors || '') + e.message + ';'; });
(function(){
  const kpis = JSON.parse(document.getElementById('territory-kpis').textContent);
  document.querySelectorAll('svg.map').forEach(function(svg){
    const panel = document.getElementById(svg.id + '-info');
    svg.addEventListener('mouseover', function(e){
      const p = e.target.closest('path.unit'); if (!p) return;
      const t = p.dataset.territory;
      if (panel) panel.textContent = p.querySelector('title').textContent + '\\n\\n' + (kpis[t] || '');
      svg.querySelectorAll('path.territory').forEach(function(o){ o.classList.toggle('hot', o.dataset.territory === t); });
    });
    const vb = svg.viewBox.baseVal; let drag = null;
    svg.addEventListener('wheel', function(e){
      e.preventDefault();
      const f = e.deltaY > 0 ? 1.15 : 1/1.15, r = svg.getBoundingClientRect();
      const mx = vb.x + (e.clientX - r.left) / r.width * vb.width, my = vb.y + (e.clientY - r.top) / r.height * vb.height;
      vb.x = mx - (mx - vb.x) * f; vb.y = my - (my - vb.y) * f; vb.width *= f; vb.height *= f;
    }, {passive: false});
    svg.addEventListener('mousedown', function(e){ drag = [e.clientX, e.clientY]; });
    window.addEventListener('mouseup', function(){ drag = null; });
    svg.addEventListener('mousemove', function(e){
      if (!drag) return; const r = svg.getBoundingClientRect();
      vb.x -= (e.clientX - drag[0]) / r.width * vb.width; vb.y -= (e.clientY - drag[1]) / r.height * vb.height;
      drag = [e.clientX, e.clientY];
    });
  });
  if (location.hash === '#selftest') {  // the browser test: hover the first unit, report what the panel shows
    const first = document.querySelector('svg.map path.unit');
    first.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));
    document.body.dataset.selftest = document.getElementById(first.closest('svg').id + '-info').textContent;
  }
  document.body.dataset.ready = '1';
})();
"""


ID_COLUMNS = ("unit", "centre", "home_unit", "rep", "customer", "account")  # ids: 13121, not 13,121


def _fmt(v, column: str = "") -> str:
    if v is None:
        return "—"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "NO"
    if column in ID_COLUMNS or column.endswith("_id"):
        if isinstance(v, (float, np.floating)):
            return "" if not np.isfinite(v) else escape(str(int(v)) if float(v).is_integer() else str(v))
        return escape(str(v))
    if isinstance(v, (int, np.integer)):
        return f"{v:,}"
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return ""
        if float(v).is_integer():  # a count read back as a float (602 customers, not 602.00)
            return f"{int(v):,}"
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:,.2f}"
    return escape(str(v))


def html_table(frame: pd.DataFrame, limit: int = 400) -> str:
    head = "".join(f"<th>{escape(str(c))}</th>" for c in frame.columns)
    columns = [str(c) for c in frame.columns]
    rows = "".join("<tr>" + "".join(f"<td>{_fmt(v, c)}</td>" for v, c in zip(row, columns)) + "</tr>"
                   for row in frame.head(limit).itertuples(index=False))
    more = f"<p class='sub'>first {limit} of {len(frame)} rows; all in the CSV</p>" if len(frame) > limit else ""
    return f"<table><tr>{head}</tr>{rows}</table>{more}"


def balance_bars(table: pd.DataFrame, attribute: str, lower: float, upper: float, colours: dict[str, str]) -> str:
    """Per territory a bar from the mean to its total, in percent of the mean, over the allowed band
    (shaded): a ±3% band is a sliver on bars drawn from zero, and it is the deviations a manager reads."""
    names = list(table["territory"])
    values = table[attribute].to_numpy(dtype=float)
    mean = float(values.mean()) or 1.0
    pct = 100 * (values / mean - 1)
    low, high = 100 * (lower / mean - 1), 100 * (upper / mean - 1)
    reach = max(float(np.abs(pct).max(initial=0.0)), abs(low), abs(high), 0.5) * 1.15
    w, row, left = 560.0, 18.0, 150.0
    h = row * len(names) + 44
    x = lambda p: left + (p + reach) / (2 * reach) * w  # noqa: E731
    parts = [f'<rect x="{x(low):.1f}" y="0" width="{x(high) - x(low):.1f}" height="{h - 38:.0f}" fill="#dff0d8"/>',
             f'<line x1="{x(0):.1f}" x2="{x(0):.1f}" y1="0" y2="{h - 38:.0f}" stroke="#3c763d" stroke-dasharray="3,2"/>']
    ticks = [(low, f"{low:+.1f}%"), (0.0, "mean"), (high, f"{high:+.1f}%")]
    if x(high) - x(low) < 90:  # a narrow band beside a far-off territory: one label, not three on top of each other
        ticks = [(0.0, f"band {low:+.1f}% to {high:+.1f}%")]
    for p, tick in ticks:
        parts.append(f'<text x="{x(p):.1f}" y="{h - 26:.0f}" text-anchor="middle" font-size="10" fill="#3c763d">'
                     f'{tick}</text>')
    for i, (n, v, p) in enumerate(zip(names, values, pct)):
        y = i * row + 3
        a, b = sorted((x(0), x(p)))
        parts.append(f'<rect class="bar" x="{a:.1f}" y="{y}" width="{max(b - a, 1.0):.1f}" height="{row - 5}" '
                     f'fill="{colours.get(n, "#888")}"><title>{escape(n)}: {amount(v)} ({p:+.1f}% of mean)</title></rect>')
        parts.append(f'<text x="{left - 6}" y="{y + row - 8}" text-anchor="end" font-size="11">{escape(n[:22])}</text>')
    parts.append(f'<text x="{left}" y="{h - 8}" font-size="11" fill="#3c763d">band {amount(lower)} – {amount(upper)} '
                 f'(shaded), dashed: mean {amount(mean)}; bars: each territory against the mean</text>')
    return f'<svg class="bars" width="{left + w + 20:.0f}" height="{h:.0f}" xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>'


def write_report(prepared: Prepared, plan: Plan, folder: Path, manifest: dict) -> Path:
    """Write report.html from the run's own files (what the report shows is what the CSVs say)."""
    geo, spec, frame = prepared.geography, prepared.spec, prepared.frame
    names = territory_names(prepared, plan)
    territory = [names[c] for c in plan.centre_of]
    table = pd.read_csv(folder / "kpis.csv", dtype={"territory": str, "centre": str})
    units = gpd.GeoDataFrame({"unit": list(geo.ids), "territory": territory}, geometry=frame.geometry.values,
                             crs=frame.crs)
    _, colours, legend, title = map_parts(prepared, plan, names, units, table)
    centres = sorted(plan.centres)  # positions of the centre units: starred on every map
    labels = unit_names(prepared)
    attrs = list(geo.attributes)
    unit_titles = []
    groups = group_labels(spec, plan)  # nesting levels: region, district, ... of every unit
    for i, u in enumerate(geo.ids):
        lines = [f"unit {u}" + (f" ({labels[i]})" if labels else "")]
        lines += [f"{level} {codes[i]}" for level, codes in groups.items()] + [f"territory {territory[i]}"]
        lines += [f"{a}: {amount(geo.attributes[a][i])}" for a in attrs]
        unit_titles.append("\n".join(lines))
    kpi_text = {}
    for _, r in table.iterrows():
        kpi_text[r["territory"]] = "\n".join(f"{k}: {_fmt(v, k)}" for k, v in r.items())
    heading = "Territories" + (f" (thicker lines: {' and '.join(groups)} boundaries)" if groups else "")
    sections = [_summary(manifest, title), _map_section("map", units, territory, colours, unit_titles, kpi_text, legend,
                                                        heading, levels=groups, centres=centres)]
    bars = "".join(f"<h3>{escape(rule.attribute)}</h3>" + balance_bars(table, rule.attribute, float(np.min(rule.lower)),
                                                                    float(np.max(rule.upper)), colours)
                   for rule in spec.balance)
    if bars:
        sections.append(f"<h2>Balance against the target band</h2>{bars}")
    sections.append(f"<h2>Territory KPIs</h2>{html_table(table)}")
    if (folder / "levels.csv").is_file():  # nesting: each region, district, ... against its band
        levels = pd.read_csv(folder / "levels.csv", dtype={"group": str})
        sections.append(f"<h2>{' and '.join(n.capitalize() + 's' for n, _ in spec.levels)}</h2>{html_table(levels)}")
    if (folder / "moves.csv").is_file():
        moves = pd.read_csv(folder / "moves.csv", dtype=str)
        moved = set(moves.loc[moves["kind"] == "unit", "unit"])
        marked = [u in moved for u in geo.ids]
        to_from = {r.unit: f"{r.from_rep} → {r.to_rep}" for r in moves[moves["kind"] == "unit"].itertuples()}
        change_titles = [t + (f"\nchanges rep: {to_from[u]}" if u in to_from else "\nstays")
                         for t, u in zip(unit_titles, geo.ids)]
        sections.append(_map_section("changes", units, territory, colours, change_titles, kpi_text, legend,
                                     f"What changes: {len(moved)} of {geo.n} units change rep (hatched)", marked,
                                     centres=centres))
        red = manifest.get("plan", {}).get("redesign", {})
        keys = [k for k in red if k.endswith("_pct") or k in ("units_moved", "exceptions")]
        sections.append("<h2>Disruption</h2>" + html_table(pd.DataFrame({"measure": keys, "value": [red[k] for k in keys]})))
        sections.append("<h2>Reps before and after</h2>" + html_table(pd.read_csv(folder / "rep_kpis.csv")))
    if (folder / "coverage.json").is_file():
        sections.append(_coverage_section(folder))
        sections.append(_channel_map(prepared, folder, units, territory, colours, unit_titles, kpi_text, centres))
    body = "\n".join(sections)
    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{body}"
            f"<script type='application/json' id='territory-kpis'>{_script_json(kpi_text)}</script>"
            f"<script>{SCRIPT}</script></body></html>")
    path = folder / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def _script_json(data) -> str:
    """JSON to sit inside a <script> element: '</' written '<\\/' (the same string to a JSON reader), so that a
    name holding '</script>' cannot end the element."""
    return json.dumps(data).replace("</", "<\\/")


def _summary(manifest: dict, title: str) -> str:
    res = manifest.get("resolved_scenario", {})
    gap = manifest.get("gap")
    rows = {"status": manifest.get("status"), "objective": manifest.get("objective"),
            "lower bound": manifest.get("lower_bound"), "gap": "unknown" if gap is None else f"{100 * gap:.3f}%",
            "bound method": manifest.get("bound_method"), "units": manifest.get("geography", {}).get("units"),
            "created (UTC)": manifest.get("created_utc")}
    banner = ""
    if manifest.get("status") == "evaluated":  # a plan the user brought (tplan evaluate): the rules it breaks
        broken = manifest.get("violations") or []
        rows = {"status": "evaluated (a plan brought by the user, not solved)", "plan file": manifest.get("evaluated_plan"),
                "objective": manifest.get("objective"),
                "rules broken": f"{len(broken)} (listed above)" if broken else "none: the plan keeps every rule",
                "units": manifest.get("geography", {}).get("units"), "created (UTC)": manifest.get("created_utc")}
        if broken:
            items = "".join(f"<li>{escape(v)}</li>" for v in broken)
            banner = (f"<div class='broken'><b>This plan breaks {len(broken)} rule{'s' if len(broken) > 1 else ''} "
                      f"of its scenario:</b><ul>{items}</ul></div>")
    cells = {k: _fmt(v) if v is not None else "—" for k, v in rows.items()}
    if rows.get("bound method"):  # for a manager: what the bound means; the method folded away
        cells["bound method"] = ("no plan can score below the lower bound, so the gap is the most this plan "
                                 f"could still improve<details><summary>how the bound was proven</summary>"
                                 f"{escape(str(rows['bound method']))}</details>")
    kv = "".join(f"<tr><td>{escape(k)}</td><td>{v}</td></tr>" for k, v in cells.items())
    return (f"<h1>{escape(title)}</h1><div class='sub'>{escape(res.get('description') or '')}</div>{banner}"
            f"<table class='kv'>{kv}</table>")


CHANNEL_COLOURS = {"field": "#4e79a7", "tele": "#f28e2b", "online": "#59a14f", "not contacted": "#d9d9d9"}


def _channel_map(prepared: Prepared, folder: Path, units, territory, colours, unit_titles, kpi_text, centres) -> str:
    """Units coloured by the channel that serves most of their customers in the plan."""
    plan = pd.read_csv(folder / "coverage.csv", dtype={"customer": str})
    unit_of = dict(zip(prepared.redesign.accounts.ids, prepared.redesign.accounts.unit))
    plan["unit"] = plan["customer"].map(unit_of)
    plan["served"] = plan["channel"].where(plan["contacts"] > 0, "not contacted")
    counts = plan.groupby(["unit", "served"]).size().unstack(fill_value=0)
    fills, titles = [], []
    for i, title in enumerate(unit_titles):
        row = counts.loc[i] if i in counts.index else None
        if row is None or row.sum() == 0:
            fills.append("#ffffff")
            titles.append(title + "\nno customers")
            continue
        fills.append(CHANNEL_COLOURS[row.idxmax()])
        titles.append(title + "\ncustomers: " + ", ".join(f"{c} {int(n)}" for c, n in row.items() if n))
    legend = {c: f"mostly {c}" for c in CHANNEL_COLOURS}
    return _map_section("channels", units, territory, CHANNEL_COLOURS, titles, kpi_text, legend,
                        "Customers by channel: each unit coloured by the channel serving most of its customers",
                        fills=fills, centres=centres)


def _map_section(map_id, units, territory, colours, titles, kpi_text, legend, heading, marked=None, fills=None,
                 levels=None, centres=None) -> str:
    svg = svg_map(units, territory, colours, titles, kpi_text, map_id, marked, fills=fills, levels=levels,
                  centres=centres)
    keys = "".join(f"<span><i class='sw' style='background:{colours[n]}'></i>{escape(legend[n])}</span>"
                   for n in sorted(legend))
    return (f"<h2>{escape(heading)}</h2><div class='sub'>Hover a unit for its details and its territory's KPIs; "
            f"wheel to zoom, drag to pan; stars mark the centres.</div><div class='row'>{svg}<div class='info' id='{map_id}-info'>"
            f"Hover a unit.</div></div><div class='legend'>{keys}</div>")


def _coverage_section(folder: Path) -> str:
    cov = json.loads((folder / "coverage.json").read_text())
    gap = cov.get("gap")
    head = (f"<h2>Coverage: channel and contacts per customer</h2><div class='sub'>margin {cov['margin']:,.0f}"
            + (f" (today's plan {cov['current_margin']:,.0f})" if cov.get("current_margin") is not None else "")
            + f", status {escape(cov['status'])}, gap " + ("unknown" if gap is None else f"{100 * gap:.3f}%") + "</div>")
    parts = [head, "<h3>Customers by channel</h3>", html_table(pd.read_csv(folder / "channels.csv"))]
    parts += ["<h3>Rep utilisation</h3>", html_table(pd.read_csv(folder / "rep_utilisation.csv"))]
    parts += ["<h3>Potential × visit value</h3>", html_table(pd.read_csv(folder / "matrix.csv"))]
    shift = cov.get("shift")
    if shift:
        pairs = {k: v for k, v in shift.items() if isinstance(v, dict)}
        parts += ["<h3>Shift from today</h3>", html_table(pd.DataFrame(
            [{"move": k.replace("_", " "), **v} for k, v in pairs.items()]))]
    return "".join(parts)
