"""Snapshot benchmark (issue 11): a snapshot's cost at N Intel-Lab-like readings, after +1%
new data, and a real node's restart-to-ready on that data dir; this code beside a baseline
tree (`git archive` of --baseline-ref) in the same run, on the same state.

  prepare   (this tree) N readings through StateMachine.apply, written as a self-contained
            seed snapshot (format 2, which both trees read) + the +1% as log entries
  per tree  (a subprocess running that tree) load the seed; snapshot 1 (the first: full in
            both); apply the +1%; snapshot 2 (baseline: full again; ours: incremental);
            time from serialize() to SUCCESS, bytes handed to write() (/proc/self/io wchar)
  restart   3 nodes of that tree on copies of the data dir; a follower stopped (SIGTERM) and
            started again: spawn -> its /readyz 200, best of runs
  profile   (this tree) where the load goes: cProfile of SnapshotStore() + deserialize()
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgpack

from lithair_node.lab.bench.engine_feeds import intel_like_batches
from lithair_node.lab.bench.procfs import machine_info
from lithair_node.lab.bench.results import (
    REPO,
    RESULTS_DIR,
    checkout_ref,
    code_env,
    shown,
    utc_now,
    write_results,
)
from lithair_node.lab.local_cluster import LocalCluster
from lithair_node.machine import snapshot_file
from lithair_node.machine.commands import encode_ingest, make_encoded_batch
from lithair_node.machine.entries import LogEntry
from lithair_node.machine.state import StateMachine
from lithair_node.polling import wait_until

# Run inside each tree (PYTHONPATH): only names both versions have.
_WORKER = r"""
import json, sys, time
from pathlib import Path
import msgpack
from pysyncobj import SERIALIZER_STATE
from lithair_node.machine import snapshot_file
from lithair_node.machine.entries import LogEntry
from lithair_node.machine.state import StateMachine
from lithair_node.node.config import NodeConfig
from lithair_node.node.raft.journal.durable_file import make_dirs_durably
from lithair_node.node.raft.journal.fileio import OsFileIO
from lithair_node.node.raft.journal.meta import TermVote, write_term_vote
from lithair_node.node.raft.snapshot_store import SnapshotStore

seed, extra, data_dir, raft, members = sys.argv[1:6]
data_dir = Path(data_dir)

class Node:
    def __init__(self, id): self.id = id

def wchar():
    for line in open("/proc/self/io"):
        if line.startswith("wchar:"):
            return int(line.split()[1])

def snapshot(store, index):
    before, started = wchar(), time.perf_counter()
    cluster = {Node(address) for address in members.split(",")}
    store.serialize((None, (b"", index, 1), (b"", index - 1, 1), cluster), index)
    while store.checkSerializing()[0] == SERIALIZER_STATE.SERIALIZING:
        time.sleep(0.002)
    assert store.checkSerializing()[0] == SERIALIZER_STATE.NOT_SERIALIZING
    return {"seconds": round(time.perf_counter() - started, 3), "bytes_written": wchar() - before,
            "info": {k: v for k, v in store.info.items() if k != "finished_at"}}

view, _ = snapshot_file.read_file(Path(seed))
state = StateMachine()
state.load(view)
del view
make_dirs_durably(data_dir / "journal")
write_term_vote(OsFileIO(), str(data_dir / "journal"), TermVote(1, None))
config = NodeConfig(node_id="solo", http_host="127.0.0.1", http_port=1, raft_address=raft,
                    peers=(), data_dir=data_dir, raft_password="x")
store = SnapshotStore(config, state)
index = state.applied_index
first = snapshot(store, index)
payloads = msgpack.unpackb(Path(extra).read_bytes())
for payload in payloads:
    index += 1
    state.apply(LogEntry(index, 1, payload))
second = snapshot(store, index)
print(json.dumps({"first": first, "after_1pct": second, "readings": state.stats()["total_readings"],
                  "digest": state.digest(), "applied_index": index}))
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--readings", type=int, default=10_000_000)
    p.add_argument("--sensors", type=int, default=1000)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--extra-percent", type=float, default=1.0)
    p.add_argument("--restarts", type=int, default=3, help="restart-to-ready: best of")
    p.add_argument("--baseline-ref", default="main", help="git ref of the baseline tree")
    p.add_argument("--work", default=None, help="scratch dir (default: a temp dir, removed)")
    p.add_argument("--reuse-seed", action="store_true",
                   help="keep the seed and +1%% entries a previous run left in --work")
    return p.parse_args(argv)


def prepare(work: Path, readings: int, sensors: int, batch: int, extra_percent: float) -> dict[str, Any]:
    extra = int(readings * extra_percent / 100) // batch * batch
    started = time.perf_counter()
    state = StateMachine()
    payloads = []
    for number, columns in enumerate(intel_like_batches(sensors, batch, readings + extra)):
        payload = encode_ingest([make_encoded_batch(columns, f"bench-{number}", columns.readings)])
        if number * batch < readings:
            state.apply(LogEntry(number + 2, 1, payload))
        else:
            payloads.append(payload)
    raft_meta = {"last": [b"", state.applied_index, 1], "prev": [b"", state.applied_index - 1, 1],
                 "cluster": []}
    size = snapshot_file.write_atomic(work / "seed.lsnap", state.capture(), raft_meta)
    (work / "extra.msgpack").write_bytes(msgpack.packb(payloads))
    return {"readings": state.stats()["total_readings"], "extra_readings": extra,
            "segments": len(state.capture().segments), "seed_bytes": size,
            "build_seconds": round(time.perf_counter() - started, 1)}


def run_tree(tree: Path, work: Path, name: str, restarts: int, profile: bool = False) -> dict[str, Any]:
    """The worker writes node1's data dir (snapshots 1 and 2); node2 and node3 get copies of
    it; then a follower is restarted `restarts` times, each timed spawn -> /readyz 200."""
    cluster = LocalCluster(work / name, env=code_env(tree))
    first = cluster.specs[0].data_dir
    members = ",".join(spec.raft_address for spec in cluster.specs)
    env = {**os.environ, **code_env(tree)}
    done = subprocess.run([sys.executable, "-c", _WORKER, str(work / "seed.lsnap"),
                           str(work / "extra.msgpack"), str(first), cluster.specs[0].raft_address,
                           members], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{name} worker failed:\n{done.stderr[-4000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["data_dir_bytes"] = sum(p.stat().st_size for p in first.rglob("*") if p.is_file())
    for spec in cluster.specs[1:]:
        shutil.copytree(first, spec.data_dir)
    cluster.start()
    try:
        cluster.wait_ready(300)
        result["restart"] = [_restart_follower(cluster) for _ in range(restarts)]
    finally:
        cluster.stop()
    result["restart_best_s"] = min(r["ready_s"] for r in result["restart"])
    if profile:
        result["load_profile"] = profile_load(cluster.specs[0].data_dir)
    shutil.rmtree(work / name, ignore_errors=True)
    return result


def _restart_follower(cluster: LocalCluster) -> dict[str, Any]:
    follower = next(i for i in range(cluster.nodes) if i != cluster.leader_index())
    url = cluster.urls[follower]
    cluster.stop_node(follower)  # SIGTERM
    started = time.perf_counter()
    cluster.start_node(follower)
    wait_until(lambda: _get(f"{url}/readyz")[0] == 200, 300, period_s=0.02,
               what="the restarted node ready")
    ready_s = time.perf_counter() - started
    _, status = _get(f"{url}/api/v1/cluster/status")
    _, stats = _get(f"{url}/api/v1/stats")
    snapshot = (status or {}).get("snapshot", {})
    cluster.wait_ready(300)
    return {"node": cluster.specs[follower].node_id, "ready_s": round(ready_s, 3),
            "restore_read_ms": snapshot.get("restore_read_ms"),
            "restore_load_ms": snapshot.get("restore_load_ms"),
            "total_readings": (stats or {}).get("total_readings")}


def _get(url: str) -> tuple[int, Any]:
    from lithair_node.client.blocking_api import http_json
    return http_json(url, timeout_s=5.0)


def profile_load(data_dir: Path) -> dict[str, Any]:
    """Where a restore's time goes, in this process (the node adds its start around it)."""
    from lithair_node.node.config import NodeConfig
    from lithair_node.node.raft.snapshot_store import SnapshotStore

    config = NodeConfig(node_id="solo", http_host="127.0.0.1", http_port=1,
                        raft_address="127.0.0.1:1", peers=(), data_dir=data_dir, raft_password="x")
    state = StateMachine()
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    store = SnapshotStore(config, state)  # reads and checks the files, decodes the segments
    read_s = time.perf_counter() - started
    store.deserialize()  # StateMachine.load
    profiler.disable()
    total_s = time.perf_counter() - started
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(12)
    return {"read_and_decode_s": round(read_s, 3), "state_load_s": round(total_s - read_s, 3),
            "total_s": round(total_s, 3), "python_and_imports_s": _import_s(),
            "top_tottime": [line for line in text.getvalue().splitlines() if line.strip()][:30]}


def _import_s() -> float:
    """Wall time of a python that imports what `lithair serve` imports (best of 3)."""
    code = "import lithair_node.cli.serve_cmd, lithair_node.node.server"
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        runs.append(time.perf_counter() - started)
    return round(min(runs), 3)



def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bench-snapshot-"))
    work.mkdir(parents=True, exist_ok=True)
    baseline, commit = checkout_ref(REPO, args.baseline_ref)
    try:
        prepared = (json.loads((work / "prepared.json").read_text()) if args.reuse_seed
                    else prepare(work, args.readings, args.sensors, args.batch, args.extra_percent))
        (work / "prepared.json").write_text(json.dumps(prepared))
        print("prepared", prepared, flush=True)
        trees = {f"baseline-{commit}": run_tree(baseline, work, "baseline", args.restarts)}
        print("baseline", json.dumps(trees[f"baseline-{commit}"])[:600], flush=True)
        trees["incremental"] = run_tree(REPO, work, "incremental", args.restarts, profile=True)
        print("incremental", json.dumps(trees["incremental"])[:600], flush=True)
        assert len({tree["digest"] for tree in trees.values()}) == 1
    finally:
        shutil.rmtree(baseline, ignore_errors=True)
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    payload = {"bench": "snapshot", "at": utc_now(), "machine": machine_info(),
               "args": vars(args), "prepared": prepared, "trees": trees}
    path = write_results(RESULTS_DIR, "snapshot", payload)
    print(f"wrote {shown(path)}")
    return 0
