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
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lithair_node.client.cluster_client import ACKED, ClusterClient
from lithair_node.client.inject import BackgroundInjector
from lithair_node.lab.chaos import plan as kinds
from lithair_node.lab.chaos.faults import ClusterFaults
from lithair_node.lab.chaos.observe import ReadWatch
from lithair_node.lab.chaos.plan import PlannedFault, plan_faults
from lithair_node.lab.chaos.report import FaultRecord, run_result
from lithair_node.lab.history import History, checkable_batches
from lithair_node.lab.leader_watch import LeaderWatch
from lithair_node.lab.local_cluster import LocalCluster
from lithair_node.lab.netlab import NetworkLab
from lithair_node.node.config import TESTING_ENV, UNSYNCED_WRITES_BUFFER, UNSYNCED_WRITES_ENV
from lithair_node.polling import wait_until

POWER_CUT_ENV = {TESTING_ENV: "1", UNSYNCED_WRITES_ENV: UNSYNCED_WRITES_BUFFER}
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
    # Nodes in the test I/O mode (a kill -9 loses unsynced writes), and power_cut faults.
    power_cut: bool = False


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
        self.fault_kit = ClusterFaults(cluster, lab)

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
                self._load_until(self.origin + planned.at_s)
                try:
                    record = self._apply(planned)
                except TimeoutError as exc:  # no agreed leader to aim the fault at
                    self.problems.append(f"fault {planned.number} ({planned.kind}): {exc}")
                    break
                if record.error is not None:
                    self.problems.append(f"fault {planned.number} ({planned.kind}): {record.error}")
                    break  # the cluster did not recover: check what it holds now
        finally:
            self.fault_kit.release_everything()
        if not self.problems:
            self._load_until(self.origin + options.duration_s)
        load_stopped = self._stop_writers()
        self.log(f"+{self._now():7.2f}s  load stopped; waiting for every node to converge")
        converged = self._converge()
        assert self.reads is not None
        self.reads.stop()
        self.watch.stop()
        return run_result(self, load_stopped, converged)

    def _now(self) -> float:
        return time.monotonic() - self.origin

    def _writer_stopped(self) -> bool:
        """False while every writer runs; raises the error of one that stopped (RuntimeError
        if it had none), which ends any wait on it."""
        for writer in self.writers:
            if not writer.running:
                writer.stop()  # raises the writer's error, if it had one
                raise RuntimeError("a writer stopped early")
        return False

    def _load_until(self, end: float) -> None:
        """Let the load run until time.monotonic() reaches `end` (the gap the schedule
        leaves between faults, or a fault's hold), watching that no writer stops."""
        remaining = end - time.monotonic()
        if remaining > 0:
            with contextlib.suppress(TimeoutError):  # `end` reached: no writer stopped
                wait_until(self._writer_stopped, remaining, period_s=0.1)

    def _wait_acked(self, count: int, timeout_s: float) -> None:
        target = self.history.count(ACKED) + count

        def acked() -> bool:
            return not self._writer_stopped() and self.history.count(ACKED) >= target

        wait_until(acked, timeout_s, what=f"{count} more write(s) acked")

    # -- faults ----------------------------------------------------------------------------

    def _apply(self, planned: PlannedFault) -> FaultRecord:
        record = FaultRecord(planned)
        self.faults.append(record)
        leader_event = self.watch.wait_leader(self.options.recovery_timeout_s)
        record.leader_before, record.term_before = leader_event.node_id, leader_event.term
        fault = self.fault_kit.prepare(planned, self.cluster.urls.index(leader_event.node))
        record.targets, record.detail = fault.targets, fault.detail
        record.started = time.monotonic()
        record.started_wall = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.log(f"+{self._now():7.2f}s  fault {planned.number}/{len(self.plan)}: {planned.kind} "
                 f"{' '.join(record.targets)} ({record.detail}) for {planned.hold_s:.2f} s; "
                 f"leader was {record.leader_before} (term {record.term_before})")
        try:
            fault.start()
            self._load_until(time.monotonic() + planned.hold_s)
        finally:
            fault.undo()
            record.healed = time.monotonic()
        self._recover(record)
        return record

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


def run_chaos(options: ChaosOptions, base_dir: Path,
              log: Callable[[str], None] = print) -> dict[str, Any]:
    """Set up (namespaces when possible), run, check, tear everything down. Returns the
    result (see report.run_result) with the plan and how partitions were made."""
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
                       required=options.required, power_cut=options.power_cut)
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
            env=POWER_CUT_ENV if options.power_cut else {},
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
                run.fault_kit.release_everything()
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
