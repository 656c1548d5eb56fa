// The Train tab: the run config as a form built from RunConfig's schema, validated and estimated as you
// type; launch, the runs list, and the selected run's live loss/eval curves, tokens/s, ETA, stop, resume.
import {$, $$, api, el, showError, clearErrors, setFieldErrors, commandBox, debounce, fmtNumber, fmtSeconds} from "./util.js";
import {lineChart} from "./chart.js";

const tab = () => $("#tab-train");
const state = {schema: null, run: null, records: [], detail: null, runTimer: null, listTimer: null, visible: false};

export async function initTrain() {
  try {
    state.schema = await api("/api/train/schema");
  } catch (e) { showError(tab(), e); return; }
  buildForm(state.schema);
  $("#est-device").value = state.schema.device;
  const check = debounce(validate, 350);
  $("#train-form").addEventListener("input", check);
  $("#train-form").addEventListener("change", () => { applyMethod(); check(); });
  $("#est-device").addEventListener("change", check);
  $("#est-memory").addEventListener("input", check);
  $("#train-launch").addEventListener("click", launch);
  $("#run-stop").addEventListener("click", () => runAction("stop"));
  $("#run-resume").addEventListener("click", () => runAction("resume"));
  applyMethod();
  validate();
}

export function onShowTrain() {
  state.visible = true;
  refreshRuns();
  clearInterval(state.listTimer);
  state.listTimer = setInterval(() => { if (!$("#tab-train").hidden) refreshRuns(); }, 2000);
}

// ---- the form ----------------------------------------------------------------------------------

function buildForm(schema) {
  const form = $("#train-form");
  for (const section of schema.sections) {
    const main = section.fields.filter((f) => f.main), more = section.fields.filter((f) => !f.main);
    form.append(el("fieldset", {"data-section": section.name},
      el("legend", {text: section.name, title: section.help || ""}),
      el("div", {class: "grid-form"}, main.map(fieldView)),
      more.length ? el("details", {class: "more"}, el("summary", {text: `more ${section.name} settings`}),
        el("div", {class: "grid-form"}, more.map(fieldView))) : ""));
  }
  const out = $('[name="output_dir"]', form);
  if (out) out.value = schema.suggested_output_dir;
}

function fieldView(f) {
  let input;
  if (f.kind === "choice") {
    input = el("select", {name: f.key, id: `f-${f.key}`}, f.choices.map((c) => el("option", {value: c, text: c})));
    input.value = f.default;
  } else if (f.kind === "bool") {
    input = el("input", {type: "checkbox", name: f.key, id: `f-${f.key}`});
    input.checked = f.default === "true";
  } else {
    input = el("input", {name: f.key, id: `f-${f.key}`, value: f.default, autocomplete: "off",
      placeholder: f.nullable ? "(none)" : f.kind.startsWith("list") ? "a, b, c" : ""});
  }
  const label = el("label", {for: `f-${f.key}`, text: f.key.split(".").pop(), title: f.key});
  return el("div", {class: `field ${f.kind === "bool" ? "bool" : ""}`, "data-key": f.key,
      "data-methods": f.methods ? f.methods.join(" ") : null},
    f.kind === "bool" ? el("label", {class: "check"}, input, " ", f.key.split(".").pop()) : [label, input],
    el("small", {class: "help", text: f.help.split("\n")[0]}),
    el("div", {class: "field-error", "data-error-for": f.key, hidden: true}),
    el("div", {class: "field-warning", "data-error-for": f.key, hidden: true}));
}

function applyMethod() {
  const method = $('[name="method.name"]').value;
  for (const field of $$("#train-form .field[data-methods]")) {
    field.hidden = !field.dataset.methods.split(" ").includes(method);
  }
}

function values() {
  const out = {};
  for (const input of $$("#train-form [name]")) {
    out[input.name] = input.type === "checkbox" ? String(input.checked) : input.value;
  }
  return out;
}

let validation = 0;
async function validate() {
  const mine = ++validation;
  const body = {values: values(), device: $("#est-device").value, memory: $("#est-memory").value || null};
  let r;
  try { r = await api("/api/train/validate", body); } catch (e) { showError(tab(), e); return; }
  if (mine !== validation) return;  // a newer keystroke has been checked already
  clearErrors(tab());
  setFieldErrors(tab(), r.errors);
  setFieldErrors(tab(), r.warnings, "field-warning");
  // Errors on fields the form does not show (a hidden method option, the run as a whole) go on top.
  const stray = Object.entries(r.errors).filter(([key]) => {
    const box = $(`.field-error[data-error-for="${CSS.escape(key)}"]`, tab());
    return !box || box.offsetParent === null;
  });
  const general = $('.form-col [data-error-for="general"]');
  general.textContent = stray.map(([k, m]) => `${k}: ${m}`).join("\n");
  general.hidden = !stray.length;
  $("#train-launch").disabled = !r.ok;
  $("#train-command").replaceChildren(...(r.command ? [commandBox(`${r.command}`, "same as"),
    commandBox(`tunesmith train ${r.config_path}`, "or, with the file Launch writes")] : []));
  $("#train-yaml").textContent = r.yaml || "";
  if (r.estimate) showEstimate(r.estimate);
  else if (!r.ok) $("#train-estimate").replaceChildren(el("p", {class: "muted", text: "fix the marked fields first"}));
}

function showEstimate(e) {
  const box = $("#train-estimate");
  if (e.error) {
    box.replaceChildren(el("p", {class: "warn", text: e.error}), e.hint ? el("p", {class: "hint", text: e.hint}) : "");
    return;
  }
  box.replaceChildren(
    el("p", {class: "big"}, "peak ", el("b", {class: "peak", text: e.peak_human}), ` on ${e.device}`,
      e.fits === null ? "" : el("span", {class: e.fits ? "ok" : "bad", text: e.fits ? " · fits" : " · does not fit"})),
    el("p", {class: "muted", text: `${fmtNumber(e.total_params / 1e6, 4)}M parameters, ` +
      `${fmtNumber(e.trainable_params / 1e6, 4)}M trainable; ${e.tokens} tokens per micro-batch`}),
    el("table", {class: "counts"}, e.parts.map((p) => el("tr", {}, el("td", {text: p.name}), el("td", {class: "num", text: p.human})))),
    e.notes.map((n) => el("p", {class: "muted", text: n})),
    e.suggestions.length ? el("div", {}, el("p", {text: "settings that fit:"}), e.suggestions.map((s) =>
      el("div", {class: "suggestion"}, el("code", {text: s.overrides.join(" ")}), ` → ${s.peak_human} `,
        el("button", {type: "button", text: "apply", onclick: () => applyOverrides(s.overrides)})))) : "",
    commandBox(e.command.replace("RUN.yaml", $('[name="output_dir"]').value + ".yaml")));
}

function applyOverrides(overrides) {
  for (const item of overrides) {
    const [key, value] = item.split("=");
    const input = $(`#train-form [name="${CSS.escape(key)}"]`);
    if (!input) continue;
    if (input.type === "checkbox") input.checked = value === "true"; else input.value = value;
  }
  applyMethod();
  validate();
}

async function launch() {
  clearErrors(tab());
  try {
    const r = await api("/api/train/launch", {values: values(), overwrite: $("#train-overwrite").checked});
    await refreshRuns();
    selectRun(r.dir);
    // The next launch needs a fresh folder: bump run-N.
    const out = $('[name="output_dir"]');
    const m = out.value.match(/^(.*?)(\d+)$/);
    if (m) out.value = `${m[1]}${Number(m[2]) + 1}`;
    validate();
  } catch (e) { showError(tab(), e); }
}

// ---- runs ----------------------------------------------------------------------------------------

async function refreshRuns() {
  let r;
  try { r = await api("/api/train/runs"); } catch { return; }
  const rows = r.runs.map((run) => el("tr", {class: run.dir === state.run ? "selected" : "", "data-dir": run.dir,
      onclick: () => selectRun(run.dir)},
    el("td", {text: run.dir}), el("td", {}, el("span", {class: `status ${run.status}`, text: run.status})),
    el("td", {text: run.method || ""}), el("td", {text: run.total_steps ? `${run.step}/${run.total_steps}` : run.step || ""}),
    el("td", {text: run.loss === null || run.loss === undefined ? "" : fmtNumber(run.loss)})));
  $("#train-runs tbody").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", {colspan: 5, class: "muted", text: "no runs yet"}))]));
}

function selectRun(dir) {
  Object.assign(state, {run: dir, records: [], detail: null});
  for (const row of $$("#train-runs tr[data-dir]")) row.classList.toggle("selected", row.dataset.dir === dir);
  $("#train-run").hidden = false;
  $("#run-title").textContent = dir;
  $("#run-chart").replaceChildren();
  clearTimeout(state.runTimer);
  poll();
}

async function poll() {
  const dir = state.run;
  let d;
  try {
    d = await api(`/api/train/run?dir=${encodeURIComponent(dir)}&since=${state.records.length}`);
  } catch (e) { showError(tab(), e); return; }
  if (dir !== state.run) return;
  // A resumed run rewrites metrics.jsonl from its checkpoint: start over when it shrank.
  if (d.count < state.records.length) {
    state.records = [];
    state.runTimer = setTimeout(poll, 0);
    return;
  }
  state.records.push(...d.records);
  if (state.detail && state.detail.status !== d.status) refreshRuns();  // the list shows the new status now
  if (state.detail) state.detail.status = d.status;
  if (d.manifest !== undefined) { state.detail = d; }
  showRun(d);
  const live = ["running", "starting"].includes(d.status);
  state.runTimer = setTimeout(poll, live ? 500 : 4000);
}

function showRun(d) {
  $("#run-stats").replaceChildren(
    el("span", {class: `status ${d.status}`, text: d.status}),
    stat("step", d.total_steps ? `${d.step} / ${d.total_steps}` : d.step),
    stat("loss", fmtNumber(d.loss)), stat("eval loss", fmtNumber(d.eval_loss)),
    stat("tokens/s", d.tok_s ? Math.round(d.tok_s).toLocaleString("en") : "–"),
    stat("ETA", d.status === "running" ? fmtSeconds(d.eta_s) : "–"),
    d.checkpoint ? stat("checkpoint", d.checkpoint) : "");
  const loss = state.records.filter((r) => "loss" in r).map((r) => [r.step, r.loss]);
  const evals = state.records.filter((r) => "eval_loss" in r).map((r) => [r.step, r.eval_loss]);
  $("#run-chart").replaceChildren(lineChart([
    {name: "train loss", cls: "train", points: loss},
    {name: "eval loss", cls: "eval", points: evals, dots: true}], {yLabel: "loss"}));
  $("#run-stop").disabled = !["running", "starting"].includes(d.status);
  $("#run-resume").disabled = !d.resumable;  // the server's rule: a checkpoint, and not finished
  const error = $("#run-error");
  error.hidden = !d.error;
  error.textContent = d.error ? `the run failed: ${d.error}` : "";
  $("#run-commands").replaceChildren(d.commands.resume ? commandBox(d.commands.resume, "resume") : "",
    commandBox(d.commands.chat, "chat"));
  $("#run-log").textContent = d.log;
  if (state.detail) {
    $("#run-manifest").textContent = JSON.stringify(state.detail.manifest, null, 2);
    $("#run-config").textContent = state.detail.config || "";
  }
}

const stat = (name, value) => el("span", {class: "stat"}, el("small", {text: name}), el("b", {text: String(value)}));

async function runAction(action) {
  clearErrors(tab());
  try {
    await api(`/api/train/${action}`, {dir: state.run});
    clearTimeout(state.runTimer);
    if (action === "resume") state.records = [];
    setTimeout(poll, 300);
    refreshRuns();
  } catch (e) { showError(tab(), e); }
}
