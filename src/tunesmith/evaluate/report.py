"""The evaluation written out: results.json (every number), predictions.jsonl (every answer),
report.md and report.html (a side-by-side table, the differences with their intervals, sample answers).
Each file is written to a temporary name and renamed into place.

Every difference is tuned − base, and the bootstrap table's difference is the main table's own number
(see tunesmith.evaluate.bootstrap); both tables say so, with which direction is better."""

from __future__ import annotations

import html
import json
from dataclasses import asdict
from pathlib import Path

from tunesmith.evaluate.compare import Evaluation, ModelScores
from tunesmith.evaluate.bootstrap import RESAMPLES
from tunesmith.evaluate.metrics import LABELS, METRIC_NAMES
from tunesmith.io import atomic_write_text

SAMPLES_SHOWN = 12
METRIC_LABELS = LABELS
SIGN = ("tuned − base throughout. For loss and perplexity lower is better, so a negative difference means the "
        "tuned model is better; for the other metrics higher is better.")
BOOTSTRAP = (f"The difference is the table's: each model's corpus metric over all records (loss over all answer "
             f"tokens, BLEU-4 from the summed n-gram counts, the others averaged over the records), tuned − base. "
             f"The interval is the 2.5th to 97.5th percentile of that same difference recomputed on {RESAMPLES} "
             f"resamples of the records, the same records for both models (paired bootstrap).")


def rows(ev: Evaluation) -> list[tuple[str, float | None, float | None, bool]]:
    """(metric, tuned, base, lower_is_better) for the summary table."""
    out = []
    t, b = ev.tuned, ev.base
    if t.loss:
        out.append(("loss", t.loss.loss, b.loss.loss if b else None, True))
        out.append(("perplexity", t.loss.perplexity, b.loss.perplexity if b else None, True))
    if t.generation:
        for name in METRIC_NAMES:
            out.append((METRIC_LABELS[name], t.generation[name], b.generation[name] if b else None, False))
    if t.choice:
        out.append(("choice accuracy", t.choice.accuracy, b.choice.accuracy if b else None, False))
        for subject, acc in t.choice.per_subject.items():
            out.append((f"  {subject}", acc, b.choice.per_subject[subject] if b else None, False))
    return out


def write(ev: Evaluation, out_dir: str | Path) -> dict[str, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / name for name in ("results.json", "predictions.jsonl", "report.md", "report.html")}
    atomic_write_text(paths["results.json"], json.dumps(_results(ev), indent=2, ensure_ascii=False) + "\n")
    atomic_write_text(paths["predictions.jsonl"],
                      "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in _predictions(ev)))
    atomic_write_text(paths["report.md"], markdown(ev))
    atomic_write_text(paths["report.html"], to_html(ev))
    return paths


def _results(ev: Evaluation) -> dict:
    def model(m: ModelScores | None):
        if m is None:
            return None
        loss = None if m.loss is None else {k: v for k, v in asdict(m.loss).items() if not k.startswith("per_record")}
        choice = None if m.choice is None else {"accuracy": m.choice.accuracy, "per_subject": m.choice.per_subject,
                                                "questions": m.choice.questions}
        return {"loss": loss, "generation": m.generation, "choice": choice,
                "cut_by_length": sum(f == "length" for f in m.finish)}

    return {"name": ev.name, "method": ev.method, "template": ev.template, "data": ev.data,
            "choice_data": ev.choice_data, "records": ev.records, "bad_records": ev.bad_records,
            "settings": ev.settings, "tuned": model(ev.tuned), "base": model(ev.base),
            "differences": [{**asdict(d), "verdict": d.verdict} for d in ev.differences]}


def _predictions(ev: Evaluation) -> list[dict]:
    out = []
    for i, sample in enumerate(ev.samples):
        row = dict(sample, tuned=ev.tuned.answers[i], tuned_scores=ev.tuned.per_sample[i])
        if ev.base:
            row.update(base=ev.base.answers[i], base_scores=ev.base.per_sample[i])
        out.append(row)
    for m in (ev.tuned, ev.base):
        if m and m.choice:
            out += [{"model": m.label, **p} for p in m.choice.predictions]
    return out


def fmt(x: float | None) -> str:
    return "–" if x is None else (f"{x:.4f}" if abs(x) < 10 else f"{x:.2f}")


def _delta(t: float | None, b: float | None, lower_better: bool) -> str:
    if t is None or b is None:
        return ""
    d = t - b
    better = (d < 0) if lower_better else (d > 0)
    return f"{d:+.4f}" + (" ✓" if better and d != 0 else "")


def _intro(ev: Evaluation) -> list[str]:
    lines = [f"- model: `{ev.name}`" + (f" (method {ev.method})" if ev.method else ""),
             f"- template: `{ev.template}` (the same prompts for the tuned and the base model)"]
    if ev.data:
        lines.append(f"- data: `{ev.data}`: {ev.records} records, {len(ev.samples)} answered "
                     f"(greedy, up to {ev.settings.get('max_new_tokens')} new tokens)"
                     if ev.settings.get("temperature", 0) == 0 else
                     f"- data: `{ev.data}`: {ev.records} records, {len(ev.samples)} answered (sampled)")
    if ev.choice_data:
        lines.append(f"- multiple choice: `{ev.choice_data}`, {ev.settings.get('shots', 0)}-shot")
    if ev.bad_records:
        lines.append(f"- {len(ev.bad_records)} records not used (listed in results.json)")
    return lines


def markdown(ev: Evaluation) -> str:
    out = [f"# Evaluation: {ev.name}", ""] + _intro(ev) + [""]
    has_base = ev.base is not None
    out += ["| metric | tuned | base | tuned − base |", "| --- | ---: | ---: | ---: |"] if has_base else \
        ["| metric | value |", "| --- | ---: |"]
    for name, t, b, lower in rows(ev):
        out.append(f"| {name} | {fmt(t)} | {fmt(b)} | {_delta(t, b, lower)} |" if has_base
                   else f"| {name} | {fmt(t)} |")
    if has_base:
        out += ["", SIGN + " ✓ marks a difference in the tuned model's favour."]
    if ev.differences:
        out += ["", "## Is the difference real?", "", BOOTSTRAP, "",
                "| metric | tuned − base | 95% interval | n | verdict |", "| --- | ---: | --- | ---: | --- |"]
        for d in ev.differences:
            out.append(f"| {metric_name(d)} | {d.delta:+.4f} | [{d.low:+.4f}, {d.high:+.4f}] | {d.n} | {d.verdict} |")
    if ev.samples:
        out += ["", "## Sample answers", ""]
        for i, s in enumerate(ev.samples[:SAMPLES_SHOWN]):
            out += [f"### {i + 1}. `{s['source']}`", "", f"**Prompt:** {_md(s['prompt'])}", "",
                    f"**Reference:** {_md(s['reference'])}", ""]
            if has_base:
                out += [f"**Base:** {_md(ev.base.answers[i])}", ""]
            out += [f"**Tuned:** {_md(ev.tuned.answers[i])}", ""]
    return "\n".join(out) + "\n"


def metric_name(d) -> str:
    return f"{d.metric} (lower is better)" if d.lower_better else d.metric


def _md(text: str) -> str:
    text = (text or "").strip()
    return "(empty)" if not text else text.replace("\n", "<br>").replace("|", "\\|")


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}
td:first-child,th:first-child{text-align:left}.better{color:#1a7f37;font-weight:600}.worse{color:#b42318}
.samples td{text-align:left;vertical-align:top;white-space:pre-wrap;width:25%}.muted{color:#777}"""


def to_html(ev: Evaluation) -> str:
    e = html.escape
    has_base = ev.base is not None
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Evaluation: {e(ev.name)}</title>"
             f"<style>{CSS}</style></head><body><h1>Evaluation: {e(ev.name)}</h1><ul>"]
    parts += [f"<li>{e(line[2:]).replace('`', '')}</li>" for line in _intro(ev)]
    parts.append("</ul><table><tr><th>metric</th><th>tuned</th>" + ("<th>base</th><th>tuned − base</th>" if has_base
                                                                    else "") + "</tr>")
    for name, t, b, lower in rows(ev):
        cls = ""
        if has_base and t is not None and b is not None and t != b:
            cls = "better" if ((t < b) if lower else (t > b)) else "worse"
        parts.append(f"<tr><td>{e(name)}</td><td>{fmt(t)}</td>"
                     + (f"<td>{fmt(b)}</td><td class='{cls}'>{e(_delta(t, b, lower))}</td>" if has_base else "")
                     + "</tr>")
    parts.append("</table>")
    if has_base:
        parts.append(f"<p class='muted'>{e(SIGN)} Green marks a difference in the tuned model's favour.</p>")
    if ev.differences:
        parts.append(f"<h2>Is the difference real?</h2><p class='muted'>{e(BOOTSTRAP)}</p><table><tr><th>metric</th>"
                     "<th>tuned − base</th><th>95% interval</th><th>n</th><th>verdict</th></tr>")
        for d in ev.differences:
            cls = {"tuned better": "better", "base better": "worse"}.get(d.verdict, "muted")
            parts.append(f"<tr><td>{e(metric_name(d))}</td><td>{d.delta:+.4f}</td>"
                         f"<td>[{d.low:+.4f}, {d.high:+.4f}]</td>"
                         f"<td>{d.n}</td><td class='{cls}'>{e(d.verdict)}</td></tr>")
        parts.append("</table>")
    if ev.samples:
        parts.append("<h2>Sample answers</h2><table class='samples'><tr><th>prompt</th><th>reference</th>"
                     + ("<th>base</th>" if has_base else "") + "<th>tuned</th></tr>")
        for i, s in enumerate(ev.samples[:SAMPLES_SHOWN]):
            parts.append(f"<tr><td>{e(s['prompt'])}<br><span class='muted'>{e(s['source'])}</span></td>"
                         f"<td>{e(s['reference'])}</td>" + (f"<td>{e(ev.base.answers[i])}</td>" if has_base else "")
                         + f"<td>{e(ev.tuned.answers[i])}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "".join(parts)

