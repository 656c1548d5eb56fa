"""report.html: one self-contained page (inline SVG plots written by report_svg, no external files).

Besides counts and plots it shows what a reviewer must see: the records kept but flagged, by step and
reason with examples, and a sample of the changes each step made, as inline diffs (report_diff.py).
"""

from __future__ import annotations

import html

from tunesmith.prepare.report_diff import inline_html
from tunesmith.prepare.report_svg import grouped_bars, horizontal_bars

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9em;margin:.5em 0}td,th{border:1px solid #ddd;padding:3px 8px;
text-align:left;vertical-align:top}th{background:#f4f4f4}.num{text-align:right;font-variant-numeric:tabular-nums}
.plots{display:flex;flex-wrap:wrap;gap:1em}.plots figure{margin:0;flex:1 1 480px}
pre{background:#f7f7f7;padding:.6em;white-space:pre-wrap;word-break:break-all;font-size:.85em;margin:0}
.big{font-size:1.3em}.muted{color:#777}
del{background:#fdd;color:#900;text-decoration:line-through}ins{background:#cfc;color:#060;text-decoration:none}
.fold{color:#999;font-style:italic}.change{margin:.8em 0}.change .where{font-size:.85em;color:#555;margin-bottom:2px}
"""


def render(summary: dict) -> str:
    c = summary["counts"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>tunesmith data prepare report</title>"
             f"<style>{_CSS}</style></head><body>",
             "<h1>Data preparation report</h1>",
             f"<p class='big'>read <b>{c['read']:,}</b> · kept <b>{c['kept']:,}</b> ({c['kept_share']:.1%}) · "
             f"rejected <b>{c['rejected']:,}</b>"
             + (f" · kept but flagged <b>{c['flagged']:,}</b>" if c.get("flagged") else "") + "</p>",
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
             "<h2>Steps</h2>", _steps_table(summary["steps"]), _tokenizers(summary.get("tokenizers", [])),
             "<h2>Examples per reason</h2>", _examples(summary["examples"]),
             "<h2>Kept but flagged for review</h2>", _flags(summary.get("flags", []), summary.get("flag_examples", {})),
             "<h2>Changed by each step</h2>", _changes(summary.get("changes") or {}),
             "<h2>Configuration</h2>", f"<pre>{html.escape(summary['config'])}</pre>",
             "</body></html>"]
    return "\n".join(parts)


def _figure(title: str, svg: str | None) -> str:
    body = svg if svg else "<p class='muted'>nothing to show</p>"
    return f"<figure><figcaption><b>{title}</b></figcaption>{body}</figure>"


def _steps_table(steps: dict) -> str:
    rows = ["<table><tr><th>step</th><th>seen</th><th>kept</th><th>changed</th><th>dropped (by reason)</th>"
            "<th>flagged (by reason)</th><th>counts</th></tr>"]
    for label, s in steps.items():
        dropped = ", ".join(f"{k}: {v:,}" for k, v in sorted(s["dropped"].items(), key=lambda kv: -kv[1]))
        flagged = ", ".join(f"{k}: {v:,}" for k, v in sorted(s.get("flagged", {}).items(), key=lambda kv: -kv[1]))
        counts = ", ".join(f"{k}: {v:,}" for k, v in sorted(s["counts"].items(), key=lambda kv: -kv[1])[:30])
        rows.append(f"<tr><td>{html.escape(label)}</td><td class='num'>{s['seen']:,}</td>"
                    f"<td class='num'>{s['kept']:,}</td><td class='num'>{s['changed']:,}</td>"
                    f"<td>{html.escape(dropped)}</td><td>{html.escape(flagged)}</td><td>{html.escape(counts)}</td></tr>")
    rows.append("</table>")
    return "".join(rows)


def _tokenizers(rows: list[dict]) -> str:
    """Which tokenizer counted tokens, and how many it spends on a Chinese character."""
    return "".join(
        f"<p>{html.escape(r['step'])} counted with {html.escape(r['tokenizer'])}"
        + (f": <b>{r['tokens_per_chinese_char']:.2f}</b> tokens per Chinese character (measured on "
           f"{r['chinese_chars']:,} characters)" if r.get("tokens_per_chinese_char") is not None else "")
        + "</p>" for r in rows)


def _examples(examples: dict) -> str:
    if not examples:
        return "<p class='muted'>no record was rejected</p>"
    out = ["<p class='muted'>Personal information in the records shown here is masked as ⟨type⟩, whichever step "
           "dropped them (rejected.jsonl keeps them as they were).</p>"]
    for key, rows in examples.items():
        out.append(f"<h3>{html.escape(key)}</h3><table><tr><th>where</th><th>detail</th><th>record</th></tr>")
        for row in rows:
            rec = row.get("record") or {}
            meta = rec.get("meta") or {}
            where = f"{meta.get('source', '')}:{meta.get('line', '')}" if meta.get("source") else meta.get("id", "")
            out.append(f"<tr><td>{html.escape(str(where))}</td><td>{html.escape(row.get('detail', ''))}</td>"
                       f"<td><pre>{html.escape(_record_text(rec))}</pre></td></tr>")
        out.append("</table>")
    return "".join(out)


def _record_text(rec: dict) -> str:
    if "turns" in rec:
        text = "\n".join(f"[{t['role']}] {t['content']}" + (f"\n[input] {t['input']}" if t.get("input") else "")
                         for t in rec["turns"])
    else:
        text = str(rec.get("raw", ""))
    return text if len(text) <= 600 else text[:600] + " …"


def _flags(flags: list[dict], examples: dict) -> str:
    if not flags:
        return "<p class='muted'>no record was flagged</p>"
    rows = ["<table><tr><th>step</th><th>reason</th><th>kept and flagged</th><th>flagged when the step ran</th></tr>"]
    for f in flags:
        rows.append(f"<tr><td>{html.escape(f['step'])}</td><td>{html.escape(f['reason'])}</td>"
                    f"<td class='num'>{f['kept']:,}</td><td class='num'>{f['flagged']:,}</td></tr>")
    rows.append("</table>")
    for key, shown in examples.items():
        rows.append(f"<h3>{html.escape(key)}</h3><table><tr><th>id</th><th>detail</th><th>record</th></tr>")
        for row in shown:
            rec = row.get("record") or {}
            rows.append(f"<tr><td>{html.escape(str((rec.get('meta') or {}).get('id', '')))}</td>"
                        f"<td>{html.escape(str(row.get('detail', '')))}</td>"
                        f"<td><pre>{html.escape(_record_text(rec))}</pre></td></tr>")
        rows.append("</table>")
    return "".join(rows)


def _changes(changes: dict) -> str:
    by_step, sample = changes.get("by_step") or {}, changes.get("sample") or {}
    if not by_step and not sample:
        return "<p class='muted'>no step changed a record</p>"
    where = f" Every change is in <code>{html.escape(changes['file'])}</code>." if changes.get("file") else ""
    out = [f"<p class='muted'>Records changed, by step; below, up to {max(map(len, sample.values()), default=0)} "
           f"per step (the same ones however the run is sharded), <del>removed</del> and <ins>added</ins> text "
           f"marked, changed whitespace drawn: ↵ newline, · space, → tab, □ ideographic space.{where}</p>",
           "<table><tr><th>step</th><th>records changed</th></tr>"]
    out += [f"<tr><td>{html.escape(k)}</td><td class='num'>{v:,}</td></tr>" for k, v in by_step.items()]
    out.append("</table>")
    for label, rows in sample.items():
        out.append(f"<h3>changed by {html.escape(label)}</h3>")
        for row in rows:
            before, after = row.get("before") or {}, row.get("after") or {}
            context = (f" · instruction: {html.escape(row['instruction'])}" if row.get("instruction") else "")
            out.append(f"<div class='change'><div class='where'><b>{html.escape(str(row.get('id')))}</b>{context}</div>")
            for slot in dict.fromkeys([*before, *after]):
                out.append(f"<div class='where'>{html.escape(slot)}</div>"
                           f"<pre>{inline_html(before.get(slot), after.get(slot))}</pre>")
            out.append("</div>")
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
