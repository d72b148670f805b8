// Small DOM helpers shared by the views.

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

export function sensorLink(sensorId) {
  return el("a", { href: `#sensor=${encodeURIComponent(sensorId)}`, text: sensorId });
}

export function formatValues(values) {
  return Object.entries(values).map(([name, v]) => `${name} ${+v.toFixed(3)}`).join(", ");
}

// Calls `task` every `periodMs` (the next call only once the previous one has finished);
// a failure is shown in the header and retried, never left as an unhandled rejection.
export function every(periodMs, task, onError) {
  const run = async () => {
    try {
      await task();
    } catch (error) {
      onError(error);
    } finally {
      setTimeout(run, periodMs);
    }
  };
  run();
}
