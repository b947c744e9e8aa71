// Live dashboard: polls /api/summary-timestamps, reloads only the charts that changed,
// marks them with a red dot for a few seconds, and backs off while the API is down.
"use strict";

const POLL_MS = Number(document.body.dataset.pollMs) || 2000;
const DOT_MS = Math.max(5000, 2 * POLL_MS);
const MAX_BACKOFF_MS = 30000;
const PAGE_SIZE = 24; // never thousands of images at once

const grid = document.getElementById("grid");
const statusLine = document.getElementById("status");
const empty = document.getElementById("empty");
const pager = document.getElementById("pager");
const pageLabel = document.getElementById("page-label");

let known = {};        // sensor id -> latest summary timestamp seen
let page = 0;
let failures = 0;
const dotTimers = {};

function sensorIds() { return Object.keys(known).sort(); }

function cardFor(sensorId) {
  return grid.querySelector(`.card[data-sensor-id="${CSS.escape(sensorId)}"]`);
}

function chartUrl(sensorId, timestamp) {
  return `/plot/${encodeURIComponent(sensorId)}.png?v=${encodeURIComponent(timestamp)}`;
}

function buildCard(sensorId) {
  const card = document.createElement("article");
  card.className = "card";
  card.dataset.sensorId = sensorId;
  card.dataset.updated = "false";
  const title = document.createElement("h2");
  const name = document.createElement("span");
  name.textContent = sensorId;
  const dot = document.createElement("span");
  dot.className = "dot";
  dot.title = "just updated";
  title.append(name, dot);
  const meta = document.createElement("p");
  meta.className = "meta";
  const img = document.createElement("img");
  img.alt = `temperature chart of ${sensorId}`;
  img.width = 480; img.height = 240;
  card.append(title, meta, img);
  return card;
}

function describe(summary) {
  if (!summary) return "";
  const time = new Date(summary.timestamp).toLocaleTimeString();
  return `as of ${time} · avg ${summary.avg_temp.toFixed(2)} °C · ` +
         `min ${summary.min_temp.toFixed(2)} · max ${summary.max_temp.toFixed(2)}`;
}

function markUpdated(card) {
  const id = card.dataset.sensorId;
  card.dataset.updated = "true";
  clearTimeout(dotTimers[id]);
  dotTimers[id] = setTimeout(() => { card.dataset.updated = "false"; }, DOT_MS);
}

function renderPage() {
  const ids = sensorIds();
  const pages = Math.max(1, Math.ceil(ids.length / PAGE_SIZE));
  page = Math.min(page, pages - 1);
  const visible = ids.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
  pager.hidden = pages <= 1;
  pageLabel.textContent = `page ${page + 1} of ${pages} · ${ids.length} sensors`;
  empty.hidden = ids.length > 0;
  for (const card of [...grid.children]) {
    if (!visible.includes(card.dataset.sensorId)) card.remove();
  }
  visible.forEach((id, index) => {
    let card = cardFor(id);
    if (!card) {
      card = buildCard(id);
      card.querySelector("img").src = chartUrl(id, known[id]);
    }
    if (grid.children[index] !== card) grid.insertBefore(card, grid.children[index] || null);
  });
}

async function refreshDetails() {
  const response = await fetch("/api/sensors", { cache: "no-store" });
  if (!response.ok) throw new Error(`sensors: HTTP ${response.status}`);
  for (const entry of await response.json()) {
    const card = cardFor(entry.sensor_id);
    if (card) card.querySelector(".meta").textContent = describe(entry.latest);
  }
}

async function poll() {
  const response = await fetch("/api/summary-timestamps", { cache: "no-store" });
  if (!response.ok) throw new Error(`summary-timestamps: HTTP ${response.status}`);
  const latest = await response.json();
  const first = Object.keys(known).length === 0;
  const changed = Object.keys(latest).filter((id) => known[id] !== latest[id]);
  const previous = known;
  known = latest;
  renderPage();
  for (const id of changed) {
    const card = cardFor(id);
    if (!card) continue;
    if (previous[id] !== undefined) {
      card.querySelector("img").src = chartUrl(id, latest[id]);
      markUpdated(card);
    }
  }
  if (first || changed.length > 0) await refreshDetails();
}

function showConnected() {
  statusLine.classList.remove("lost");
  statusLine.textContent = `live · updated ${new Date().toLocaleTimeString()}`;
}

function showLost(delayMs) {
  statusLine.classList.add("lost");
  statusLine.textContent = `connection lost — retrying in ${Math.round(delayMs / 1000)} s`;
}

async function loop() {
  let delay = POLL_MS;
  try {
    await poll();
    failures = 0;
    showConnected();
  } catch (error) {
    failures += 1;
    delay = Math.min(MAX_BACKOFF_MS, POLL_MS * 2 ** Math.min(failures, 8));
    showLost(delay);
  }
  setTimeout(loop, delay);
}

document.getElementById("previous").addEventListener("click", () => { page = Math.max(0, page - 1); renderPage(); });
document.getElementById("next").addEventListener("click", () => { page += 1; renderPage(); });
loop();
