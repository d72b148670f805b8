// Sensors view: a searchable table of every sensor's newest reading, kept current by the
// stream, and a live chart of the readings the stream brings.

import { getJson } from "./api.js";
import { LineChart } from "./chart.js";
import { el, formatValues, sensorLink } from "./dom.js";

const PAGE = 1000;
const LATEST_CHUNK = 100; // sensor ids per /latest call (keeps the URL short)
const LIVE_WINDOW_S = 120;
const LIVE_SERIES = 8;

const sensors = new Map(); // sensor_id -> {sensor_id, location, timestamp, timestamp_us, values, first_timestamp, ...}
const live = new Map(); // sensor_id -> [[t, {metric: value}], ...] within the live window
let liveChart;

export function sensorInfo(sensorId) {
  return sensors.get(sensorId);
}

async function loadAll() {
  let cursor = "";
  do {
    const page = await getJson(`/api/v1/sensors?limit=${PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    for (const s of page.sensors) sensors.set(s.sensor_id, { ...sensors.get(s.sensor_id), ...s });
    cursor = page.next_cursor;
  } while (cursor);
  const ids = [...sensors.keys()];
  for (let i = 0; i < ids.length; i += LATEST_CHUNK) {
    const chunk = ids.slice(i, i + LATEST_CHUNK).map(encodeURIComponent).join(",");
    const latest = await getJson(`/api/v1/latest?sensor_id=${chunk}`);
    for (const s of latest.sensors) {
      const known = sensors.get(s.sensor_id);
      if (!known.timestamp_us || known.timestamp_us <= s.timestamp_us) Object.assign(known, s);
    }
  }
}

function renderTable() {
  const query = document.getElementById("sensor-search").value.trim().toLowerCase();
  const shown = [...sensors.values()].filter((s) => !query || s.sensor_id.toLowerCase().includes(query)
    || (s.location || "").toLowerCase().includes(query));
  shown.sort((a, b) => a.sensor_id.localeCompare(b.sensor_id));
  const rows = shown.slice(0, 500).map((s) => el("tr", { "data-sensor": s.sensor_id },
    el("td", {}, sensorLink(s.sensor_id)), el("td", { text: s.location || "" }),
    el("td", { text: s.timestamp || s.last_timestamp || "" }),
    el("td", { text: s.values ? formatValues(s.values) : "" })));
  document.querySelector("#sensor-table tbody").replaceChildren(...rows);
  document.getElementById("sensor-count").textContent =
    `${sensors.size} sensors${shown.length > 500 ? `, first 500 of ${shown.length} shown` : ""}`;
}

function renderLive() {
  const select = document.getElementById("live-metric");
  const metrics = new Set();
  for (const points of live.values()) for (const [, values] of points) Object.keys(values).forEach((m) => metrics.add(m));
  const known = [...select.options].map((o) => o.value);
  for (const m of [...metrics].sort()) if (!known.includes(m)) select.append(el("option", { value: m, text: m }));
  const metric = select.value;
  const series = [...live.entries()]
    .map(([id, points]) => ({ name: id, points: points.filter(([, v]) => metric in v).map(([t, v]) => [t, v[metric]]) }))
    .filter((s) => s.points.length).slice(-LIVE_SERIES);
  liveChart.set(series);
}

// A `readings` event of the stream.
export function onReadings(readings) {
  const horizon = Date.now() / 1000 - LIVE_WINDOW_S;
  for (const r of readings) {
    const known = sensors.get(r.sensor_id) || { sensor_id: r.sensor_id };
    if (!known.timestamp_us || known.timestamp_us <= r.timestamp_us) Object.assign(known, r);
    known.last_timestamp = known.timestamp;
    sensors.set(r.sensor_id, known);
    const points = live.get(r.sensor_id) || [];
    live.delete(r.sensor_id); // re-inserted last: the most recent sensors are charted
    points.push([Date.now() / 1000, r.values]);
    live.set(r.sensor_id, points);
  }
  for (const [id, points] of live) {
    while (points.length && points[0][0] < horizon) points.shift();
    if (!points.length) live.delete(id);
  }
  scheduleRender();
}

let renderPending = false;
function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(() => { renderPending = false; renderTable(); renderLive(); });
}

export async function startSensors() {
  liveChart = new LineChart(document.getElementById("live-chart"));
  document.getElementById("sensor-search").addEventListener("input", renderTable);
  document.getElementById("live-metric").addEventListener("change", renderLive);
  await loadAll();
  renderTable();
  renderLive();
}
