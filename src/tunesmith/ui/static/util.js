// Small helpers shared by the tabs: DOM building, the JSON API, inline errors, copyable commands.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const $ = (selector, scope = document) => scope.querySelector(selector);
export const $$ = (selector, scope = document) => [...scope.querySelectorAll(selector)];

// An error the server explained: message, hint, and the form field it belongs to (or null).
export class ApiError extends Error {
  constructor(body, status) {
    super(body.error || `HTTP ${status}`);
    this.hint = body.hint || null;
    this.field = body.field || null;
    this.status = status;
  }
}

export async function api(url, body = undefined) {
  const options = body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)};
  let response;
  try {
    response = await fetch(url, options);
  } catch (e) {
    throw new ApiError({error: "the tunesmith ui server does not answer", hint: "is `tunesmith ui` still running?"}, 0);
  }
  const data = await response.json().catch(() => ({error: `HTTP ${response.status}: not JSON`}));
  if (!response.ok) throw new ApiError(data, response.status);
  return data;
}

// Show `error` next to its field inside `scope` (an element [data-error-for=FIELD]), else in the scope's
// general error box ([data-error-for=general]).
export function showError(scope, error) {
  clearErrors(scope);
  const box = (error.field && $(`[data-error-for="${CSS.escape(error.field)}"]`, scope))
    || $('[data-error-for="general"]', scope);
  if (!box) { console.error(error); return; }
  box.replaceChildren(el("span", {text: error.message}), error.hint ? el("span", {class: "hint", text: error.hint}) : "");
  box.hidden = false;
  box.closest(".field")?.classList.add("invalid");
}

export function setFieldErrors(scope, errors, cls = "field-error") {
  for (const box of $$(`.${cls}`, scope)) {
    const message = errors[box.dataset.errorFor];
    box.textContent = message || "";
    box.hidden = !message;
    box.closest(".field")?.classList.toggle(cls === "field-error" ? "invalid" : "warned", Boolean(message));
  }
}

export function clearErrors(scope) {
  for (const box of $$(".field-error", scope)) { box.textContent = ""; box.hidden = true; }
  for (const field of $$(".field.invalid", scope)) field.classList.remove("invalid");
}

// A command the user can copy and run: every action in the UI has one.
export function commandBox(command, label = "same as") {
  const code = el("code", {text: command});
  const button = el("button", {class: "copy", type: "button", title: "copy to clipboard", text: "copy",
    onclick: async () => {
      try { await navigator.clipboard.writeText(command); button.textContent = "copied"; }
      catch { window.getSelection().selectAllChildren(code); button.textContent = "selected"; }
      setTimeout(() => (button.textContent = "copy"), 1500);
    }});
  return el("div", {class: "command"}, el("span", {class: "label", text: label}), code, button);
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

export function fmtNumber(x, digits = 4) {
  if (x === null || x === undefined) return "–";
  return Math.abs(x) >= 1000 ? Math.round(x).toLocaleString("en") : Number(x).toPrecision(digits);
}

export function fmtSeconds(s) {
  if (s === null || s === undefined) return "–";
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}
