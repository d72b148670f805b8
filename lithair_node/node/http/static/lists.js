// Locations (each with its sensors) and the live anomaly feed.

import { getJson } from "./api.js";
import { el, sensorLink } from "./dom.js";

const FEED_LENGTH = 200;

export async function showLocations() {
  const answer = await getJson("/api/v1/locations");
  document.getElementById("location-list").replaceChildren(...answer.locations.map((l) =>
    el("li", {}, el("strong", { text: l.location }), el("small", { text: ` ${l.sensor_count} sensors` }),
      el("div", {}, ...l.sensors.slice(0, 50).flatMap((s) => [sensorLink(s), " "])))));
}

function anomalyItem(a) {
  const metrics = Object.entries(a.metrics).map(([name, m]) =>
    `${name} ${+m.value.toFixed(3)} (mean ${+m.mean.toFixed(3)}, ${m.sigmas === null ? "?" : m.sigmas.toFixed(1)}σ)`);
  return el("li", { "data-index": a.raft_index }, el("code", { text: a.timestamp }), " ",
    sensorLink(a.sensor_id), ` ${metrics.join(", ")}`);
}

// An `anomaly` event of the stream.
export function onAnomaly(anomaly) {
  const feed = document.getElementById("anomaly-feed");
  feed.prepend(anomalyItem(anomaly));
  while (feed.children.length > FEED_LENGTH) feed.lastChild.remove();
}

export async function startAnomalies() {
  const answer = await getJson(`/api/v1/anomalies?limit=50`);
  const feed = document.getElementById("anomaly-feed");
  feed.replaceChildren(...answer.anomalies.reverse().map(anomalyItem));
}
