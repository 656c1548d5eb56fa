// The Chat tab: a run folder or a base model; answers stream in as server-sent events; with "compare",
// the base model answers the same conversation next to the tuned one.
import {$, api, el, showError, clearErrors, commandBox} from "./util.js";

const tab = () => $("#tab-chat");
const state = {messages: [], controller: null};

export function initChat() {
  $("#chat-input").addEventListener("submit", (e) => { e.preventDefault(); send(); });
  $("#chat-prompt").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); send(); }
  });
  $("#chat-stop").addEventListener("click", () => state.controller?.abort());
  $("#chat-reset").addEventListener("click", () => {
    state.messages = [];
    $("#chat-log").replaceChildren();
    clearErrors(tab());
  });
  $("#chat-target").addEventListener("change", () => { state.messages = []; $("#chat-log").replaceChildren(); });
}

export async function onShowChat() {
  try {
    const r = await api("/api/chat/targets");
    $("#chat-targets").replaceChildren(...r.runs.map((run) => el("option", {value: run.dir, text: `run · ${run.method}`})),
      ...r.embedded.map((name) => el("option", {value: name, text: "embedded model"})));
    if (!$("#chat-target").value && r.runs.length) $("#chat-target").value = r.runs[0].dir;
  } catch (e) { showError(tab(), e); }
}

function bubble(side) {
  return el("div", {class: `bubble assistant ${side}`, "data-side": side},
    el("div", {class: "who", text: side === "model" ? "assistant" : side}),
    el("div", {class: "text"}), el("div", {class: "meta muted", text: "…"}));
}

async function send() {
  const prompt = $("#chat-prompt").value.trim();
  if (!prompt || state.controller) return;
  clearErrors(tab());
  const compare = $("#chat-compare").checked;
  const messages = [...state.messages, {role: "user", content: prompt}];
  const log = $("#chat-log");
  const answers = el("div", {class: `answers ${compare ? "compare" : ""}`});
  log.append(el("div", {class: "bubble user"}, el("div", {class: "who", text: "you"}), el("div", {class: "text", text: prompt})),
    answers);
  $("#chat-prompt").value = "";
  const body = {target: $("#chat-target").value.trim(), template: $("#chat-template").value, system: $("#chat-system").value,
    messages, compare, max_new_tokens: Number($("#chat-max").value) || 128,
    temperature: Number($("#chat-temperature").value) || 0};
  state.controller = new AbortController();
  $("#chat-stop").disabled = false;
  $("#chat-send").disabled = true;
  const texts = {};
  try {
    const response = await fetch("/api/chat/stream", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify(body), signal: state.controller.signal});
    if (!response.ok) {
      const data = await response.json().catch(() => ({error: `HTTP ${response.status}`}));
      throw Object.assign(new Error(data.error), {hint: data.hint, field: data.field});
    }
    for await (const [event, data] of sse(response)) {
      if (event === "start") {
        $("#chat-command").replaceChildren(commandBox(data.command));
        answers.before(el("div", {class: "muted small", text: `${data.template} template · ${data.prompt_tokens} prompt tokens`}));
      } else if (event === "piece") {
        let box = answers.querySelector(`[data-side="${data.side}"]`);
        if (!box) answers.append(box = bubble(data.side));
        texts[data.side] = (texts[data.side] || "") + data.text;
        box.querySelector(".text").textContent = texts[data.side];
        log.scrollTop = log.scrollHeight;
      } else if (event === "done") {
        let box = answers.querySelector(`[data-side="${data.side}"]`);
        if (!box) answers.append(box = bubble(data.side));
        // The completion is the answer of record: pieces are shown as they come, but a byte-fallback
        // tokenizer can still revise the decoded tail once the last bytes of a character arrive.
        box.querySelector(".text").replaceChildren(data.text ? data.text
          : el("i", {class: "muted", text: "(empty answer: the end token came first)"}));
        box.classList.add("done");
        box.querySelector(".meta").textContent = `${data.completion_tokens} tokens · ${data.finish_reason} · ` +
          `${data.seconds} s · ${data.tokens_per_s ?? "–"} tokens/s`;
        texts[data.side] = data.text;
      } else if (event === "error") {
        throw Object.assign(new Error(data.error), {hint: data.hint, field: data.field});
      }
    }
    const answer = texts.tuned ?? texts.model;
    if (answer !== undefined) state.messages = [...messages, {role: "assistant", content: answer}];
  } catch (e) {
    if (e.name === "AbortError") {
      answers.append(el("p", {class: "muted", text: "stopped"}));
    } else {
      if (!answers.children.length) answers.remove(), log.lastChild?.remove();
      $("#chat-prompt").value = $("#chat-prompt").value || prompt;
      showError(tab(), e);
    }
  } finally {
    state.controller = null;
    $("#chat-stop").disabled = true;
    $("#chat-send").disabled = false;
  }
}

// Server-sent events from a fetch() body (EventSource cannot POST): yields [event, data] pairs.
async function* sse(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      yield [event, JSON.parse(data || "{}")];
    }
  }
}
