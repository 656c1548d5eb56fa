// Entry point: tabs (kept in the URL hash, so a reload stays put) and each tab's set-up.
import {$, $$, api} from "./util.js";
import {initData} from "./data.js";
import {initTrain, onShowTrain} from "./train.js";
import {initChat, onShowChat} from "./chat.js";

const onShow = {train: onShowTrain, chat: onShowChat};

function show(tab) {
  if (!["data", "train", "chat"].includes(tab)) tab = "data";
  for (const panel of $$(".tab-panel")) panel.hidden = panel.id !== `tab-${tab}`;
  for (const link of $$("nav a")) link.classList.toggle("on", link.dataset.tab === tab);
  onShow[tab]?.();
}

window.addEventListener("hashchange", () => show(location.hash.slice(1)));
window.addEventListener("DOMContentLoaded", async () => {
  initData();
  initTrain();
  initChat();
  show(location.hash.slice(1));
  try {
    const info = await api("/api/info");
    $("#info").textContent = `v${info.version} · ${info.root}`;
  } catch (e) { $("#info").textContent = e.message; }
});
