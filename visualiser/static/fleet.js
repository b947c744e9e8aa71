// The fleet overview: every sensor in one table (paged, so 5,000 sensors cost 50 rows of
// DOM), sortable by any column (aria-sort on its header), filtered by the search box, and
// the alerts most severe first with how long each has lasted. The latest summaries of the
// whole fleet are fetched once (/api/sensors); after that only those a poll says changed.
"use strict";

import { counts, duration, element, fleet, refreshLatest, takeSensors } from "./dashboard.js";

const ROWS = 50;
const $ = (id) => document.getElementById(id);
const KEYS = ["sensor", "avg", "min", "max", "status", "updated"];
const FIRST_DIRECTION = { sensor: "asc", avg: "desc", min: "asc", max: "desc", status: "desc", updated: "asc" };
const RANK = { stale: 3, high: 2, low: 1, ok: 0 };
let loaded = false, loading = false, thresholds = {}, alertsKey = "";

export function statusOf(id) {
  if (fleet.isStale(id)) return "stale";
  return fleet.alerts[id] || "ok";
}

function sortOf() {
  const [key, direction] = (fleet.state.sort || "sensor:asc").split(":");
  return KEYS.includes(key) ? [key, direction === "desc" ? "desc" : "asc"] : ["sensor", "asc"];
}

function valueOf(id, key) {
  const latest = fleet.latest[id];
  if (key === "avg") return latest?.avg_temp;
  if (key === "min") return latest?.min_temp;
  if (key === "max") return latest?.max_temp;
  if (key === "status") return RANK[statusOf(id)];
  if (key === "updated") return fleet.ageMs(id);
  return id;
}

export function fleetRows() {
  const term = (fleet.state.q || "").toLowerCase();
  const [key, direction] = sortOf();
  const sign = direction === "desc" ? -1 : 1;
  const ids = Object.keys(fleet.versions).filter((id) => !term || id.toLowerCase().includes(term));
  const keyed = ids.map((id) => [id, valueOf(id, key)]);
  keyed.sort(([a, x], [b, y]) => {
    if (key === "sensor") return sign * fleet.collator.compare(a, b);
    if (x === undefined || y === undefined) return (x === undefined) - (y === undefined); // unknown last
    return sign * (x - y) || fleet.collator.compare(a, b);
  });
  return keyed.map(([id]) => id);
}

function cell(text, className) {
  const td = element("td", className, text);
  return td;
}

function row(id) {
  const latest = fleet.latest[id];
  const status = statusOf(id);
  const tr = element("tr");
  tr.dataset.sensorId = id;
  tr.dataset.status = status;
  const name = element("th");
  name.scope = "row";
  const link = element("a", "", id);
  link.href = `?sensor=${encodeURIComponent(id)}`;
  link.addEventListener("click", (event) => { event.preventDefault(); fleet.go({ sensor: id }, true); });
  name.append(link);
  const fixed = (v) => (v === undefined ? "…" : v.toFixed(2));
  const label = status === "stale" && fleet.alerts[id] ? `STALE (last avg ${fleet.alerts[id]})` : status.toUpperCase();
  const badge = element("span", `badge ${status === "ok" ? "ok" : status === "stale" ? "stale" : "alert"}`, label);
  const statusCell = element("td");
  statusCell.append(badge);
  tr.append(name, cell(fixed(latest?.avg_temp), "num"), cell(fixed(latest?.min_temp), "num"),
    cell(fixed(latest?.max_temp), "num"), statusCell, cell(`${duration(fleet.ageMs(id))} ago`, "age"));
  return tr;
}

function renderAlerts() {
  const active = Object.keys(fleet.alerts).filter((id) => !fleet.isStale(id));
  for (const id of Object.keys(onsets)) if (onsets[id].kind !== fleet.alerts[id]) delete onsets[id];
  const key = active.sort().join(",");
  if (key !== alertsKey) { alertsKey = key; fetchThresholds().catch(() => {}); }
  const severity = (id) => {
    const avg = fleet.latest[id]?.avg_temp, limits = thresholds[id];
    if (avg === undefined || !limits) return 0;
    return fleet.alerts[id] === "high" ? avg - limits.high : limits.low - avg;
  };
  active.sort((a, b) => severity(b) - severity(a) || fleet.collator.compare(a, b));
  const list = $("alert-list");
  const items = active.slice(0, 10).map((id) => {
    const li = element("li");
    li.dataset.sensorId = id;
    const link = element("a", "", id);
    link.href = `?sensor=${encodeURIComponent(id)}`;
    const avg = fleet.latest[id]?.avg_temp, limits = thresholds[id];
    const beyond = avg !== undefined && limits
      ? ` ${avg.toFixed(1)} °C, ${severity(id).toFixed(1)} °C ${fleet.alerts[id] === "high" ? "above" : "below"} ${fleet.alerts[id] === "high" ? limits.high : limits.low}`
      : "";
    const onset = onsets[id];
    if (!onset && limits) findOnset(id, limits).catch(() => {});
    const lasted = !onset ? "since …"
      : `for ${onset.before ? "more than " : ""}${duration(fleet.now() - onset.ms)} (since ${new Date(onset.ms).toISOString().slice(11, 19)} UTC)`;
    li.append(element("span", "badge alert", fleet.alerts[id].toUpperCase()), " ", link, `${beyond} · ${lasted}`);
    return li;
  });
  if (active.length > 10) items.push(element("li", "more", `and ${active.length - 10} more (sort the table by status)`));
  if (items.length === 0) items.push(element("li", "none", "No sensor is outside its thresholds."));
  list.replaceChildren(...items);
}

// When an alert began: the oldest of the sensor's newest summaries, all beyond the same
// threshold ("more than" when every one of the last 200 is).
const onsets = {}, asking = new Set();
async function findOnset(id, limits) {
  if (asking.has(id)) return;
  asking.add(id);
  try {
    const response = await fetch(`/api/sensors/${encodeURIComponent(id)}/summaries?limit=200`, { cache: "no-store" });
    if (!response.ok) return;
    const summaries = await response.json(); // newest first
    const kind = fleet.alerts[id];
    const beyond = (s) => (kind === "high" ? s.avg_temp > limits.high : s.avg_temp < limits.low);
    let index = 0;
    while (index < summaries.length && beyond(summaries[index])) index += 1;
    if (index === 0) return;
    onsets[id] = { ms: Date.parse(summaries[index - 1].timestamp), before: index === 200, kind }; // fewer: the whole history
    renderAlerts();
  } finally {
    asking.delete(id);
  }
}

async function fetchThresholds() {
  const response = await fetch("/api/alerts", { cache: "no-store" });
  if (!response.ok) return;
  for (const alert of await response.json()) thresholds[alert.sensor_id] = { low: alert.low, high: alert.high };
  renderAlerts();
}

async function loadAll() {
  if (loaded || loading) return;
  loading = true;
  try {
    const response = await fetch("/api/sensors", { cache: "no-store" });
    if (!response.ok) throw new Error(`sensors: HTTP ${response.status}`);
    loaded = true;
    takeSensors(await response.json());
  } finally {
    loading = false;
  }
}

// everySecond: only the ages move; a full render otherwise.
export function renderFleet(agesOnly = false) {
  if (fleet.state.view !== "fleet" || fleet.state.sensor) return;
  if (!loaded) loadAll().catch(() => {});
  const { total, alerting, stale } = counts();
  const rows = fleetRows();
  const pages = Math.max(1, Math.ceil(rows.length / ROWS));
  const page = Math.min(fleet.state.page, pages - 1);
  // A page past the end (?page=99) is the last one, once the fleet is known: Previous then
  // steps back from what is shown.
  if (fleet.connected === true) fleet.state.page = page;
  const shown = rows.slice(page * ROWS, (page + 1) * ROWS);
  const tbody = $("fleet-rows");
  const same = tbody.dataset.shown === shown.join(",");
  if (agesOnly && same) {
    for (const tr of tbody.children) {
      tr.querySelector(".age").textContent = `${duration(fleet.ageMs(tr.dataset.sensorId))} ago`;
      const status = statusOf(tr.dataset.sensorId);
      if (tr.dataset.status !== status) tr.replaceWith(row(tr.dataset.sensorId));
    }
  } else {
    tbody.replaceChildren(...shown.map(row));
    tbody.dataset.shown = shown.join(",");
    refreshLatest(shown).catch(() => {});
  }
  const found = rows.length === total ? `${total} sensors` : `${rows.length} of ${total} sensors`;
  $("fleet-caption").textContent = `Fleet: ${found} · ${alerting} alerting · ${stale} stale`;
  $("fleet-page-label").textContent = pages > 1 ? `rows ${page * ROWS + 1}–${page * ROWS + shown.length} of ${rows.length}` : found;
  $("fleet-previous").disabled = page === 0;
  $("fleet-next").disabled = page >= pages - 1;
  const [key, direction] = sortOf();
  for (const th of document.querySelectorAll("#fleet-table th[data-key]")) {
    if (th.dataset.key === key) th.setAttribute("aria-sort", direction === "desc" ? "descending" : "ascending");
    else th.removeAttribute("aria-sort");
  }
  if (!agesOnly) renderAlerts();
}

export function setupFleet() {
  for (const th of document.querySelectorAll("#fleet-table th[data-key]")) {
    th.querySelector("button").addEventListener("click", () => {
      const [key, direction] = sortOf();
      const wanted = th.dataset.key;
      const next = wanted === key ? (direction === "asc" ? "desc" : "asc") : FIRST_DIRECTION[wanted];
      fleet.go({ sort: `${wanted}:${next}`, page: 0 }, true);
    });
  }
  $("fleet-previous").addEventListener("click", () => fleet.go({ page: Math.max(0, fleet.state.page - 1) }, false));
  $("fleet-next").addEventListener("click", () => fleet.go({ page: fleet.state.page + 1 }, false));
}
