// What the page shows, kept in the URL so a reload or a shared link restores it:
// view (cards | fleet), q (search), sort ("avg:desc"), range (15m … 7d | custom with from/to),
// sensor (the detail view) and page. Back and forward restore it too.
"use strict";

export const RANGE_SECONDS = { "15m": 900, "1h": 3600, "6h": 21600, "24h": 86400, "7d": 604800 };
const KEYS = ["view", "q", "sort", "range", "from", "to", "sensor", "page"];

export function readUrl(search = location.search) {
  const query = new URLSearchParams(search);
  const state = {};
  for (const key of KEYS) state[key] = query.get(key) || "";
  if (!["cards", "fleet"].includes(state.view)) state.view = "cards";
  if (!(state.range in RANGE_SECONDS) && state.range !== "custom") state.range = "";
  state.page = Math.max(0, Number.parseInt(state.page, 10) - 1 || 0);
  return state;
}

export function urlOf(state) {
  const query = new URLSearchParams();
  if (state.view !== "cards") query.set("view", state.view);
  for (const key of ["q", "sort", "range", "sensor"]) if (state[key]) query.set(key, state[key]);
  if (state.range === "custom") for (const key of ["from", "to"]) if (state[key]) query.set(key, state[key]);
  if (state.page > 0) query.set("page", String(state.page + 1));
  const text = query.toString();
  return text ? `?${text}` : location.pathname;
}

// push: a new entry (view, range, sort, sensor: back returns to it); otherwise replace
// (typing in search, paging), so back does not step through every keystroke.
export function writeUrl(state, push) {
  const url = urlOf(state);
  if (url === `${location.search}` || (url === location.pathname && !location.search)) return;
  history[push ? "pushState" : "replaceState"](null, "", url);
}

// The chart window [start, end) as ISO strings for a range, given the server's "now" (ms).
// The end is rounded up to a 30th of the window, so every card asks for the same window and
// a chart is drawn again only when the window has moved on by that much.
export function chartWindow(state, serverNow) {
  if (state.range === "custom") {
    if (customRangeProblem(state)) return null;
    const start = Date.parse(`${state.from}:00Z`), end = Date.parse(`${state.to}:00Z`);
    return { start: new Date(start).toISOString(), end: new Date(end).toISOString() };
  }
  const seconds = RANGE_SECONDS[state.range];
  if (!seconds) return null;
  const step = (seconds * 1000) / 30;
  const end = Math.ceil(serverNow / step) * step;
  return { start: new Date(end - seconds * 1000).toISOString(), end: new Date(end).toISOString() };
}

// The server draws a window of at most 31 days (visualiser/time_window.py); asking for a
// longer one would only make every chart fail and retry. What is wrong with a custom range, or "".
export const MAX_WINDOW_DAYS = 31;
export function customRangeProblem(state) {
  const start = Date.parse(`${state.from}:00Z`), end = Date.parse(`${state.to}:00Z`);
  if (Number.isNaN(start) || Number.isNaN(end)) return "Pick both From and To (UTC).";
  if (end <= start) return "To must be after From.";
  if (end - start > MAX_WINDOW_DAYS * 86400000) return `At most ${MAX_WINDOW_DAYS} days between From and To.`;
  return "";
}
