// Live dashboard. Polls /api/summary-timestamps in its delta form (a cursor, and an ETag so
// an idle poll is a 304), reloads only the visible charts whose sensor changed, marks them
// with a red dot, and never shows a broken chart: a chart loads off-screen and replaces the
// last good one only once it has loaded; a failed one is retried with backoff while its card
// and the status line say so. Polling stops while the tab is hidden. All times are UTC.
// Screen readers hear only #announcer: a change of connection or of chart trouble, and new
// alerts; the status line is not a live region, as it changes with every failing chart.
"use strict";

const body = document.body;
const POLL_MS = Number(body.dataset.pollMs) || 2000;
const STALE_MS = Number(body.dataset.staleMs) || 60000;
const WINDOW = Number(body.dataset.window) || 10;
const DOT_MS = Math.max(5000, 2 * POLL_MS);
const MAX_BACKOFF_MS = 30000;
const CHART_RETRY_MAX_MS = 8000;
const PAGE_SIZE = 24; // never thousands of images at once
const CHART_POINTS = Number(body.dataset.chartPoints) || 50; // what a chart draws by default
// The range choice: 0 is the default (CHART_POINTS), the others as the chart route offers them.
const RANGES = [[0, CHART_POINTS], ...[50, 200, 1000].filter((n) => n !== CHART_POINTS).map((n) => [n, n])]
  .sort((a, b) => a[1] - b[1]);

const $ = (id) => document.getElementById(id);
const grid = $("grid"), statusLine = $("status"), lastPoll = $("last-poll"), empty = $("empty");
const search = $("search"), sharedY = $("shared-y"), announcer = $("announcer");
const previousButton = $("previous"), nextButton = $("next"), pageLabel = $("page-label");
const collator = new Intl.Collator("en", { numeric: true, sensitivity: "base" });
const darkScheme = window.matchMedia("(prefers-color-scheme: dark)");

let versions = {};   // sensor id -> version of its latest summary ("{timestamp}~{digest}")
let alerts = {};     // sensor id -> "high" | "low"
let cursor = "0", etag = null, skewMs = 0;
let page = 0, failures = 0, timer = null, polling = false, connected = null;
let spokenState = "connecting", spoken = []; // what #announcer said last, what it will say
const points = {};   // sensor id -> chosen range (0: the default)
const details = {};  // sensor id -> {version, latest} shown on its card
const dotTimers = {}, chartRetries = {};

const timestampOf = (version) => (version || "").split("~")[0];
const utcTime = (timestamp) => new Date(timestamp).toISOString().slice(11, 19);
const now = () => Date.now() + skewMs;

function duration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return `${s} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

function orderedIds() {
  const term = search.value.trim().toLowerCase();
  return Object.keys(versions)
    .filter((id) => !term || id.toLowerCase().includes(term))
    .sort((a, b) => (Number(b in alerts) - Number(a in alerts)) || collator.compare(a, b));
}

function cardFor(id) { return grid.querySelector(`.card[data-sensor-id="${CSS.escape(id)}"]`); }

function chartUrl(id, scale) {
  const query = new URLSearchParams({ v: versions[id] || "", scale: String(scale),
    theme: darkScheme.matches ? "dark" : "light", y: sharedY.checked ? "shared" : "auto" });
  if (points[id]) query.set("points", String(points[id]));
  return `/plot/${encodeURIComponent(id)}.png?${query}`;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function buildCard(id) {
  const card = element("article", "card");
  Object.assign(card.dataset, { sensorId: id, updated: "false", stale: "false", alert: "false", chartError: "false" });
  const headingId = `h-${id.replace(/[^A-Za-z0-9_-]/g, "_")}`;
  card.setAttribute("aria-labelledby", headingId);
  const head = element("div", "card-head");
  const title = element("h2");
  title.id = headingId;
  const dot = element("span", "dot");
  dot.setAttribute("role", "img");
  dot.setAttribute("aria-label", "just updated");
  title.append(element("span", "name", id), dot);
  head.append(title, element("span", "badges"));
  const value = element("p", "value");
  value.append(element("span", "big", "–"), element("span", "ago"));
  const box = element("div", "chart-box");
  const error = element("p", "chart-error");
  error.hidden = true;
  box.append(error);
  const range = element("label", "range", "Range ");
  const select = element("select");
  for (const [value, count] of RANGES) select.append(new Option(`last ${count} summaries`, String(value)));
  select.value = String(points[id] || 0);
  select.addEventListener("change", () => { points[id] = Number(select.value); loadChart(card, true); });
  range.append(select);
  const explain = element("p", "explain",
    `Large: average of the last ${WINDOW} readings. Chart: max, avg and min of the last ${WINDOW} readings at each summary; dashed lines: alert thresholds.`);
  card.append(head, value, element("p", "meta", "\u00a0"), box, range, explain);
  return card;
}

// Charts ---------------------------------------------------------------------------------
function loadChart(card, force = false) {
  const id = card.dataset.sensorId;
  const src = chartUrl(id, 1), src2 = chartUrl(id, 2);
  if (!force && card.dataset.chartWanted === src) return;
  card.dataset.chartWanted = src;
  clearTimeout(chartRetries[id]?.timer);
  const img = new Image(420, 220);
  img.alt = `temperature chart of ${id}: maximum, average and minimum over time, UTC`;
  img.srcset = `${src} 1x, ${src2} 2x`;
  img.src = src;
  img.decoding = "async";
  img.onload = () => {
    if (card.dataset.chartWanted !== src) return; // a newer chart was asked for meanwhile
    const box = card.querySelector(".chart-box");
    const old = box.querySelector("img");
    if (old) old.replaceWith(img); else box.prepend(img);
    delete chartRetries[id];
    setChartError(card, false);
  };
  img.onerror = () => {
    if (card.dataset.chartWanted !== src) return;
    // Keep the last good image; try again later, a little later each time.
    const attempt = (chartRetries[id]?.attempt || 0) + 1;
    const delay = Math.min(CHART_RETRY_MAX_MS, 1000 * 2 ** (attempt - 1));
    chartRetries[id] = { attempt, timer: setTimeout(() => loadChart(card, true), delay) };
    setChartError(card, true, delay);
  };
}

function setChartError(card, failing, delay) {
  card.dataset.chartError = String(failing);
  const note = card.querySelector(".chart-error");
  note.hidden = !failing;
  if (failing) note.textContent = `chart not loading — retrying in ${Math.round(delay / 1000)} s`;
  showStatus();
}

function retryFailedCharts() {
  for (const card of grid.querySelectorAll('.card[data-chart-error="true"]')) loadChart(card, true);
}

// Cards ----------------------------------------------------------------------------------
function describe(card) {
  const id = card.dataset.sensorId;
  const shown = details[id];
  const version = versions[id];
  const stale = version !== undefined && now() - Date.parse(timestampOf(version)) > STALE_MS;
  const alert = alerts[id];
  card.dataset.stale = String(stale);
  card.dataset.alert = String(Boolean(alert));
  const badges = card.querySelector(".badges");
  const wanted = [alert && ["alert", alert === "high" ? "HIGH" : "LOW"], stale && ["stale", "STALE"]].filter(Boolean);
  if (badges.dataset.shown !== JSON.stringify(wanted)) {
    badges.replaceChildren(...wanted.map(([kind, text]) => element("span", `badge ${kind}`, text)));
    badges.dataset.shown = JSON.stringify(wanted);
  }
  const age = version === undefined ? "" : duration(now() - Date.parse(timestampOf(version)));
  card.querySelector(".ago").textContent = !age ? "" : stale ? `no data for ${age}` : `updated ${age} ago`;
  if (!shown) return;
  const s = shown.latest;
  card.querySelector(".big").textContent = `${s.avg_temp.toFixed(2)} °C`;
  card.querySelector(".meta").textContent =
    `as of ${utcTime(s.timestamp)} UTC · min ${s.min_temp.toFixed(2)} · max ${s.max_temp.toFixed(2)} °C`;
}

function markUpdated(card) {
  const id = card.dataset.sensorId;
  card.dataset.updated = "true";
  clearTimeout(dotTimers[id]);
  dotTimers[id] = setTimeout(() => { card.dataset.updated = "false"; }, DOT_MS);
}

function visibleIds() {
  const ids = orderedIds();
  const pages = Math.max(1, Math.ceil(ids.length / PAGE_SIZE));
  page = Math.min(page, pages - 1);
  previousButton.disabled = page === 0;
  nextButton.disabled = page >= pages - 1;
  const total = Object.keys(versions).length;
  const found = ids.length === total ? `${total} sensors` : `${ids.length} of ${total} sensors`;
  pageLabel.textContent = pages > 1 ? `page ${page + 1} of ${pages} · ${found}` : found;
  return ids.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
}

function renderPage() {
  const visible = visibleIds();
  empty.hidden = visible.length > 0 || (Object.keys(versions).length > 0 && search.value.trim() === "");
  if (Object.keys(versions).length > 0 && visible.length === 0) empty.textContent = "No sensor matches the search.";
  for (const card of [...grid.children]) if (!visible.includes(card.dataset.sensorId)) card.remove();
  visible.forEach((id, index) => {
    const card = cardFor(id) || buildCard(id);
    if (grid.children[index] !== card) grid.insertBefore(card, grid.children[index] || null);
    describe(card);
    loadChart(card);
  });
  refreshDetails(visible).catch(() => {}); // the next poll tries again
}

async function refreshDetails(ids) {
  const wanted = ids.filter((id) => details[id]?.version !== versions[id]);
  if (wanted.length === 0) return;
  const response = await fetch(`/api/sensors?ids=${wanted.map(encodeURIComponent).join(",")}`, { cache: "no-store" });
  if (!response.ok) throw new Error(`sensors: HTTP ${response.status}`);
  for (const entry of await response.json()) {
    details[entry.sensor_id] = { version: entry.version, latest: entry.latest };
    const card = cardFor(entry.sensor_id);
    if (card) describe(card);
  }
}

// Polling --------------------------------------------------------------------------------
async function poll() {
  const response = await fetch(`/api/summary-timestamps?since=${encodeURIComponent(cursor)}`,
    { cache: "no-store", headers: etag ? { "If-None-Match": etag } : {} });
  const date = Date.parse(response.headers.get("Date") || "");
  if (!Number.isNaN(date)) skewMs = date - Date.now();
  if (response.status === 304) return [];
  if (!response.ok) throw new Error(`summary-timestamps: HTTP ${response.status}`);
  const delta = await response.json();
  const first = cursor === "0";
  const next = delta.full ? {} : { ...versions };
  for (const id of delta.removed || []) delete next[id];
  Object.assign(next, delta.versions);
  const changed = Object.keys(next).filter((id) => versions[id] !== undefined && versions[id] !== next[id]);
  announceAlerts(alerts, delta.alerts || {}, first);
  versions = next;
  alerts = delta.alerts || {};
  cursor = delta.cursor;
  etag = response.headers.get("ETag");
  return changed;
}

function announce(text) {
  // Said once, together with anything else said in the same turn (a polite region may
  // drop all but the last of several quick changes).
  if (spoken.length === 0) queueMicrotask(() => { announcer.textContent = spoken.join(" "); spoken = []; });
  spoken.push(text);
}

function announceAlerts(before, after, first) {
  const fresh = Object.keys(after).filter((id) => before[id] !== after[id]).sort(collator.compare);
  if (fresh.length === 0) return;
  const names = fresh.slice(0, 5).map((id) => `${id} ${after[id]}`).join(", ");
  const more = fresh.length > 5 ? ` and ${fresh.length - 5} more` : "";
  announce(`${first ? "In alert" : "New alert"}: ${names}${more}.`);
}

// What #announcer says when the page goes from one state to another ("": nothing).
function spokenChange(from, to) {
  if (to === "lost") return "Connection lost; retrying.";
  if (from === "lost") return to === "degraded" ? "Connection back; some charts are not loading." : "Connection back; live.";
  if (to === "degraded") return "Some charts are not loading; retrying.";
  if (from === "degraded" && to === "live") return "All charts loading again.";
  return ""; // connecting → live: the page has just opened
}

function showStatus() {
  // The visible line counts the failing charts; #announcer speaks only when the state
  // changes (connection lost or back, charts failing or all back), never with the count.
  const failing = grid.querySelectorAll('.card[data-chart-error="true"]').length;
  const state = connected === false ? "lost" : connected === null ? "connecting" : failing > 0 ? "degraded" : "live";
  let text = "live";
  if (state === "lost") text = "connection lost — retrying";
  else if (state === "connecting") text = "connecting…";
  else if (state === "degraded") text = `live · ${failing} chart${failing > 1 ? "s" : ""} not loading — retrying`;
  statusLine.classList.toggle("lost", state === "lost");
  statusLine.classList.toggle("degraded", state === "degraded");
  if (statusLine.textContent !== text) statusLine.textContent = text;
  if (state !== spokenState) {
    const said = spokenChange(spokenState, state);
    if (said) announce(said);
    spokenState = state;
  }
}

async function tick() {
  timer = null;
  if (document.visibilityState === "hidden" || polling) return;
  polling = true;
  let delay = POLL_MS;
  try {
    const changed = await poll();
    const recovered = connected === false;
    failures = 0;
    connected = true;
    renderPage();
    for (const id of changed) {
      const card = cardFor(id);
      if (card) markUpdated(card);
    }
    if (recovered) retryFailedCharts();
    lastPoll.textContent = `All times UTC · checked ${utcTime(new Date(now()).toISOString())}`;
  } catch (error) {
    failures += 1;
    connected = false;
    delay = Math.min(MAX_BACKOFF_MS, POLL_MS * 2 ** Math.min(failures, 8));
    lastPoll.textContent = `All times UTC · next try in ${Math.round(delay / 1000)} s`;
  } finally {
    polling = false;
  }
  showStatus();
  schedule(delay);
}

function schedule(delay) {
  clearTimeout(timer);
  timer = document.visibilityState === "hidden" ? null : setTimeout(tick, delay);
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "hidden") { clearTimeout(timer); timer = null; }
  else schedule(0); // at once: the page may be minutes behind
});
previousButton.addEventListener("click", () => { page = Math.max(0, page - 1); renderPage(); });
nextButton.addEventListener("click", () => { page += 1; renderPage(); });
search.addEventListener("input", () => { page = 0; renderPage(); });
sharedY.addEventListener("change", () => { for (const card of grid.children) loadChart(card, true); });
darkScheme.addEventListener("change", () => { for (const card of grid.children) loadChart(card, true); });
tick();
