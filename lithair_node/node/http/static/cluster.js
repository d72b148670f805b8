// Cluster view: every member's Raft view, asked by the node serving this page.

import { getJson } from "./api.js";
import { el } from "./dom.js";

const POLL_MS = 500; // a leader change shows within a second

function health(node, leaderCommit) {
  if (!node.reachable) return ["unreachable", "bad"];
  const s = node.status;
  if (!s.leader) return ["no leader", "bad"];
  if (!s.ready) return ["catching up", "warn"];
  if (leaderCommit !== null && leaderCommit - s.applied_index > 1000) return ["lagging", "warn"];
  return ["ok", "ok"];
}

function render(view) {
  const leader = view.nodes.find((n) => n.reachable && n.status.role === "leader");
  const leaderCommit = leader ? leader.status.commit_index : null;
  const rows = view.nodes.map((node) => {
    const s = node.status || {};
    const [text, kind] = health(node, leaderCommit);
    const lag = leaderCommit !== null && node.reachable ? Math.max(0, leaderCommit - s.applied_index) : "";
    return el("tr", { "data-node": node.node_id || node.raft_address, "data-role": node.reachable ? s.role : "down" },
      el("td", { text: node.node_id || node.raft_address }),
      el("td", {}, node.http_url ? el("a", { href: node.http_url, text: node.http_url }) : ""),
      el("td", { text: node.reachable ? s.role : "-" }),
      el("td", { text: s.term ?? "" }), el("td", { text: s.commit_index ?? "" }),
      el("td", { text: s.applied_index ?? "" }), el("td", { text: lag }),
      el("td", { text: s.total_readings?.toLocaleString() ?? "" }),
      el("td", { class: `health-${kind}`, text: node.reachable ? text : `${text} (${node.error})` }));
  });
  document.querySelector("#cluster-table tbody").replaceChildren(...rows);
  document.getElementById("cluster-summary").textContent = leader
    ? `leader ${leader.node_id}, term ${leader.status.term}` : "no leader";
  document.getElementById("served-by").textContent = `served by ${view.asked_by}`;
}

// Returns a function that refreshes at once (on a cluster event of the stream).
export function startCluster(every) {
  const refresh = async () => render(await getJson("/api/v1/cluster/nodes"));
  every(POLL_MS, refresh);
  return refresh;
}
