// Sensor page: one sensor's time series from the aggregate endpoint, at a bucket size that
// gives about one bucket per 3 pixels of the chart; drag to zoom (finer buckets), double-click
// to zoom out; its stats (over the range shown) and its anomalies as red markers.

import { getJson } from "./api.js";
import { LineChart } from "./chart.js";
import { el } from "./dom.js";
import { sensorInfo } from "./sensors.js";

const PIXELS_PER_BUCKET = 3;
const LIVE_REFRESH_MS = 1000;

let chart;
let current = null; // {id, zoom: [from, to] | null}
let lastLiveRefresh = 0;

function sensorPath(id, route) {
  return `/api/v1/sensors/${encodeURIComponent(id)}/${route}`;
}

async function range(id) {
  let info = sensorInfo(id);
  if (!info || !info.first_timestamp) {
    const page = await getJson(`/api/v1/sensors?limit=1000`); // the table may not be loaded yet
    info = page.sensors.find((s) => s.sensor_id === id) || info;
  }
  if (!info || !info.first_timestamp) return null;
  return { info, from: Date.parse(info.first_timestamp) / 1000, to: Date.parse(info.last_timestamp) / 1000 };
}

function metricChoice(metrics) {
  const select = document.getElementById("sensor-metric");
  if ([...select.options].map((o) => o.value).join() !== metrics.join()) {
    select.replaceChildren(...metrics.map((m) => el("option", { value: m, text: m })));
  }
  return select.value;
}

async function draw() {
  if (!current) return;
  const { id } = current;
  const known = await range(id);
  if (!known) {
    document.getElementById("sensor-range").textContent = "unknown sensor or no readings yet";
    return;
  }
  const metric = metricChoice(known.info.metrics || []);
  const [from, to] = current.zoom || [known.from, known.to + 1e-6];
  const buckets = Math.max(10, Math.floor(chart.plotWidth() / PIXELS_PER_BUCKET));
  const everyMs = Math.max(1, Math.ceil(((to - from) * 1000) / buckets));
  const span = `from=${from}&to=${to}`;
  const [aggregate, stats, anomalies] = await Promise.all([
    getJson(`/api/v1/aggregate?metric=${encodeURIComponent(metric)}&every=${everyMs}ms&sensor_id=${encodeURIComponent(id)}&fn=mean,min,max&${span}`),
    getJson(`${sensorPath(id, "stats")}?${span}`),
    getJson(`/api/v1/anomalies?sensor_id=${encodeURIComponent(id)}&metric=${encodeURIComponent(metric)}&limit=1000`),
  ]);
  const half = aggregate.every_us / 2e6;
  const at = (b) => b.start_us / 1e6 + half;
  chart.set([
    { name: `${metric} mean`, points: aggregate.buckets.map((b) => [at(b), b.mean]) },
    { name: "min", points: aggregate.buckets.map((b) => [at(b), b.min]) },
    { name: "max", points: aggregate.buckets.map((b) => [at(b), b.max]) },
  ], anomalies.anomalies.map((a) => a.timestamp_us / 1e6).filter((t) => t >= from && t < to));
  document.getElementById("sensor-range").textContent =
    `${known.info.location || "no location"} · buckets of ${everyMs} ms · ${anomalies.matching} anomalies`;
  document.querySelector("#sensor-stats tbody").replaceChildren(...Object.entries(stats.metrics).map(
    ([name, s]) => el("tr", {}, el("td", { text: name }), el("td", { text: s.count }),
      ...[s.min, s.max, s.mean, s.stddev].map((v) => el("td", { text: v === null ? "" : +v.toFixed(4) })))));
}

export function showSensor(id) {
  document.getElementById("sensor-title").textContent = id;
  current = { id, zoom: null };
  return draw();
}

// A readings event: redraw the sensor shown (not zoomed in) at most once a second.
export function onSensorReadings(readings) {
  if (!current || current.zoom || Date.now() - lastLiveRefresh < LIVE_REFRESH_MS) return;
  if (!readings.some((r) => r.sensor_id === current.id)) return;
  lastLiveRefresh = Date.now();
  draw();
}

export function startSensorPage() {
  chart = new LineChart(document.getElementById("sensor-chart"), {
    onZoom: (from, to) => {
      if (!current) return;
      current.zoom = from === null ? null : [from, to];
      draw();
    },
  });
  document.getElementById("sensor-metric").addEventListener("change", draw);
}
