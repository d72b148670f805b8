// The node's own API (same origin), the read token, and the event stream.
//
// The token: a "#token=..." fragment of the page's URL (never sent to the server, then
// removed from the address bar), or typed into the form shown after a 401; kept in
// sessionStorage for this tab only. The stream is read with fetch(), not EventSource,
// so that it can send the token as an Authorization header like every other call.

const TOKEN_KEY = "lithair.read-token";
const RECONNECT_MS = 1000;

export class Unauthorized extends Error {}

export function takeTokenFromFragment() {
  const match = location.hash.match(/(^#|&)token=([^&]*)/);
  if (!match) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[2]));
  const rest = location.hash.replace(match[0], match[1] === "#" ? "#" : "").replace(/^#&/, "#");
  history.replaceState(null, "", location.pathname + location.search + (rest === "#" ? "" : rest));
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

export async function getJson(path) {
  const response = await fetch(path, { headers: authHeaders() });
  if (response.status === 401) throw new Unauthorized(path);
  const body = await response.json();
  if (!response.ok) throw new Error(`${path}: ${body.error ? body.error.message : response.status}`);
  return body;
}

function parseEvent(block) {
  const event = { event: "message", data: "", id: null };
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const at = line.indexOf(":");
    const name = at < 0 ? line : line.slice(0, at);
    const value = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
    if (name === "data") event.data += value;
    else if (name === "event") event.event = value;
    else if (name === "id") event.id = Number(value);
  }
  return event.data ? { ...event, data: JSON.parse(event.data) } : null;
}

// Reads GET /api/v1/stream?<query> for as long as the page lives; after a break it
// reconnects with Last-Event-ID, so no applied entry is missed while the node holds it.
export function openStream(query, onEvent, onState) {
  let lastId = null;
  const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
  async function readOnce() {
    const headers = authHeaders();
    if (lastId !== null) headers["Last-Event-ID"] = String(lastId);
    const response = await fetch(`/api/v1/stream?${query}`, { headers });
    if (response.status === 401) throw new Unauthorized("stream");
    if (!response.ok) throw new Error(`stream: HTTP ${response.status}`);
    onState("live");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r/g, "");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = parseEvent(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (!event) continue;
        if (event.id !== null) lastId = event.id;
        onEvent(event);
      }
    }
  }
  (async () => {
    for (;;) {
      try {
        await readOnce();
      } catch (error) {
        if (error instanceof Unauthorized) { onState("unauthorized"); return; }
      }
      onState("reconnecting");
      await sleep(RECONNECT_MS);
    }
  })();
}
