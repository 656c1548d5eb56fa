// The Data tab: open a data file or a `data prepare` folder, page and search its records, render one
// with a template and tokenizer (trained tokens coloured, masked ones dimmed), show the prepare report.
import {$, $$, api, el, showError, clearErrors, commandBox, debounce} from "./util.js";
import {barChart} from "./chart.js";

const PAGE = 50;
const state = {path: null, which: "records", offset: 0, query: "", selected: null, source: null};
const tab = () => $("#tab-data");

// The rendering form starts where a run config does (TemplateConfig's defaults, from the server);
// a record is rendered only once they are in, so a fast click never renders with an empty form.
let defaultsLoaded = null;

export function initData() {
  defaultsLoaded = loadDefaults();
  $("#data-open").addEventListener("submit", (e) => { e.preventDefault(); open($("#data-path").value); });
  $("#data-search").addEventListener("input", debounce(() => {
    state.query = $("#data-search").value; state.offset = 0; list();
  }, 250));
  for (const button of $$("#data-which button")) {
    button.addEventListener("click", () => {
      state.which = button.dataset.which; state.offset = 0;
      for (const b of $$("#data-which button")) b.classList.toggle("on", b === button);
      list();
    });
  }
  $("#data-prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE); list(); });
  $("#data-next").addEventListener("click", () => { state.offset += PAGE; list(); });
  $("#data-render").addEventListener("change", () => state.selected !== null && showRecord(state.selected));
  $("#render-tokenizer").addEventListener("input", debounce(() => state.selected !== null && showRecord(state.selected), 600));
  suggest();
}

async function loadDefaults() {
  try {
    const {values, choices} = await api("/api/data/defaults");
    const form = $("#data-render");
    for (const [field, name] of [["name", "template"], ["train_on", "train_on"], ["truncation", "truncation"]]) {
      form[name].replaceChildren(...choices[field].map((c) => el("option", {value: c, text: c})));
      form[name].value = values[field];
    }
    form.max_seq_len.value = values.max_seq_len;
  } catch (e) { showError(tab(), e); }
}

async function suggest() {
  try {
    const {paths} = await api("/api/data/suggest");
    $("#data-paths").replaceChildren(...paths.map((p) => el("option", {value: p})));
  } catch { /* suggestions are a convenience */ }
}

async function open(path) {
  clearErrors(tab());
  try {
    const source = await api(`/api/data/open?path=${encodeURIComponent(path)}`);
    Object.assign(state, {path, source, offset: 0, query: "", selected: null, which: "records"});
    $("#data-search").value = "";
    for (const b of $$("#data-which button")) b.classList.toggle("on", b.dataset.which === "records");
    $("#data-which").hidden = source.kind !== "prepare";
    const kind = source.kind === "prepare" ? "data prepare output" : "data file";
    $("#data-summary").replaceChildren(el("p", {class: "summary"},
      el("b", {text: kind}), ` · ${source.records} records`, source.bad ? ` · ${source.bad} unreadable` : "",
      source.kind === "prepare" ? ` · ${source.rejected} rejected` : "",
      source.cut ? " · only the first 200,000 records are shown" : "",
      source.data_file ? el("span", {class: "muted", text: ` · ${source.data_file}`}) : ""));
    $("#data-body").hidden = false;
    forgetView();  // an answer still coming for the previous source is not shown
    $("#data-record").replaceChildren(el("p", {class: "muted", text: "choose a record on the left"}));
    await list();
    if (source.has_report) await report(path); else $("#data-report").hidden = true;
  } catch (e) { showError(tab(), e); }
}

async function list() {
  if (!state.path) return;
  const q = new URLSearchParams({path: state.path, which: state.which, q: state.query, offset: state.offset, limit: PAGE});
  try {
    const page = await api(`/api/data/records?${q}`);
    const rows = page.rows.map((r) => el("tr", {
      class: r.bad ? "bad" : "", "data-index": r.index, onclick: () => showRecord(r.index)},
      el("td", {class: "where", text: r.where}),
      el("td", {}, r.reason ? el("span", {class: "reason", text: r.step ? `${r.step}: ${r.reason}` : r.reason}) : "",
        el("span", {class: "preview", text: r.preview}))));
    $("#data-records tbody").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", {class: "muted", text: "nothing matches"}))]));
    const end = Math.min(page.offset + PAGE, page.total);
    $("#data-page").textContent = page.total ? `${page.offset + 1}–${end} of ${page.total}` : "0 of 0";
    $("#data-prev").disabled = page.offset === 0;
    $("#data-next").disabled = end >= page.total;
  } catch (e) { showError(tab(), e); }
}

function renderSettings() {
  const form = $("#data-render");
  return {template: form.template.value, tokenizer: form.tokenizer.value.trim(),
    max_seq_len: Number(form.max_seq_len.value), train_on: form.train_on.value, truncation: form.truncation.value,
    system: form.system.value || null};
}

// The record view: one rendering at a time, always whole. Several things ask for a rendering (a click,
// a form change, the tokenizer box once typing pauses), often of what is shown already or on its way:
// those are skipped, and of overlapping requests only the latest one's answer is shown, so an answer
// that comes back late never replaces a newer one, and nothing is cleared before its replacement is in.
const view = {key: null, seq: 0};

function forgetView() { view.key = null; view.seq++; }

async function showRecord(index) {
  state.selected = index;
  for (const row of $$("#data-records tr")) row.classList.toggle("selected", Number(row.dataset.index) === index);
  await defaultsLoaded;
  const {path, which} = state, settings = renderSettings();
  const key = JSON.stringify([path, which, index, settings]);
  if (key === view.key) return;  // this very rendering is shown, or on its way
  view.key = key;
  const mine = ++view.seq;
  const latest = () => mine === view.seq;
  clearErrors(tab());
  const target = $("#data-record");
  target.querySelector(".rendering")?.remove();
  target.prepend(el("p", {class: "muted rendering", text: "rendering…"}));
  const failed = (e, parts = []) => {
    if (!latest()) return;
    view.key = null;  // asking again may work (a fixed tokenizer path)
    target.replaceChildren(...parts);
    showError(tab(), e);
  };
  const q = new URLSearchParams({path, which, index});
  let record;
  try { record = await api(`/api/data/record?${q}`); } catch (e) { failed(e); return; }
  if (!latest()) return;
  const parts = [recordView(record)];
  if (record.bad) { target.replaceChildren(...parts); return; }
  let r;
  try {
    r = await api("/api/data/render", {path, which, index, ...settings});
  } catch (e) { failed(e, parts); return; }
  if (!latest()) return;  // a newer click or setting owns the view now
  const rendered = el("pre", {class: "rendered", "data-template": settings.template}, r.segments.map((s) =>
    el("span", {class: s.trained ? "trained" : "masked", text: s.text})));
  target.replaceChildren(
    el("h3", {text: `rendered with ${settings.template}`}),
    el("p", {class: "stats"}, `${r.tokens} tokens · `, el("span", {class: "trained", text: `${r.trained} trained`}),
      ` · ${r.tokens - r.trained} masked`, r.truncated ? ` · ${r.turns_cut} oldest turns cut to fit` : ""),
    rendered, commandBox(r.command), ...parts);
}

function recordView(record) {
  if (record.bad) {
    return el("div", {class: "record bad"}, el("h3", {text: `${record.where}: unreadable`}),
      el("p", {class: "reason", text: record.reason}), el("pre", {text: record.raw}));
  }
  return el("div", {class: "record"}, el("h3", {text: `record ${record.where}`}),
    record.system ? el("div", {class: "turn system"}, el("b", {text: "system"}), el("div", {text: record.system})) : "",
    record.turns.map((t) => el("div", {class: `turn ${t.role}`}, el("b", {text: t.role}),
      el("div", {text: t.content}), t.input ? el("div", {class: "input", text: t.input}) : "")));
}

// ---- the prepare report ------------------------------------------------------------------------

async function report(path) {
  const box = $("#data-report");
  let r;
  try { r = await api(`/api/data/report?path=${encodeURIComponent(path)}`); } catch (e) { showError(tab(), e); return; }
  const c = r.counts;
  const bins = r.lengths.bins;
  const used = bins.map((_, i) => i).filter((i) => r.lengths.before[i] || r.lengths.after[i]);
  const labels = used.map((i) => (i + 1 < bins.length ? `${bins[i]}–${bins[i + 1] - 1}` : `${bins[i]}+`));
  box.replaceChildren(
    el("h2", {text: "Data prepare report"}),
    el("p", {class: "big"}, `read ${c.read} · kept ${c.kept} (${(100 * c.kept_share).toFixed(1)}%) · rejected ${c.rejected}`
      + (c.flagged ? ` · kept but flagged ${c.flagged}` : ""),
      el("span", {class: "muted", text: ` · ${r.seconds} s`})),
    el("div", {class: "columns"},
      el("div", {class: "col"}, el("h3", {text: "Drops by step and reason"}), dropsTable(r),
        el("h3", {text: "Kept but flagged for review"}), flagsTable(r),
        el("h3", {text: "Changed by each step"}), changesTable(r)),
      el("div", {class: "col"},
        el("h3", {text: "Record length (characters), before and after"}),
        used.length ? barChart(labels, [
          {name: "before", cls: "before", values: used.map((i) => r.lengths.before[i])},
          {name: "after", cls: "after", values: used.map((i) => r.lengths.after[i])}], {yLabel: "records"})
          : el("p", {class: "muted", text: "no lengths"}),
        el("h3", {text: "Personal information found"}), countsTable(r.pii, "type", "found"),
        el("h3", {text: `Languages (${r.languages.source})`}), countsTable(r.languages.counts, "language", "records"),
        Object.keys(r.safety || {}).length ? [el("h3", {text: "Safety"}), countsTable(r.safety, "category", "records")] : "")),
    el("h3", {text: "Steps"}), stepsTable(r.steps),
    el("details", {}, el("summary", {text: "pipeline config (save as pipeline.yaml and run `tunesmith data prepare pipeline.yaml`)"}),
      el("pre", {text: r.config})));
  box.hidden = false;
}

function dropsTable(r) {
  if (!r.drops.length) return el("p", {class: "muted", text: "no record was rejected"});
  return el("table", {class: "drops"}, el("tr", {}, el("th", {text: "step"}), el("th", {text: "reason"}),
    el("th", {text: "records"}), el("th", {text: "examples"})),
    r.drops.map((d) => {
      const examples = (r.examples[`${d.step}/${d.reason}`] || []).map((row) => el("div", {class: "example"},
        row.detail ? el("div", {class: "detail", text: row.detail}) : "", el("pre", {text: recordText(row.record || {})})));
      return el("tr", {}, el("td", {text: d.step}), el("td", {text: d.reason}), el("td", {class: "num", text: d.count}),
        el("td", {}, examples.length ? el("details", {}, el("summary", {text: `${examples.length} shown`}), examples) : ""));
    }));
}

function recordText(rec) {
  const text = rec.turns ? rec.turns.map((t) => `[${t.role}] ${t.content}`).join("\n") : String(rec.raw || "");
  return text.length > 400 ? text.slice(0, 400) + " …" : text;
}

function flagsTable(r) {
  const flags = r.flags || [];
  if (!flags.length) return el("p", {class: "muted", text: "no record was flagged"});
  return el("table", {class: "drops"}, el("tr", {}, ["step", "reason", "kept", "examples"].map((h) => el("th", {text: h}))),
    flags.map((f) => {
      const examples = ((r.flag_examples || {})[`${f.step}/${f.reason}`] || []).map((row) => el("div", {class: "example"},
        row.detail ? el("div", {class: "detail", text: row.detail}) : "", el("pre", {text: recordText(row.record || {})})));
      return el("tr", {}, el("td", {text: f.step}), el("td", {text: f.reason}), el("td", {class: "num", text: f.kept}),
        el("td", {}, examples.length ? el("details", {}, el("summary", {text: `${examples.length} shown`}), examples) : ""));
    }));
}

function changesTable(r) {
  const changes = r.changes || {};
  const steps = Object.entries(changes.by_step || {});
  if (!steps.length) return el("p", {class: "muted", text: "no step changed a record"});
  return el("table", {class: "drops"}, el("tr", {}, ["step", "records", "sample (before → after)"].map((h) => el("th", {text: h}))),
    steps.map(([label, n]) => {
      const sample = ((changes.sample || {})[label] || []).map((row) => el("div", {class: "example"},
        el("div", {class: "detail", text: row.id}),
        Object.keys({...row.before, ...row.after}).map((slot) => [
          el("pre", {text: `${slot} before: ${(row.before || {})[slot] ?? ""}`}),
          el("pre", {text: `${slot} after:  ${(row.after || {})[slot] ?? ""}`})])));
      return el("tr", {}, el("td", {text: label}), el("td", {class: "num", text: n}),
        el("td", {}, sample.length ? el("details", {}, el("summary", {text: `${sample.length} shown (diffs in report.html)`}), sample) : ""));
    }));
}

function countsTable(counts, what, unit) {
  const entries = Object.entries(counts || {});
  if (!entries.length) return el("p", {class: "muted", text: "none"});
  return el("table", {class: "counts"}, el("tr", {}, el("th", {text: what}), el("th", {text: unit})),
    entries.map(([k, v]) => el("tr", {}, el("td", {text: k}), el("td", {class: "num", text: v}))));
}

function stepsTable(steps) {
  const byReason = (counts) => Object.entries(counts || {}).map(([k, v]) => `${k}: ${v}`).join(", ");
  return el("table", {class: "steps"}, el("tr", {}, ["step", "seen", "kept", "changed", "dropped", "flagged"].map((h) => el("th", {text: h}))),
    Object.entries(steps).map(([label, s]) => el("tr", {}, el("td", {text: label}), el("td", {class: "num", text: s.seen}),
      el("td", {class: "num", text: s.kept}), el("td", {class: "num", text: s.changed}),
      el("td", {text: byReason(s.dropped)}), el("td", {text: byReason(s.flagged)}))));
}
