// Live dashboard. Polls /api/summary-timestamps in its delta form (a cursor, and an ETag so
// an idle poll is a 304), reloads only the visible charts whose sensor changed, marks them
// with a dot, and never shows a broken chart: a chart loads off-screen and replaces the last
// good one only once it has loaded; a failed one is retried with backoff while its card and
// the status line say so. Polling stops while the tab is hidden. All times are UTC.
// Ages count on the server's clock (estimated from each answer's Date header) from when a
// sensor was last heard, so cards turn stale during an outage with no answer at all.
// Screen readers hear only #announcer: a change of connection or of chart trouble, and new
// alerts; the status line is not a live region, as it changes every second while lost.
"use strict";

import { chartWindow, readUrl, writeUrl } from "./page-state.js";
import { renderFleet, setupFleet } from "./fleet.js";

const body = document.body;
// window.dashboardTuning (set before the page's scripts run, e.g. by a test) overrides limits.
const tuning = window.dashboardTuning || {};
const POLL_MS = tuning.pollMs || Number(body.dataset.pollMs) || 2000;
const STALE_MS = tuning.staleMs || Number(body.dataset.staleMs) || 60000;
const BACKOFF_CAP_MS = tuning.backoffCapMs || Number(body.dataset.backoffCapMs) || 8000;
const DOT_MS = Math.max(5000, 2 * POLL_MS);
const CHART_RETRY_MAX_MS = 8000;
const PAGE_SIZE = 24; // never thousands of images at once
const CHART_POINTS = Number(body.dataset.chartPoints) || 50; // what a chart draws by default
// The per-card choice when no time range is set: 0 is the default (CHART_POINTS).
const RANGES = [[0, CHART_POINTS], ...[50, 200, 1000].filter((n) => n !== CHART_POINTS).map((n) => [n, n])]
  .sort((a, b) => a[1] - b[1]);

const $ = (id) => document.getElementById(id);
const grid = $("grid"), statusLine = $("status"), lastPoll = $("last-poll"), empty = $("empty");
const search = $("search"), sharedY = $("shared-y"), announcer = $("announcer"), retryNow = $("retry-now");
const previousButton = $("previous"), nextButton = $("next"), pageLabel = $("page-label");
const timeRange = $("time-range"), customRange = $("custom-range"), rangeFrom = $("range-from"), rangeTo = $("range-to");
const collator = new Intl.Collator("en", { numeric: true, sensitivity: "base" });
const darkScheme = window.matchMedia("(prefers-color-scheme: dark)");

// Shared with fleet.js and detail.js.
export const fleet = {
  versions: {},  // sensor id -> version of its latest summary ("{timestamp}~{digest}")
  alerts: {},    // sensor id -> "high" | "low" (the latest average's threshold alert)
  heard: {},     // sensor id -> ms when last heard (the server's `last_heard`, if it sends one)
  latest: {},    // sensor id -> latest summary document (fleet view and visible cards)
  collator, STALE_MS,
  now: () => Date.now() + skewMs,
  isStale: (id) => fleet.versions[id] !== undefined && fleet.now() - heardAt(id) > STALE_MS,
  ageMs: (id) => fleet.now() - heardAt(id),
  state: readUrl(),
  go: (changes, push) => go(changes, push),
};

let cursor = "0", etag = null, skewMs = 0;
let failures = 0, timer = null, nextTryAt = 0, polling = false, connected = null, lostSince = 0;
let spokenState = "connecting", spoken = []; // what #announcer said last, what it will say
let windowShown = ""; // the chart window the cards were last asked for
const points = {};   // sensor id -> chosen range (0: the default)
const shownVersion = {}; // sensor id -> version whose values its card shows
const dotTimers = {}, chartRetries = {};

const timestampOf = (version) => (version || "").split("~")[0];
const utcTime = (ms) => new Date(ms).toISOString().slice(11, 19);
function heardAt(id) {
  return fleet.heard[id] ?? Date.parse(timestampOf(fleet.versions[id]));
}

export function duration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return `${s} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function orderedIds() {
  const term = search.value.trim().toLowerCase();
  const ids = Object.keys(fleet.versions).filter((id) => !term || id.toLowerCase().includes(term));
  const alerting = (id) => Number(id in fleet.alerts && !fleet.isStale(id));
  return ids.sort((a, b) => (alerting(b) - alerting(a)) || collator.compare(a, b));
}

function cardFor(id) { return grid.querySelector(`.card[data-sensor-id="${CSS.escape(id)}"]`); }

function chartUrl(id, scale) {
  const query = new URLSearchParams({ v: fleet.versions[id] || "", scale: String(scale),
    theme: darkScheme.matches ? "dark" : "light", y: sharedY.checked ? "shared" : "auto" });
  const window = chartWindow(fleet.state, fleet.now());
  if (window) { query.set("start", window.start); query.set("end", window.end); }
  else if (points[id]) query.set("points", String(points[id]));
  return `/plot/${encodeURIComponent(id)}.png?${query}`;
}

function buildCard(id) {
  const card = element("article", "card");
  Object.assign(card.dataset, { sensorId: id, updated: "false", stale: "false", alert: "false", chartError: "false" });
  const headingId = `h-${id.replace(/[^A-Za-z0-9_-]/g, "_")}`;
  card.setAttribute("aria-labelledby", headingId);
  const head = element("div", "card-head");
  const title = element("h2");
  title.id = headingId;
  const link = element("a", "name", id);
  link.href = `?sensor=${encodeURIComponent(id)}`;
  link.addEventListener("click", (event) => { event.preventDefault(); go({ sensor: id }, true); });
  const dot = element("span", "dot");
  dot.title = "just updated";
  dot.setAttribute("role", "img");
  dot.setAttribute("aria-label", "just updated");
  title.append(link, dot);
  head.append(title, element("span", "badges"));
  const value = element("p", "value");
  value.append(element("span", "big", "–"), element("span", "ago"));
  const box = element("div", "chart-box");
  const error = element("p", "chart-error");
  error.hidden = true;
  box.append(error);
  const range = element("label", "range", "Range ");
  const select = element("select");
  select.setAttribute("aria-label", `Summaries drawn for ${id}`);
  for (const [value, count] of RANGES) select.append(new Option(`last ${count} summaries`, String(value)));
  select.value = String(points[id] || 0);
  select.addEventListener("change", () => { points[id] = Number(select.value); loadChart(card, true); });
  range.append(select);
  range.hidden = Boolean(fleet.state.range);
  card.append(head, value, element("p", "meta", "\u00a0"), box, range);
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
  // Width descriptors: crisp at 1x, 1.4x and 2x whatever width the card gives the chart.
  img.srcset = `${src} 420w, ${src2} 840w`;
  // The box's real width: the browser then picks 840w at 1x once the box is wider than 420 px.
  img.sizes = `${Math.round(card.querySelector(".chart-box").clientWidth) || 420}px`;
  img.src = src;
  img.decoding = "async";
  if (!firstCharts.open) img.fetchPriority = "high";
  img.onload = () => {
    if (!firstCharts.open) firstChartSettled();
    if (card.dataset.chartWanted !== src) return; // a newer chart was asked for meanwhile
    const box = card.querySelector(".chart-box");
    const old = box.querySelector("img");
    if (old) old.replaceWith(img); else box.prepend(img);
    delete chartRetries[id];
    setChartError(card, false);
  };
  img.onerror = () => {
    if (!firstCharts.open) firstChartSettled();
    if (card.dataset.chartWanted !== src) return;
    // Keep the last good image; try again later, a little later each time.
    const attempt = (chartRetries[id]?.attempt || 0) + 1;
    const delay = Math.min(CHART_RETRY_MAX_MS, 1000 * 2 ** (attempt - 1));
    chartRetries[id] = { attempt, timer: setTimeout(() => loadChart(card, true), delay) };
    setChartError(card, true, delay);
  };
}

// On a page's first load the first FIRST_CHARTS charts (those on screen) go first; the rest
// of the page's charts are asked for once those have arrived (on a phone: 35 kB each).
const FIRST_CHARTS = 4;
const firstCharts = { open: false, settled: 0, timer: null };
function firstChartSettled() {
  firstCharts.settled += 1;
  if (firstCharts.settled >= Math.min(FIRST_CHARTS, grid.children.length)) openChartGate();
}
function openChartGate() {
  if (firstCharts.open) return;
  firstCharts.open = true;
  clearTimeout(firstCharts.timer);
  for (const card of grid.children) loadChart(card);
}

function setChartError(card, failing, delay) {
  card.dataset.chartError = String(failing);
  const note = card.querySelector(".chart-error");
  note.hidden = !failing;
  if (failing) note.textContent = `chart not loading — retrying in ${Math.round(delay / 1000)} s`;
  showStatus();
}

function reloadCharts(onlyFailed) {
  const selector = onlyFailed ? '.card[data-chart-error="true"]' : ".card";
  for (const card of grid.querySelectorAll(selector)) loadChart(card, true);
}

// Cards ----------------------------------------------------------------------------------
function describe(card) {
  const id = card.dataset.sensorId;
  const version = fleet.versions[id];
  const stale = fleet.isStale(id);
  // A stale sensor is stale, whatever its last average: that average is old news.
  const alert = stale ? undefined : fleet.alerts[id];
  card.dataset.stale = String(stale);
  card.dataset.alert = String(Boolean(alert));
  const badges = card.querySelector(".badges");
  const wanted = [alert && ["alert", alert === "high" ? "HIGH" : "LOW"], stale && ["stale", "STALE"]].filter(Boolean);
  if (badges.dataset.shown !== JSON.stringify(wanted)) {
    badges.replaceChildren(...wanted.map(([kind, text]) => element("span", `badge ${kind}`, text)));
    badges.dataset.shown = JSON.stringify(wanted);
  }
  const age = version === undefined ? "" : duration(fleet.ageMs(id));
  const was = stale && fleet.alerts[id] ? ` (last avg was ${fleet.alerts[id]})` : "";
  card.querySelector(".ago").textContent = !age ? "" : stale ? `no data for ${age}${was}` : `updated ${age} ago`;
  const s = fleet.latest[id];
  if (!s || shownVersion[id] === undefined) return;
  card.querySelector(".big").textContent = `${s.avg_temp.toFixed(2)} °C`;
  card.querySelector(".meta").textContent =
    `as of ${s.timestamp.slice(11, 19)} UTC · min ${s.min_temp.toFixed(2)} · max ${s.max_temp.toFixed(2)} °C`;
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
  fleet.state.page = Math.min(fleet.state.page, pages - 1);
  const page = fleet.state.page;
  previousButton.disabled = page === 0;
  nextButton.disabled = page >= pages - 1;
  const total = Object.keys(fleet.versions).length;
  const found = ids.length === total ? `${total} sensors` : `${ids.length} of ${total} sensors`;
  pageLabel.textContent = pages > 1 ? `page ${page + 1} of ${pages} · ${found}` : found;
  return ids.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
}

function renderCards() {
  const visible = fleet.state.view === "cards" && !fleet.state.sensor ? visibleIds() : [];
  const total = Object.keys(fleet.versions).length;
  // Hidden until the first answer: before it, "no summaries yet" would not be known.
  empty.hidden = connected === null || fleet.state.view !== "cards" || Boolean(fleet.state.sensor) ||
    (total > 0 && visible.length > 0);
  if (total > 0 && visible.length === 0) empty.textContent = "No sensor matches the search.";
  for (const card of [...grid.children]) if (!visible.includes(card.dataset.sensorId)) card.remove();
  visible.forEach((id, index) => {
    const card = cardFor(id) || buildCard(id);
    if (grid.children[index] !== card) grid.insertBefore(card, grid.children[index] || null);
    describe(card);
    if (index < FIRST_CHARTS || firstCharts.open) loadChart(card);
  });
  if (!firstCharts.open && visible.length > 0 && !firstCharts.timer) {
    firstCharts.timer = setTimeout(openChartGate, 3000); // a slow first chart holds no one back for long
  }
  refreshLatest(visible).catch(() => {}); // the next poll tries again
}

function render() {
  renderCards();
  renderFleet();
  if (fleet.state.sensor) import("./detail.js").then((detail) => detail.show(fleet.state.sensor)).catch(() => {});
  showStatus();
}

// The latest summaries of the given sensors, asked for only where the version moved.
const asked = {}; // sensor id -> version last asked for (asked once, even if not answered)
export async function refreshLatest(ids) {
  const wanted = ids.filter((id) => shownVersion[id] !== fleet.versions[id] && asked[id] !== fleet.versions[id]);
  for (let first = 0; first < wanted.length; first += 100) {
    const chunk = wanted.slice(first, first + 100);
    for (const id of chunk) asked[id] = fleet.versions[id];
    try {
      const response = await fetch(`/api/sensors?ids=${chunk.map(encodeURIComponent).join(",")}`, { cache: "no-store" });
      if (!response.ok) throw new Error(`sensors: HTTP ${response.status}`);
      takeSensors(await response.json());
    } catch (error) {
      for (const id of chunk) delete asked[id]; // the next poll asks again
      throw error;
    }
  }
}

export function takeSensors(entries) {
  for (const entry of entries) {
    fleet.latest[entry.sensor_id] = entry.latest;
    shownVersion[entry.sensor_id] = entry.version;
    if (entry.last_heard) fleet.heard[entry.sensor_id] = Date.parse(entry.last_heard);
    const card = cardFor(entry.sensor_id);
    if (card) describe(card);
  }
  renderFleet();
}

// Polling --------------------------------------------------------------------------------
async function poll() {
  const response = await fetch(`/api/summary-timestamps?since=${encodeURIComponent(cursor)}`,
    { cache: "no-store", headers: etag ? { "If-None-Match": etag } : {} });
  // The Date header has whole seconds: +500 ms is the middle of the second it names.
  const date = Date.parse(response.headers.get("Date") || "");
  if (!Number.isNaN(date)) skewMs = date + 500 - Date.now();
  if (response.status === 304) return [];
  if (!response.ok) throw new Error(`summary-timestamps: HTTP ${response.status}`);
  const delta = await response.json();
  const first = cursor === "0";
  const next = delta.full ? {} : { ...fleet.versions };
  for (const id of delta.removed || []) delete next[id];
  Object.assign(next, delta.versions);
  const changed = Object.keys(next).filter((id) => fleet.versions[id] !== undefined && fleet.versions[id] !== next[id]);
  const alerts = delta.alerts || {};
  announceAlerts(fleet.alerts, alerts, first);
  // A sensor with a new summary was heard by now at the latest (what its `last_heard` would
  // say; a device clock ahead of ours would put its summary's timestamp in the future).
  for (const id of changed) fleet.heard[id] = Math.min(Date.parse(timestampOf(next[id])), fleet.now());
  for (const [id, heard] of Object.entries(delta.last_heard || {})) fleet.heard[id] = Date.parse(heard);
  fleet.versions = next;
  fleet.alerts = alerts;
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

// Every sensor counted once: stale (whatever its last average), else alerting, else fine.
export function counts() {
  let alerting = 0, stale = 0;
  const ids = Object.keys(fleet.versions);
  for (const id of ids) {
    if (fleet.isStale(id)) stale += 1;
    else if (id in fleet.alerts) alerting += 1;
  }
  return { total: ids.length, alerting, stale };
}

function showStatus() {
  // The visible line counts sensors that need attention and failing charts; #announcer
  // speaks only when the state changes (connection lost or back, charts failing or back).
  const failing = grid.querySelectorAll('.card[data-chart-error="true"]').length;
  const state = connected === false ? "lost" : connected === null ? "connecting" : failing > 0 ? "degraded" : "live";
  const { total, alerting, stale } = counts();
  const attention = alerting + stale > 0 ? `${total} sensors · ${alerting} alerting · ${stale} stale` : "live";
  let text = attention;
  if (state === "lost") {
    const wait = Math.max(0, Math.ceil((nextTryAt - Date.now()) / 1000));
    text = `connection lost since ${utcTime(lostSince)} UTC — ${polling ? "retrying now" : `retrying in ${wait} s`}`;
  } else if (state === "connecting") text = "connecting…";
  else if (state === "degraded") text = `${attention} · ${failing} chart${failing > 1 ? "s" : ""} not loading — retrying`;
  statusLine.classList.toggle("lost", state === "lost");
  statusLine.classList.toggle("degraded", state === "degraded");
  statusLine.classList.toggle("attention", state !== "lost" && alerting + stale > 0);
  Object.assign(statusLine.dataset, { total, alerting, stale, state });
  retryNow.hidden = state !== "lost";
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
  showStatus();
  let delay = POLL_MS;
  try {
    const changed = await poll();
    const recovered = connected === false;
    failures = 0;
    connected = true;
    render();
    for (const id of changed) {
      const card = cardFor(id);
      if (card) markUpdated(card);
    }
    if (recovered) { reloadCharts(false); document.dispatchEvent(new Event("dashboard:recovered")); }
    lastPoll.textContent = `All times UTC · checked ${utcTime(fleet.now())}`;
  } catch (error) {
    if (connected !== false) lostSince = fleet.now();
    failures += 1;
    connected = false;
    // Exponential, capped, with jitter so that many pages do not return in step.
    const ceiling = Math.min(BACKOFF_CAP_MS, POLL_MS * 2 ** Math.min(failures - 1, 10));
    delay = Math.round(ceiling * (0.5 + Math.random() / 2));
    lastPoll.textContent = "All times UTC";
  } finally {
    polling = false;
  }
  schedule(delay);
  showStatus();
}

function schedule(delay) {
  clearTimeout(timer);
  nextTryAt = Date.now() + delay;
  timer = document.visibilityState === "hidden" ? null : setTimeout(tick, delay);
}

// Once a second: ages move on, cards turn stale without any answer from the server, the
// status line counts down to the next try, and a moving time window redraws the charts.
function everySecond() {
  for (const card of grid.children) describe(card);
  const window = JSON.stringify(chartWindow(fleet.state, fleet.now()));
  if (window !== windowShown) { windowShown = window; for (const card of grid.children) loadChart(card); }
  renderFleet(true);
  showStatus();
}

// URL state ------------------------------------------------------------------------------
function applyState() {
  const s = fleet.state;
  search.value = s.q;
  timeRange.value = s.range;
  customRange.hidden = s.range !== "custom";
  rangeFrom.value = s.from; rangeTo.value = s.to;
  for (const card of grid.children) card.querySelector(".range").hidden = Boolean(s.range);
  $("view-cards").setAttribute("aria-current", String(s.view === "cards" && !s.sensor));
  $("view-fleet").setAttribute("aria-current", String(s.view === "fleet" && !s.sensor));
  body.dataset.view = s.sensor ? "detail" : s.view;
  windowShown = JSON.stringify(chartWindow(s, fleet.now()));
  render(); // a chart whose address changed (range, window) loads again; no other
}

function go(changes, push) {
  Object.assign(fleet.state, changes);
  writeUrl(fleet.state, push);
  applyState();
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "hidden") { clearTimeout(timer); timer = null; }
  else schedule(0); // at once: the page may be minutes behind
});
window.addEventListener("popstate", () => { fleet.state = readUrl(); applyState(); });
for (const id of ["view-cards", "view-fleet"]) {
  $(id).addEventListener("click", (event) => {
    event.preventDefault();
    go({ view: id === "view-fleet" ? "fleet" : "cards", sensor: "", page: 0 }, true);
  });
}
retryNow.addEventListener("click", () => { clearTimeout(timer); tick(); });
previousButton.addEventListener("click", () => go({ page: Math.max(0, fleet.state.page - 1) }, false));
nextButton.addEventListener("click", () => go({ page: fleet.state.page + 1 }, false));
search.addEventListener("input", () => go({ q: search.value.trim(), page: 0 }, false));
timeRange.addEventListener("change", () => {
  const changes = { range: timeRange.value };
  if (timeRange.value === "custom" && !fleet.state.from) {
    const end = new Date(fleet.now()).toISOString().slice(0, 16);
    changes.from = new Date(fleet.now() - 86400000).toISOString().slice(0, 16);
    changes.to = end;
  }
  go(changes, true);
});
for (const input of [rangeFrom, rangeTo]) {
  input.addEventListener("change", () => go({ from: rangeFrom.value, to: rangeTo.value }, true));
}
sharedY.addEventListener("change", () => reloadCharts(false));
darkScheme.addEventListener("change", () => reloadCharts(false));
setupFleet();
applyState();
setInterval(everySecond, 1000);
tick();
