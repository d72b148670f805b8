"""Run a seeded fault schedule against a real 3-node cluster under load, then check.

One run:
1. a LocalCluster of `lithair serve` processes, each in a network namespace of its own when
   the machine allows it (netlab.py), else on loopback (partitions are then skipped, and
   the result says so);
2. `writers` ClusterClients, each writing `history.checkable_batches` of its own (a sensor
   per batch) through a BackgroundInjector; every finished batch goes to one History;
3. a LeaderWatch (role/term of every node, every 50 ms) and a ReadWatch (every node's
   /api/v1/stats, every 50 ms);
4. the faults of the plan, one at a time: apply, hold for the planned time, undo, then wait
   for recovery (every node ready, one leader agreed, a new write acked): polled, with a
   generous timeout;
5. after the last fault and the planned duration: stop the writers (in-flight batches settle),
   wait until every node holds the same state, and check the history against every node.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lithair_node.client.cluster_client import ACKED, ClusterClient
from lithair_node.client.inject import BackgroundInjector
from lithair_node.lab.chaos import plan as kinds
from lithair_node.lab.chaos.checks import acked_term_problems, integrity_counts
from lithair_node.lab.chaos.observe import ReadWatch, election_safety, leaderless_intervals, overlap_s
from lithair_node.lab.chaos.plan import PlannedFault, plan_faults
from lithair_node.lab.history import BatchRecord, History, check_history, checkable_batches
from lithair_node.lab.leader_watch import LeaderWatch
from lithair_node.lab.local_cluster import LocalCluster
from lithair_node.lab.netlab import NetworkLab

NAMESPACES = ("network namespaces: one per node (ip netns), veth pairs on one bridge; a link "
              "is cut with blackhole routes inside both namespaces; the host (clients, "
              "watchers) reaches every node throughout")


@dataclass(frozen=True)
class ChaosOptions:
    seed: int
    faults: int = 20
    duration_s: float = 300.0  # of load; faults are spread over it
    writers: int = 3
    concurrency: int = 2  # batches in flight per writer
    batch_size: int = 25
    rate: float | None = 500.0  # readings/s per writer (None: as fast as acked)
    network: bool | None = None  # None: namespaces when available; False: loopback
    required: tuple[str, ...] = ()  # fault kinds the plan must include (when possible)
    recovery_timeout_s: float = 120.0
    client_deadline_s: float = 60.0
    extra_args: tuple[str, ...] = ()  # for every `lithair serve`


@dataclass
class FaultRecord:
    planned: PlannedFault
    targets: list[str] = field(default_factory=list)  # node ids
    detail: str = ""
    leader_before: str | None = None
    term_before: int | None = None
    started: float | None = None  # time.monotonic()
    started_wall: str | None = None
    healed: float | None = None
    recovered: float | None = None
    leaders_during: list[tuple[str, int]] = field(default_factory=list)
    leaderless_s: float = 0.0
    error: str | None = None

    def as_dict(self, origin: float) -> dict[str, Any]:
        def rel(value: float | None) -> float | None:
            return None if value is None else round(value - origin, 3)

        return {
            **self.planned.as_dict(),
            "targets": self.targets,
            "detail": self.detail,
            "leader_before": self.leader_before,
            "term_before": self.term_before,
            "started_at_s": rel(self.started),
            "started_at": self.started_wall,
            "healed_at_s": rel(self.healed),
            "recovered_at_s": rel(self.recovered),
            "recovery_s": None if self.recovered is None or self.healed is None
            else round(self.recovered - self.healed, 3),
            "leaders_during": [list(x) for x in self.leaders_during],
            "leaderless_s": round(self.leaderless_s, 3),
            "error": self.error,
        }


class ChaosRun:
    def __init__(self, cluster: LocalCluster, plan: list[PlannedFault], options: ChaosOptions,
                 lab: NetworkLab | None, log: Callable[[str], None]) -> None:
        self.cluster = cluster
        self.plan = plan
        self.options = options
        self.lab = lab
        self.log = log
        self.run_id = f"chaos{options.seed}-{uuid.uuid4().hex[:6]}"
        self.history = History()
        self.watch = LeaderWatch(cluster.urls, period_s=0.05, timeout_s=1.0)
        self.origin = 0.0
        self.reads: ReadWatch | None = None
        self.writers: list[BackgroundInjector] = []
        self.faults: list[FaultRecord] = []
        self.problems: list[str] = []
        self._paused: set[int] = set()

    # -- driving ---------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        options = self.options
        self.cluster.wait_ready(timeout_s=options.recovery_timeout_s)
        self.watch.start()
        try:
            return self._run()
        finally:
            self.watch.stop()
            if self.reads is not None:
                self.reads.stop()

    def _run(self) -> dict[str, Any]:
        options = self.options
        self.watch.wait_leader(options.recovery_timeout_s)
        self.origin = time.monotonic()
        self.reads = ReadWatch(self.cluster.urls, self.origin).start()
        urls = list(self.cluster.urls)
        for number in range(options.writers):
            name = f"{self.run_id}-w{number}"
            self.writers.append(BackgroundInjector(
                lambda: ClusterClient(urls, deadline_s=options.client_deadline_s),
                checkable_batches(name, options.batch_size),
                concurrency=options.concurrency, rate=options.rate, key_prefix=name,
                on_result=self.history.add,
            ).start())
        self._wait_acked(1, options.recovery_timeout_s)
        self.log(f"+{self._now():7.2f}s  load running: {options.writers} writers, "
                 f"{self.history.count(ACKED)} batches acked so far")
        try:
            for planned in self.plan:
                self._idle_until(planned.at_s)
                try:
                    record = self._apply(planned)
                except TimeoutError as exc:  # no agreed leader to aim the fault at
                    self.problems.append(f"fault {planned.number} ({planned.kind}): {exc}")
                    break
                if record.error is not None:
                    self.problems.append(f"fault {planned.number} ({planned.kind}): {record.error}")
                    break  # the cluster did not recover: check what it holds now
        finally:
            self._release_everything()
        if not self.problems:
            self._idle_until(options.duration_s)
        load_stopped = self._stop_writers()
        self.log(f"+{self._now():7.2f}s  load stopped; waiting for every node to converge")
        converged = self._converge()
        assert self.reads is not None
        self.reads.stop()
        self.watch.stop()
        return self._results(load_stopped, converged)

    def _now(self) -> float:
        return time.monotonic() - self.origin

    def _writers_alive(self) -> None:
        for writer in self.writers:
            if not writer.running:
                writer.stop()  # raises the writer's error, if it had one
                raise RuntimeError("a writer stopped early")

    def _idle_until(self, at_s: float) -> None:
        """The gap the schedule leaves between faults (the load keeps running)."""
        while self._now() < at_s:
            self._writers_alive()
            time.sleep(min(0.1, max(0.0, at_s - self._now())))

    def _hold(self, seconds: float) -> None:
        """The fault's own duration, from the seeded schedule."""
        end = time.monotonic() + seconds
        while (remaining := end - time.monotonic()) > 0:
            self._writers_alive()
            time.sleep(min(0.1, remaining))

    def _wait_acked(self, count: int, timeout_s: float) -> None:
        target = self.history.count(ACKED) + count
        deadline = time.monotonic() + timeout_s
        while self.history.count(ACKED) < target:
            self._writers_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"no write acked within {timeout_s} s")
            time.sleep(0.05)

    # -- faults ----------------------------------------------------------------------------

    def _apply(self, planned: PlannedFault) -> FaultRecord:
        cluster, nodes = self.cluster, self.cluster.nodes
        record = FaultRecord(planned)
        self.faults.append(record)
        leader_event = self.watch.wait_leader(self.options.recovery_timeout_s)
        leader = cluster.urls.index(leader_event.node)
        followers = [i for i in range(nodes) if i != leader]
        record.leader_before, record.term_before = leader_event.node_id, leader_event.term

        def choose(candidates: list[int]) -> int:
            return candidates[min(int(planned.pick * len(candidates)), len(candidates) - 1)]

        def ids(indexes: list[int]) -> list[str]:
            return [cluster.specs[i].node_id for i in indexes]

        kind = planned.kind
        start: Callable[[], None]
        undo: Callable[[], None]
        if kind in kinds.KILLS or kind in kinds.PAUSES:
            role = kind.split("_")[1]
            target = (leader if role == "leader" else choose(followers) if role == "follower"
                      else choose(list(range(nodes))))
            record.targets = ids([target])
            record.detail = f"{'leader' if target == leader else 'follower'}"
            if kind in kinds.KILLS:
                start = functools.partial(cluster.kill_node, target)
                undo = functools.partial(cluster.start_node, target)
            else:
                start = functools.partial(self._pause, target)
                undo = functools.partial(self._resume, target)
        elif kind in (kinds.ISOLATE_LEADER, kinds.ISOLATE_FOLLOWER):
            assert self.lab is not None
            target = leader if kind == kinds.ISOLATE_LEADER else choose(followers)
            record.targets = ids([target])
            rest = ids([i for i in range(nodes) if i != target])
            record.detail = f"{ids([target])[0]} | {' '.join(rest)}"
            start = functools.partial(self.lab.isolate, target)
            undo = self.lab.heal
        elif kind == kinds.BRIDGE:
            assert self.lab is not None
            follower = choose(followers)
            record.targets = ids([leader, follower])
            record.detail = (f"link {ids([leader])[0]} <-> {ids([follower])[0]} cut; "
                             f"{', '.join(ids([i for i in followers if i != follower]))} sees both")
            start = functools.partial(self.lab.partition, [leader], [follower])
            undo = self.lab.heal
        elif kind == kinds.RESTART_CLUSTER:
            crash = planned.pick < 0.5
            record.targets = ids(list(range(nodes)))
            record.detail = "kill -9 of every node" if crash else "SIGTERM to every node"
            start = functools.partial(self._stop_all, crash)
            undo = cluster.start
        else:
            raise ValueError(f"unknown fault {kind}")
        record.started = time.monotonic()
        record.started_wall = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.log(f"+{self._now():7.2f}s  fault {planned.number}/{len(self.plan)}: {kind} "
                 f"{' '.join(record.targets)} ({record.detail}) for {planned.hold_s:.2f} s; "
                 f"leader was {record.leader_before} (term {record.term_before})")
        try:
            start()
            self._hold(planned.hold_s)
        finally:
            undo()
            record.healed = time.monotonic()
        self._recover(record)
        return record

    def _pause(self, index: int) -> None:
        self._paused.add(index)
        self.cluster.signal_node(index, signal.SIGSTOP)

    def _resume(self, index: int) -> None:
        self.cluster.signal_node(index, signal.SIGCONT)
        self._paused.discard(index)

    def _stop_all(self, crash: bool) -> None:
        cluster = self.cluster
        if crash:
            for index in range(cluster.nodes):
                cluster.kill_node(index)
            return
        for index in range(cluster.nodes):
            cluster.signal_node(index, signal.SIGTERM)
        for index in range(cluster.nodes):
            cluster.stop_node(index)

    def _recover(self, record: FaultRecord) -> None:
        """Every node ready and following one leader, and a write acked since the fault was
        undone."""
        timeout = self.options.recovery_timeout_s
        deadline = record.healed + timeout if record.healed else time.monotonic() + timeout
        try:
            self.cluster.wait_ready(timeout_s=max(1.0, deadline - time.monotonic()))
            self.watch.wait_leader(max(1.0, deadline - time.monotonic()))
            self._wait_acked(1, max(1.0, deadline - time.monotonic()))
        except TimeoutError as exc:
            record.error = f"no recovery within {timeout} s: {exc}"
            self.log(f"+{self._now():7.2f}s  {record.error}")
            return
        record.recovered = time.monotonic()
        assert record.started is not None
        seen = {(str(e.node_id), int(e.term or 0)) for e in self.watch.events
                if e.role == "leader" and record.started <= e.at <= record.recovered}
        record.leaders_during = sorted(seen, key=lambda x: x[1])
        self.log(f"+{self._now():7.2f}s  recovered {record.recovered - record.healed:.2f} s after "
                 f"the fault ended; leaders seen meanwhile: "
                 f"{', '.join(f'{n}@{t}' for n, t in record.leaders_during) or '-'}")

    def _release_everything(self) -> None:
        """Whatever happened: links healed, paused nodes continued, stopped nodes started."""
        if self.lab is not None:
            self.lab.heal()
        for index in list(self._paused):
            self._resume(index)
        for index in range(self.cluster.nodes):
            if not self.cluster.is_running(index):
                self.cluster.start_node(index)

    # -- the end ---------------------------------------------------------------------------

    def _stop_writers(self) -> float:
        timeout = self.options.client_deadline_s + 60
        with ThreadPoolExecutor(max_workers=len(self.writers)) as pool:
            list(pool.map(lambda writer: writer.stop(timeout_s=timeout), self.writers))
        return time.monotonic()

    def _converge(self) -> bool:
        timeout = self.options.recovery_timeout_s
        try:
            self.cluster.wait_ready(timeout_s=timeout)
            self.cluster.wait_converged(timeout_s=timeout)
        except TimeoutError as exc:
            self.problems.append(f"the cluster did not converge after the run: {exc}")
            return False
        return True

    def _results(self, load_stopped: float, converged: bool) -> dict[str, Any]:
        records = self.history.snapshot()
        report = check_history(self.cluster.urls, records)
        counts = integrity_counts(report, records)
        intervals = leaderless_intervals(self.watch.events, self.cluster.nodes, self.origin,
                                         load_stopped)
        for record in self.faults:
            if record.started is not None:
                record.leaderless_s = overlap_s(intervals, record.started,
                                                record.recovered or load_stopped)
        leaders_by_term, election_problems = election_safety(self.watch.events)
        terms = acked_term_problems(records)
        assert self.reads is not None
        reads = {url: track.as_dict() for url, track in self.reads.tracks.items()}
        problems = list(self.problems) + list(report.problems) + election_problems
        if terms["index_term_conflicts"]:
            problems.append(f"acks name different terms for one raft index: "
                            f"{terms['index_term_conflicts'][:5]}")
        if terms["term_inversions"]:
            problems.append(f"acked terms go down along the log: {terms['term_inversions'][:5]}")
        for url, track in reads.items():
            if track["went_backwards"]:
                problems.append(f"{url}: reads went backwards {track['went_backwards']} times, "
                                f"e.g. {track['violations'][:2]}")
        applied = [record.planned.kind for record in self.faults if record.started is not None]
        durations = [b - a for a, b in intervals]
        return {
            "ok": not problems,
            "problems": problems,
            "run_id": self.run_id,
            "load_s": round(load_stopped - self.origin, 3),
            "faults_applied": len(applied),
            "fault_kinds": sorted(set(applied)),
            "faults": [record.as_dict(self.origin) for record in self.faults],
            "writes": self.history.summary(),
            **counts,
            "converged": converged,
            "leaderless": {
                "max_s": round(max(durations, default=0.0), 3),
                "total_s": round(sum(durations), 3),
                "intervals": [[round(a - self.origin, 3), round(b - self.origin, 3)]
                              for a, b in intervals],
                "how": "no node leading with a majority following it in its term, as seen by "
                       "polling every node's /api/v1/cluster/status every 50 ms",
            },
            "elections": {"leaders_by_term": {str(t): ids for t, ids in leaders_by_term.items()},
                          "one_leader_per_term": not election_problems},
            "acked_terms": terms,
            "reads": reads,
            "integrity": report.as_dict(),
            "integrity_table": report.table(),
            "uncertain_batches": _uncertain(records, self.origin),
        }


def _uncertain(records: list[BatchRecord], origin: float, limit: int = 100) -> list[dict[str, Any]]:
    """The batches that did not end acked at once: the interesting part of the history."""
    chosen = [r for r in records if r.status != ACKED or r.result.had_uncertain_attempt]
    return [{
        "key": r.result.key,
        "sensor": r.probe.sensor_id,
        "status": r.status,
        "resolution": r.result.resolution,
        "sent_at_s": round(r.result.started - origin, 3),
        "node": r.result.node,
        "raft_index": (r.result.response or {}).get("raft_index"),
        "raft_term": (r.result.response or {}).get("raft_term"),
        "attempts": r.result.history,
    } for r in chosen[:limit]]


def run_chaos(options: ChaosOptions, base_dir: Path,
              log: Callable[[str], None] = print) -> dict[str, Any]:
    """Set up (namespaces when possible), run, check, tear everything down. Returns the
    result (see ChaosRun._results) with the plan and how partitions were made."""
    available = NetworkLab.available()
    use_network = available if options.network is None else options.network
    if use_network and not available:
        raise RuntimeError("network namespaces are not available here (needs root and iproute2)")
    if use_network:
        mechanism = NAMESPACES
    elif available:
        mechanism = "none: namespaces disabled for this run; partition faults skipped"
    else:
        mechanism = ("none: network namespaces unavailable here (needs root and iproute2); "
                     "nodes on loopback; partition faults skipped")
    plan = plan_faults(options.seed, options.faults, options.duration_s, network=use_network,
                       required=options.required)
    skipped = sorted(set(options.required) & set(kinds.PARTITIONS)) if not use_network else []
    log(f"chaos seed {options.seed}: {options.faults} faults over {options.duration_s:.0f} s; "
        f"partitions: {mechanism.split(':')[0] if use_network else mechanism}")
    lab: NetworkLab | None = None
    if use_network:
        for name in NetworkLab.remove_leftovers():
            log(f"removed a leftover of a dead run: {name}")
        lab = NetworkLab(3).setup()
    try:
        cluster = LocalCluster(
            Path(base_dir), nodes=3, extra_args=options.extra_args,
            hosts=lab.hosts if lab else None,
            command_prefixes=lab.command_prefixes if lab else None,
        )
        cluster.start()
        run = ChaosRun(cluster, plan, options, lab, log)
        try:
            result = run.run()
        except Exception:
            for index in range(cluster.nodes):
                log(f"--- {cluster.specs[index].node_id} log ---\n{cluster.log_tail(index)}")
            raise
        finally:
            with contextlib.suppress(Exception):
                run._release_everything()
            cluster.stop()
        if not result["ok"]:
            result["node_logs"] = {spec.node_id: cluster.log_tail(i, 60)
                                   for i, spec in enumerate(cluster.specs)}
    finally:
        if lab is not None:
            lab.teardown()
    return {
        "seed": options.seed,
        "options": {k: (list(v) if isinstance(v, tuple) else v)
                    for k, v in options.__dict__.items()},
        "partition_mechanism": mechanism,
        "partitions_skipped": not use_network,
        "required_but_skipped": skipped,
        "plan": [p.as_dict() for p in plan],
        **result,
    }


def summary_lines(result: dict[str, Any]) -> list[str]:
    """A human summary of run_chaos's result."""
    writes = result["writes"]
    lines = [
        f"seed {result['seed']}: {result['faults_applied']} faults applied over "
        f"{result['load_s']:.0f} s of load",
        f"partitions: {result['partition_mechanism']}",
        f"{'#':>3} {'start':>8} {'kind':17} {'targets':17} {'hold':>6} {'recovery':>9} "
        f"{'no leader':>9}  leaders during",
    ]
    for fault in result["faults"]:
        recovery = fault["recovery_s"]
        lines.append(
            f"{fault['number']:>3} {fault['started_at_s'] or 0:>7.1f}s {fault['kind']:17} "
            f"{','.join(fault['targets']):17} {fault['hold_s']:>5.1f}s "
            f"{'-' if recovery is None else f'{recovery:.1f}s':>9} {fault['leaderless_s']:>8.1f}s  "
            f"{' '.join(f'{n}@{t}' for n, t in fault['leaders_during']) or '-'}"
            + (f"  ERROR {fault['error']}" if fault["error"] else ""))
    reads = result["reads"]
    divergent = f" {result['divergent_nodes']}" if result["divergent_nodes"] else ""
    lines += [
        f"writes: {writes['batches']} batches ({writes['readings_acked']:,} readings acked): "
        f"{writes['acked']} acked, {writes['failed']} failed, {writes['unknown']} unknown; "
        f"{writes['with_uncertain_attempt']} had an uncertain attempt, resolved as "
        f"{writes['resolutions']}",
        f"lost {result['lost']}, duplicated {result['duplicated']} "
        f"(duplicate readings {result['duplicate_readings']}), divergent nodes "
        f"{len(result['divergent_nodes'])}{divergent}, "
        f"failed but stored {result['failed_but_present']}, unknown stored "
        f"{result['unknown_present']} of {result['unknown']}",
        f"time without a leader: max {result['leaderless']['max_s']:.2f} s, total "
        f"{result['leaderless']['total_s']:.2f} s; one leader per term: "
        f"{'yes' if result['elections']['one_leader_per_term'] else 'NO'} "
        f"(terms {min(map(int, result['elections']['leaders_by_term']), default=0)}.."
        f"{max(map(int, result['elections']['leaders_by_term']), default=0)})",
        f"acked entries: {result['acked_terms']['acked_entries']} raft indexes, "
        f"{len(result['acked_terms']['index_term_conflicts'])} with two terms, "
        f"{len(result['acked_terms']['term_inversions'])} term inversions",
        "reads: " + "; ".join(
            f"{url.split('//')[-1]} {r['reads']} reads, {r['starting_503']} starting, "
            f"{'never backwards' if not r['went_backwards'] else str(r['went_backwards']) + ' BACKWARDS'}"
            for url, r in reads.items()),
        result["integrity_table"],
        "RESULT: " + ("OK" if result["ok"] else "FAILED\n  " + "\n  ".join(result["problems"])),
    ]
    return lines
