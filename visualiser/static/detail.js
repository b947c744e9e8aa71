// The per-sensor detail (?sensor=ID): a larger interactive chart (uPlot, served from our own
// files) with the value and time under the pointer in a role="tooltip" box, zoom by dragging
// across a span (double-click: back), the thresholds drawn and labelled, and the readings
// behind the latest summary. The window is the page's time range (the last hour without one).
"use strict";

import { element, fleet } from "./dashboard.js";
import { chartWindow } from "./page-state.js";

const $ = (id) => document.getElementById(id);
let plot = null, shownKey = "", uPlotReady = null;

function loadUPlot() {
  if (!uPlotReady) {
    uPlotReady = new Promise((resolve, reject) => {
      const css = element("link");
      css.rel = "stylesheet";
      css.href = "/static/uplot.css";
      const script = element("script");
      script.src = "/static/uplot.js";
      script.onload = () => resolve(window.uPlot);
      script.onerror = reject;
      document.head.append(css, script);
    });
  }
  return uPlotReady;
}

const utc = (seconds) => new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 19);

function colours() {
  const style = getComputedStyle(document.documentElement);
  const get = (name) => style.getPropertyValue(name).trim();
  return { text: get("--text"), grid: get("--border"), avg: get("--accent"), threshold: get("--warn") };
}

// Dashed threshold lines with their names, drawn on the chart's canvas after each draw.
function thresholdsPlugin(limits, colour) {
  return {
    hooks: {
      draw: [(u) => {
        const ctx = u.ctx;
        ctx.save();
        ctx.strokeStyle = colour; ctx.fillStyle = colour;
        ctx.setLineDash([6, 4]); ctx.lineWidth = devicePixelRatio;
        ctx.font = `${12 * devicePixelRatio}px system-ui, sans-serif`;
        ctx.textAlign = "right";
        for (const [name, value] of [["high", limits.high], ["low", limits.low]]) {
          const y = u.valToPos(value, "y", true);
          if (y < u.bbox.top || y > u.bbox.top + u.bbox.height) continue;
          ctx.beginPath(); ctx.moveTo(u.bbox.left, y); ctx.lineTo(u.bbox.left + u.bbox.width, y); ctx.stroke();
          ctx.fillText(`${name} ${value} °C`, u.bbox.left + u.bbox.width - 4, y - 4 * devicePixelRatio);
        }
        ctx.restore();
      }],
    },
  };
}

function tooltipPlugin() {
  const tip = $("detail-tooltip");
  return {
    hooks: {
      setCursor: [(u) => {
        const index = u.cursor.idx;
        if (index === null || index === undefined || u.data[1][index] == null) { tip.hidden = true; return; }
        const [time, avg, min, max] = u.data.map((series) => series[index]);
        tip.textContent = `${utc(time)} UTC · avg ${avg.toFixed(2)} °C · min ${min.toFixed(2)} · max ${max.toFixed(2)} °C`;
        tip.hidden = false;
        const box = $("detail-chart").getBoundingClientRect();
        const left = Math.min(u.cursor.left + u.bbox.left / devicePixelRatio + 12, box.width - tip.offsetWidth - 4);
        tip.style.left = `${Math.max(0, left)}px`;
        tip.style.top = `${u.cursor.top + 12}px`;
      }],
    },
  };
}

// The data's range, widened to show a threshold within 10 °C of it (so it can be read).
function yRange(low, high, limits) {
  if (low == null) return [limits.low, limits.high];
  for (const limit of [limits.low, limits.high]) {
    if (limit < low && low - limit <= 10) low = limit;
    if (limit > high && limit - high <= 10) high = limit;
  }
  const pad = Math.max(0.5, (high - low) * 0.08);
  return [low - pad, high + pad];
}

// 24-hour UTC times; the date too where the ticks cross days.
function timeLabels(splits) {
  const days = new Set(splits.map((v) => utc(v).slice(0, 10)));
  return splits.map((v) => (days.size > 1 ? `${utc(v).slice(5, 10)} ${utc(v).slice(11, 16)}` : utc(v).slice(11, 16)));
}

async function history(id) {
  const window = chartWindow(fleet.state, fleet.now()) ||
    { start: new Date(fleet.now() - 3600000).toISOString(), end: new Date(fleet.now() + 60000).toISOString() };
  const query = new URLSearchParams(window);
  const response = await fetch(`/api/sensors/${encodeURIComponent(id)}/history?${query}`, { cache: "no-store" });
  if (!response.ok) throw new Error(`history: HTTP ${response.status}`);
  return response.json();
}

async function readings(id) {
  const response = await fetch(`/api/sensors/${encodeURIComponent(id)}/readings?limit=${document.body.dataset.window || 10}`,
    { cache: "no-store" });
  if (!response.ok) return;
  const rows = (await response.json()).map((reading) => {
    const tr = element("tr");
    tr.append(element("td", "", reading.timestamp.replace("T", " ").slice(0, 19)),
      element("td", "num", Number(reading.temperature).toFixed(2)));
    return tr;
  });
  $("detail-readings").replaceChildren(...rows);
}

export async function show(id) {
  const key = `${id}|${fleet.versions[id]}|${JSON.stringify(chartWindow(fleet.state, fleet.now()))}`;
  if (key === shownKey) return;
  shownKey = key;
  $("detail-heading").textContent = `Sensor ${id}`;
  let uPlot, data;
  try {
    [uPlot, data] = await Promise.all([loadUPlot(), history(id)]);
  } catch (error) { // said, not swallowed: a refused id or window would leave the view blank
    $("detail-summary").textContent = `no chart: ${error.message}`;
    throw error;
  }
  readings(id).catch(() => {});
  const latest = data.rows[data.rows.length - 1];
  $("detail-summary").textContent = latest
    ? `latest ${latest[1].toFixed(2)} °C at ${latest[0].slice(11, 19)} UTC · ${data.rows.length} points from ${data.source}`
    : "no data in this time range";
  const columns = [[], [], [], []];
  for (const [time, avg, min, max] of data.rows) {
    columns[0].push(Date.parse(time) / 1000); columns[1].push(avg); columns[2].push(min); columns[3].push(max);
  }
  const c = colours();
  const points = { show: data.rows.length < 60, size: 6 }; // a few summaries: each one visible
  const box = $("detail-chart");
  const width = Math.max(280, box.clientWidth || 800);
  const axis = { stroke: c.text, grid: { stroke: c.grid, width: 1 }, ticks: { stroke: c.grid } };
  const options = {
    width, height: Math.round(Math.min(420, width * 0.5)),
    scales: {
      x: { time: true, min: Date.parse(data.start) / 1000, max: Date.parse(data.end) / 1000 },
      y: { range: (u, low, high) => yRange(low, high, data.thresholds) },
    },
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
    axes: [{ ...axis, label: "time (UTC)", values: (u, splits) => timeLabels(splits) }, { ...axis, label: "°C", size: 56 }],
    series: [
      { value: (u, v) => (v == null ? "–" : `${utc(v)} UTC`) },
      { label: "avg", points, stroke: c.avg, width: 2, value: (u, v) => (v == null ? "–" : `${v.toFixed(2)} °C`) },
      { label: "min", points, stroke: "#2e7d32", width: 1, value: (u, v) => (v == null ? "–" : `${v.toFixed(2)} °C`) },
      { label: "max", points, stroke: "#c62828", width: 1, value: (u, v) => (v == null ? "–" : `${v.toFixed(2)} °C`) },
    ],
    cursor: { drag: { x: true, y: false } },
    plugins: [thresholdsPlugin(data.thresholds, c.threshold), tooltipPlugin()],
    // The span shown, in seconds, for tests and scripts: it shrinks when a span is selected.
    hooks: { setScale: [(u, key) => { if (key === "x") box.dataset.span = String(Math.round(u.scales.x.max - u.scales.x.min)); }] },
  };
  if (plot) plot.destroy();
  plot = new uPlot(options, columns, box);
  box.dataset.points = String(data.rows.length);
  box.dataset.ready = "true";
}

document.addEventListener("dashboard:recovered", () => { shownKey = ""; if (fleet.state.sensor) show(fleet.state.sensor); });
