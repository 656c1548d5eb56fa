"""report.html: one self-contained page (inline SVG plots written by report_svg, no external files)."""

from __future__ import annotations

import html

from tunesmith.data.report_svg import grouped_bars, horizontal_bars

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9em;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 8px;
text-align:left;vertical-align:top}th{background:#f4f4f4}.num{text-align:right;font-variant-numeric:tabular-nums}
.plots{display:flex;flex-wrap:wrap;gap:1em}.plots figure{margin:0;flex:1 1 480px}
pre{background:#f7f7f7;padding:.6em;white-space:pre-wrap;word-break:break-all;font-size:.85em;margin:0}
.big{font-size:1.3em}.muted{color:#777}
"""


def render(summary: dict) -> str:
    c = summary["counts"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>tunesmith data prepare report</title>"
             f"<style>{_CSS}</style></head><body>",
             "<h1>Data preparation report</h1>",
             f"<p class='big'>read <b>{c['read']:,}</b> · kept <b>{c['kept']:,}</b> ({c['kept_share']:.1%}) · "
             f"rejected <b>{c['rejected']:,}</b></p>",
             f"<p class='muted'>{summary['seconds']:.1f} s"
             + (f" · {summary['records_per_second']:,.0f} records/s" if summary.get("records_per_second") else "")
             + (f" · {summary['resumed_shards']} shards resumed" if summary.get("resumed_shards") else "")
             + f" · output {html.escape(summary['output'])}</p>",
             "<h2>Plots</h2><div class='plots'>",
             _figure("Record length before and after (characters, all texts)", _lengths_svg(summary["lengths"])),
             _figure("Drops by step and reason", _bars_svg(
                 {f"{d['step']}: {d['reason']}": d["count"] for d in summary["drops"]}, "records")),
             _figure(f"Language mix ({html.escape(summary['languages']['source'])})",
                     _bars_svg(summary["languages"]["counts"], "records")),
             _figure("Personal information found (masked or dropped; invalid = failed its checksum, kept)",
                     _bars_svg(summary["pii"], "occurrences")),
             "</div>",
             "<h2>Steps</h2>", _steps_table(summary["steps"]),
             "<h2>Examples per reason</h2>", _examples(summary["examples"]),
             "<h2>Configuration</h2>", f"<pre>{html.escape(summary['config'])}</pre>",
             "</body></html>"]
    return "\n".join(parts)


def _figure(title: str, svg: str | None) -> str:
    body = svg if svg else "<p class='muted'>nothing to show</p>"
    return f"<figure><figcaption><b>{title}</b></figcaption>{body}</figure>"


def _steps_table(steps: dict) -> str:
    rows = ["<table><tr><th>step</th><th>seen</th><th>kept</th><th>changed</th><th>dropped (by reason)</th>"
            "<th>counts</th></tr>"]
    for label, s in steps.items():
        dropped = ", ".join(f"{k}: {v:,}" for k, v in sorted(s["dropped"].items(), key=lambda kv: -kv[1]))
        counts = ", ".join(f"{k}: {v:,}" for k, v in sorted(s["counts"].items(), key=lambda kv: -kv[1])[:30])
        rows.append(f"<tr><td>{html.escape(label)}</td><td class='num'>{s['seen']:,}</td>"
                    f"<td class='num'>{s['kept']:,}</td><td class='num'>{s['changed']:,}</td>"
                    f"<td>{html.escape(dropped)}</td><td>{html.escape(counts)}</td></tr>")
    rows.append("</table>")
    return "".join(rows)


def _examples(examples: dict) -> str:
    if not examples:
        return "<p class='muted'>no record was rejected</p>"
    out = []
    for key, rows in examples.items():
        out.append(f"<h3>{html.escape(key)}</h3><table><tr><th>where</th><th>detail</th><th>record</th></tr>")
        for row in rows:
            rec = row.get("record") or {}
            meta = rec.get("meta") or {}
            where = f"{meta.get('source', '')}:{meta.get('line', '')}" if meta.get("source") else meta.get("id", "")
            if "turns" in rec:
                text = "\n".join(f"[{t['role']}] {t['content']}" + (f"\n[input] {t['input']}" if t.get("input") else "")
                                 for t in rec["turns"])
            else:
                text = str(rec.get("raw", ""))
            text = text if len(text) <= 600 else text[:600] + " …"
            out.append(f"<tr><td>{html.escape(str(where))}</td><td>{html.escape(row.get('detail', ''))}</td>"
                       f"<td><pre>{html.escape(text)}</pre></td></tr>")
        out.append("</table>")
    return "".join(out)


def _lengths_svg(lengths: dict) -> str | None:
    before, after, bins = lengths["before"], lengths["after"], lengths["bins"]
    if not any(before) and not any(after):
        return None
    names = [f"{lo}–{hi - 1}" for lo, hi in zip(bins, bins[1:])] + [f"{bins[-1]}+"]
    first = next(i for i, (b, a) in enumerate(zip(before, after)) if a or b)
    last = max(i for i, (b, a) in enumerate(zip(before, after)) if a or b)
    xs = range(first, last + 1)
    return grouped_bars([names[x] for x in xs], {"before": [before[x] for x in xs], "after": [after[x] for x in xs]},
                        ["#9ab", "#2a6"], "records")


def _bars_svg(values: dict, unit: str) -> str | None:
    return horizontal_bars(values, unit) if values else None
