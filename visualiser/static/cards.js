// The cards view: one card per sensor, 24 a page, alerting sensors first, each with its
// latest values and its matplotlib PNG chart. A chart loads off-screen and replaces the last
// good one only once it has loaded; a failed one is retried with backoff while its card and
// the status line say so. Only the charts whose sensor changed (or whose window moved) reload.
"use strict";

import { duration, element, fleet, refreshLatest, showStatus } from "./dashboard.js";
import { chartWindow } from "./page-state.js";

const body = document.body;
const DOT_MS = Math.max(5000, 2 * (Number(body.dataset.pollMs) || 2000));
const CHART_RETRY_MAX_MS = 8000;
const PAGE_SIZE = 24; // never thousands of images at once
const CHART_POINTS = Number(body.dataset.chartPoints) || 50; // what a chart draws by default
// The per-card choice when no time range is set: 0 is the default (CHART_POINTS).
const RANGES = [[0, CHART_POINTS], ...[50, 200, 1000].filter((n) => n !== CHART_POINTS).map((n) => [n, n])]
  .sort((a, b) => a[1] - b[1]);

const $ = (id) => document.getElementById(id);
const grid = $("grid"), empty = $("empty"), search = $("search"), sharedY = $("shared-y");
const previousButton = $("previous"), nextButton = $("next"), pageLabel = $("page-label");
const darkScheme = window.matchMedia("(prefers-color-scheme: dark)");
const points = {};   // sensor id -> chosen range (0: the default)
const dotTimers = {}, chartRetries = {};

function orderedIds() {
  const term = search.value.trim().toLowerCase();
  const ids = Object.keys(fleet.versions).filter((id) => !term || id.toLowerCase().includes(term));
  const alerting = (id) => Number(id in fleet.alerts && !fleet.isStale(id));
  return ids.sort((a, b) => (alerting(b) - alerting(a)) || fleet.collator.compare(a, b));
}

export function cardFor(id) { return grid.querySelector(`.card[data-sensor-id="${CSS.escape(id)}"]`); }

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
export function loadChart(card, force = false) {
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

export function reloadCharts(onlyFailed) {
  const selector = onlyFailed ? '.card[data-chart-error="true"]' : ".card";
  for (const card of grid.querySelectorAll(selector)) loadChart(card, true);
}

// Cards ----------------------------------------------------------------------------------
export function describe(card) {
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
  if (!s || fleet.shown[id] === undefined) return;
  card.querySelector(".big").textContent = `${s.avg_temp.toFixed(2)} °C`;
  card.querySelector(".meta").textContent =
    `as of ${s.timestamp.slice(11, 19)} UTC · min ${s.min_temp.toFixed(2)} · max ${s.max_temp.toFixed(2)} °C`;
}

export function markUpdated(card) {
  const id = card.dataset.sensorId;
  card.dataset.updated = "true";
  clearTimeout(dotTimers[id]);
  dotTimers[id] = setTimeout(() => { card.dataset.updated = "false"; }, DOT_MS);
}

function visibleIds() {
  const ids = orderedIds();
  const pages = Math.max(1, Math.ceil(ids.length / PAGE_SIZE));
  const page = Math.min(fleet.state.page, pages - 1);
  // Kept as asked (?page=3 on a reload or a shared link) until the fleet is known: before
  // the first answer there are no sensors, and clamping then would fall back to page 1.
  if (fleet.connected === true) fleet.state.page = page;
  previousButton.disabled = page === 0;
  nextButton.disabled = page >= pages - 1;
  const total = Object.keys(fleet.versions).length;
  const found = ids.length === total ? `${total} sensors` : `${ids.length} of ${total} sensors`;
  pageLabel.textContent = pages > 1 ? `page ${page + 1} of ${pages} · ${found}` : found;
  return ids.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
}

export function renderCards() {
  const visible = fleet.state.view === "cards" && !fleet.state.sensor ? visibleIds() : [];
  const total = Object.keys(fleet.versions).length;
  // Hidden until the first answer: before it, "no summaries yet" would not be known.
  empty.hidden = fleet.connected === null || fleet.state.view !== "cards" || Boolean(fleet.state.sensor) ||
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
