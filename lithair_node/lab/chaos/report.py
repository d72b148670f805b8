"""What a chaos run reports: one record per applied fault, the result assembled from the
history and the watchers once the run is over, and its human summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lithair_node.client.cluster_client import ACKED
from lithair_node.lab.chaos.checks import acked_term_problems, integrity_counts
from lithair_node.lab.chaos.observe import election_safety, leaderless_intervals, overlap_s
from lithair_node.lab.chaos.plan import PlannedFault
from lithair_node.lab.history import BatchRecord, check_history

if TYPE_CHECKING:
    from lithair_node.lab.chaos.runner import ChaosRun


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


def run_result(run: ChaosRun, load_stopped: float, converged: bool) -> dict[str, Any]:
    """The checks over what the run recorded (the history, the leader and read watches,
    the faults), and the run's result as run_chaos returns it (without the plan)."""
    records = run.history.snapshot()
    report = check_history(run.cluster.urls, records)
    counts = integrity_counts(report, records)
    intervals = leaderless_intervals(run.watch.events, run.cluster.nodes, run.origin,
                                     load_stopped)
    for record in run.faults:
        if record.started is not None:
            record.leaderless_s = overlap_s(intervals, record.started,
                                            record.recovered or load_stopped)
    leaders_by_term, election_problems = election_safety(run.watch.events)
    terms = acked_term_problems(records)
    assert run.reads is not None
    reads = {url: track.as_dict() for url, track in run.reads.tracks.items()}
    problems = list(run.problems) + list(report.problems) + election_problems
    if terms["index_term_conflicts"]:
        problems.append(f"acks name different terms for one raft index: "
                        f"{terms['index_term_conflicts'][:5]}")
    if terms["term_inversions"]:
        problems.append(f"acked terms go down along the log: {terms['term_inversions'][:5]}")
    for url, track in reads.items():
        if track["went_backwards"]:
            problems.append(f"{url}: reads went backwards {track['went_backwards']} times, "
                            f"e.g. {track['violations'][:2]}")
    applied = [record.planned.kind for record in run.faults if record.started is not None]
    durations = [b - a for a, b in intervals]
    return {
        "ok": not problems,
        "problems": problems,
        "run_id": run.run_id,
        "load_s": round(load_stopped - run.origin, 3),
        "faults_applied": len(applied),
        "fault_kinds": sorted(set(applied)),
        "faults": [record.as_dict(run.origin) for record in run.faults],
        "writes": run.history.summary(),
        **counts,
        "converged": converged,
        "leaderless": {
            "max_s": round(max(durations, default=0.0), 3),
            "total_s": round(sum(durations), 3),
            "intervals": [[round(a - run.origin, 3), round(b - run.origin, 3)]
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
        "uncertain_batches": _uncertain(records, run.origin),
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
