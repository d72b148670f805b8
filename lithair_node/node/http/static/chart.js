// A small canvas line chart of our own: time on x, several series, anomaly markers, and
// drag-to-zoom (the owner decides what a zoom means: it is told the chosen x range).

const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be185d", "#4d7c0f"];
const PAD = { left: 56, right: 12, top: 10, bottom: 22 };

function niceTicks(low, high, count, minStep = 0) {
  const span = high - low || 1;
  const raw = Math.max(span / count, minStep);
  const step = [1, 2, 5, 10].map((m) => m * 10 ** Math.floor(Math.log10(raw))).find((s) => s >= raw);
  const ticks = [];
  for (let v = Math.ceil(low / step) * step; v <= high; v += step) ticks.push(v);
  return ticks;
}

function timeLabel(seconds, span) {
  const iso = new Date(seconds * 1000).toISOString();
  if (span > 3 * 86400) return iso.slice(0, 10);
  if (span > 86400) return iso.slice(5, 16).replace("T", " ");
  return iso.slice(11, 19);
}

function valueLabel(v) {
  const a = Math.abs(v);
  if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
  if (a >= 1e4) return (v / 1e3).toFixed(0) + "k";
  return a >= 100 || v === 0 ? v.toFixed(0) : v.toPrecision(3);
}

export class LineChart {
  constructor(canvas, { onZoom = null } = {}) {
    this.canvas = canvas;
    this.series = [];
    this.markers = [];
    this.onZoom = onZoom;
    this.drag = null;
    new ResizeObserver(() => this.draw()).observe(canvas);
    if (onZoom) this.enableZoom();
  }

  // series: [{name, points: [[x seconds, y], ...]}]; markers: [x seconds, ...]
  set(series, markers = []) {
    this.series = series;
    this.markers = markers;
    this.draw();
  }

  plotWidth() {
    return Math.max(1, this.canvas.clientWidth - PAD.left - PAD.right);
  }

  bounds() {
    let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
    for (const s of this.series) {
      for (const [x, y] of s.points) {
        x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
    }
    if (!isFinite(x0)) return null;
    if (x0 === x1) { x0 -= 1; x1 += 1; }
    if (y0 === y1) { y0 -= 1; y1 += 1; }
    const margin = (y1 - y0) * 0.05;
    return { x0, x1, y0: y0 - margin, y1: y1 + margin };
  }

  draw() {
    const { canvas } = this;
    const ratio = window.devicePixelRatio || 1;
    const [w, h] = [canvas.clientWidth, canvas.clientHeight];
    canvas.width = w * ratio;
    canvas.height = h * ratio;
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);
    ctx.font = "11px system-ui, sans-serif";
    canvas.dataset.summary = JSON.stringify(this.series.map((s) => ({ name: s.name, points: s.points.length })));
    const b = this.bounds();
    if (!b) {
      ctx.fillStyle = "#6b7385";
      ctx.fillText("no data yet", w / 2 - 30, h / 2);
      return;
    }
    const px = (x) => PAD.left + ((x - b.x0) / (b.x1 - b.x0)) * (w - PAD.left - PAD.right);
    const py = (y) => h - PAD.bottom - ((y - b.y0) / (b.y1 - b.y0)) * (h - PAD.top - PAD.bottom);
    this.toX = (pixel) => b.x0 + ((pixel - PAD.left) / (w - PAD.left - PAD.right)) * (b.x1 - b.x0);
    ctx.strokeStyle = "#e5e7eb";
    ctx.fillStyle = "#6b7385";
    for (const y of niceTicks(b.y0, b.y1, 4)) {
      ctx.beginPath(); ctx.moveTo(PAD.left, py(y)); ctx.lineTo(w - PAD.right, py(y)); ctx.stroke();
      ctx.fillText(valueLabel(y), 4, py(y) + 4);
    }
    for (const x of niceTicks(b.x0, b.x1, Math.max(2, Math.floor(w / 140)), 1)) { // whole seconds
      ctx.fillText(timeLabel(x, b.x1 - b.x0), px(x) - 24, h - 6);
    }
    ctx.strokeStyle = "#dc2626";
    for (const x of this.markers) {
      if (x < b.x0 || x > b.x1) continue;
      ctx.beginPath(); ctx.moveTo(px(x), PAD.top); ctx.lineTo(px(x), h - PAD.bottom); ctx.stroke();
    }
    this.series.forEach((s, i) => {
      ctx.strokeStyle = ctx.fillStyle = COLORS[i % COLORS.length];
      ctx.beginPath();
      s.points.forEach(([x, y], j) => (j ? ctx.lineTo(px(x), py(y)) : ctx.moveTo(px(x), py(y))));
      ctx.stroke();
      if (s.points.length < 60) s.points.forEach(([x, y]) => ctx.fillRect(px(x) - 2, py(y) - 2, 4, 4));
      ctx.fillText(s.name, PAD.left + 8 + 110 * i, PAD.top + 10);
    });
    if (this.drag && this.drag.to !== null) {
      ctx.fillStyle = "rgba(37, 99, 235, 0.15)";
      const [a, z] = [this.drag.from, this.drag.to].sort((m, n) => m - n);
      ctx.fillRect(a, PAD.top, z - a, h - PAD.top - PAD.bottom);
    }
  }

  enableZoom() {
    const at = (event) => event.offsetX;
    this.canvas.addEventListener("mousedown", (e) => { this.drag = { from: at(e), to: null }; });
    this.canvas.addEventListener("mousemove", (e) => {
      if (this.drag) { this.drag.to = at(e); this.draw(); }
    });
    this.canvas.addEventListener("mouseup", (e) => {
      const drag = this.drag;
      this.drag = null;
      if (!drag || drag.to === null || Math.abs(at(e) - drag.from) < 5 || !this.toX) return this.draw();
      const [a, z] = [drag.from, at(e)].sort((m, n) => m - n);
      this.onZoom(this.toX(a), this.toX(z));
    });
    this.canvas.addEventListener("dblclick", () => this.onZoom(null, null));
  }
}
