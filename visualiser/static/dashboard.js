// Live dashboard: the page's state and its polling. Polls /api/summary-timestamps in its
// delta form (a cursor, and an ETag so an idle poll is a 304) and hands the changes to the
// cards view (cards.js), the fleet view (fleet.js) and the detail view (detail.js). Polling
// stops while the tab is hidden. All times are UTC.
// Ages count on the server's clock (estimated from each answer's Date header) from when a
// sensor was last heard, so cards turn stale during an outage with no answer at all.
// Screen readers hear only #announcer: a change of connection or of chart trouble, and new
// alerts; the status line is not a live region, as it changes every second while lost.
"use strict";

import { chartWindow, customRangeProblem, readUrl, writeUrl } from "./page-state.js";
import { cardFor, describe, loadChart, markUpdated, reloadCharts, renderCards } from "./cards.js";
import { renderFleet, setupFleet } from "./fleet.js";

const body = document.body;
// window.dashboardTuning (set before the page's scripts run, e.g. by a test) overrides limits.
const tuning = window.dashboardTuning || {};
const POLL_MS = tuning.pollMs || Number(body.dataset.pollMs) || 2000;
const STALE_MS = tuning.staleMs || Number(body.dataset.staleMs) || 60000;
const BACKOFF_CAP_MS = tuning.backoffCapMs || Number(body.dataset.backoffCapMs) || 8000;

const $ = (id) => document.getElementById(id);
const grid = $("grid"), statusLine = $("status"), lastPoll = $("last-poll");
const search = $("search"), sharedY = $("shared-y"), announcer = $("announcer"), retryNow = $("retry-now");
const previousButton = $("previous"), nextButton = $("next");
const timeRange = $("time-range"), customRange = $("custom-range"), rangeFrom = $("range-from"), rangeTo = $("range-to");
const collator = new Intl.Collator("en", { numeric: true, sensitivity: "base" });
const darkScheme = window.matchMedia("(prefers-color-scheme: dark)");

// Shared with fleet.js and detail.js.
export const fleet = {
  versions: {},  // sensor id -> version of its latest summary ("{timestamp}~{digest}")
  alerts: {},    // sensor id -> "high" | "low" (the latest average's threshold alert)
  heard: {},     // sensor id -> ms when last heard (the server's `last_heard`, if it sends one)
  latest: {},    // sensor id -> latest summary document (fleet view and visible cards)
  shown: {},     // sensor id -> version of the latest summary in `latest`
  connected: null, // null until the first poll has answered or failed
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

function render() {
  renderCards();
  renderFleet();
  if (fleet.state.sensor) import("./detail.js").then((detail) => detail.show(fleet.state.sensor)).catch(() => {});
  showStatus();
}

// The latest summaries of the given sensors, asked for only where the version moved.
const asked = {}; // sensor id -> version last asked for (asked once, even if not answered)
export async function refreshLatest(ids) {
  const wanted = ids.filter((id) => fleet.shown[id] !== fleet.versions[id] && asked[id] !== fleet.versions[id]);
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
    fleet.shown[entry.sensor_id] = entry.version;
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
  // When each sensor was last heard: its summary's timestamp, except where the delta's
  // `heard` says earlier (a device clock ahead of the server's), for every sensor, cards or
  // not, so the counts agree with /api/alerts; by now at the latest, whatever its stamp says.
  // A sensor no longer listed is forgotten, so one that comes back starts from its news.
  const heard = delta.heard || {};
  for (const id of Object.keys(fleet.heard)) if (!(id in next)) delete fleet.heard[id];
  for (const id of Object.keys(delta.versions)) {
    fleet.heard[id] = heard[id] ? Date.parse(heard[id]) : Math.min(Date.parse(timestampOf(next[id])), fleet.now());
  }
  fleet.versions = next;
  announceAlerts(fleet.alerts, alerts, first);
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

// A stale sensor's last alert is old news: not announced (the counts call it stale).
function announceAlerts(before, after, first) {
  const fresh = Object.keys(after)
    .filter((id) => before[id] !== after[id] && !fleet.isStale(id))
    .sort(collator.compare);
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

export function showStatus() {
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
    connected = fleet.connected = true;
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
    connected = fleet.connected = false;
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
  // Charts show the latest summaries meanwhile.
  $("range-error").textContent = s.range === "custom" ? customRangeProblem(s) : "";
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
