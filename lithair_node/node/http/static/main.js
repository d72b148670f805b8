// The dashboard's entry point: the read token, the views, the stream, the hash router
// (#cluster, #sensors, #sensor=<id>, ...).

import { openStream, setToken, takeTokenFromFragment, Unauthorized } from "./api.js";
import { startCluster } from "./cluster.js";
import { every } from "./dom.js";
import { startIngest } from "./ingest.js";
import { onAnomaly, showLocations, startAnomalies } from "./lists.js";
import { onSensorReadings, showSensor, startSensorPage } from "./sensor.js";
import { onReadings, startSensors } from "./sensors.js";

const LOCATIONS_POLL_MS = 5000;
const STREAM_QUERY = "events=readings,anomaly,cluster&max_rate=20&max_readings=500";

function askForToken() {
  const form = document.getElementById("token-form");
  if (!form.hidden) return;
  form.hidden = false;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    setToken(document.getElementById("token-input").value);
    location.reload();
  });
}

function route() {
  const hash = decodeURIComponent(location.hash.slice(1));
  const sensor = hash.startsWith("sensor=") ? hash.slice(7) : null;
  const overview = ["cluster", "ingest", "sensors", "locations", "anomalies"];
  for (const view of document.querySelectorAll(".view")) {
    view.hidden = sensor ? view.id !== "sensor" : view.id === "sensor";
  }
  for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.hash === `#${hash}`);
  if (sensor) return showSensor(sensor);
  if (overview.includes(hash)) document.getElementById(hash).scrollIntoView();
}

function showError(error) {
  if (error instanceof Unauthorized) return askForToken();
  document.getElementById("page-error").textContent = error.message;
}

async function main() {
  takeTokenFromFragment();
  const state = document.getElementById("stream-state");
  const poll = (periodMs, task) => every(periodMs, task, showError);
  const refreshCluster = startCluster(poll);
  startIngest(poll);
  startSensorPage();
  await Promise.all([startSensors(), startAnomalies()]);
  poll(LOCATIONS_POLL_MS, showLocations);
  openStream(STREAM_QUERY, (event) => {
    if (event.event === "readings") {
      onReadings(event.data.readings);
      onSensorReadings(event.data.readings);
    } else if (event.event === "anomaly") onAnomaly(event.data);
    else if (event.event === "cluster") refreshCluster();
  }, (streamState) => {
    state.textContent = streamState;
    state.classList.toggle("live", streamState === "live");
    if (streamState === "unauthorized") askForToken();
  });
  window.addEventListener("hashchange", route);
  await route();
}

// One place for every failed call (polls, redraws, the stream's handlers): shown, not
// left in the console as an unhandled rejection.
window.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  showError(event.reason);
});
main().catch(showError);
