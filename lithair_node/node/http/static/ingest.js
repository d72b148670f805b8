// Ingest view: readings/s and batches/s over the last minutes (the node's ingest history).

import { getJson } from "./api.js";
import { LineChart } from "./chart.js";
import { el } from "./dom.js";

const POLL_MS = 1000;

export function startIngest(every) {
  const readings = new LineChart(document.getElementById("ingest-readings"));
  const batches = new LineChart(document.getElementById("ingest-batches"));
  every(POLL_MS, async () => {
    const history = await getJson("/api/v1/ingest/history");
    const points = history.points;
    readings.set([{ name: "readings/s", points: points.map((p) => [p.t, p.readings_per_s]) },
                  { name: "duplicates/s", points: points.map((p) => [p.t, p.duplicates_per_s]) }]);
    batches.set([{ name: "batches/s", points: points.map((p) => [p.t, p.batches_per_s]) },
                 { name: "429s/s", points: points.map((p) => [p.t, p.overloaded_per_s]) }]);
    const last = points[points.length - 1] || { readings_per_s: 0 };
    const t = history.totals;
    const figure = (value, label) => el("div", { text: value.toLocaleString() }, el("small", { text: label }));
    document.getElementById("ingest-figures").replaceChildren(
      figure(last.readings_per_s, "readings/s now"), figure(t.readings, "readings stored"),
      figure(t.batches, "batches"), figure(t.duplicate_readings, "duplicate readings"),
      figure(t.duplicate_batches, "retried batches"), figure(t.overloaded, "429s (this node)"));
  });
}
