"""The leader-connection-loss rules (prevote.py), their glue on a stub (prevote_hooks.py), and
the PySyncObj 0.3.17 internals they rely on: fails loudly if those change."""

from __future__ import annotations

import inspect
import random
from types import SimpleNamespace
from typing import Any

from pysyncobj import SyncObj
from pysyncobj.monotonic import monotonic as raft_clock
from pysyncobj.transport import TCPTransport

from lithair_node.node.raft.prevote import (
    FAST_ELECTION_DELAY_S,
    LogPosition,
    PreVoteRound,
    contend_pre_vote,
    fast_election_delay,
)
from lithair_node.node.raft.prevote_hooks import PreVoteHooks


def test_the_disconnect_callback_pysyncobj_gives_its_transport_is_overridable() -> None:
    init = inspect.getsource(SyncObj.__init__)
    assert "setOnNodeDisconnectedCallback(self.__onNodeDisconnected)" in init
    assert hasattr(SyncObj, "_SyncObj__onNodeDisconnected")
    on_disconnected = inspect.getsource(TCPTransport._onDisconnected)
    assert "self._onNodeDisconnected(node)" in on_disconnected
    tick = inspect.getsource(SyncObj._onTick)
    assert "self.__raftElectionDeadline < monotonicTime()" in tick
    assert "self.__noopIDx = idx" in inspect.getsource(SyncObj._SyncObj__onBecomeLeader)
    assert "self.__votedForNodeId = votedForNodeId" in \
        inspect.getsource(SyncObj._SyncObj__setCurrentTerm)


def test_fast_delay_is_short_and_random() -> None:
    rng = random.Random(7)
    delays = [fast_election_delay(rng) for _ in range(1000)]
    low, high = FAST_ELECTION_DELAY_S
    assert low <= min(delays) and max(delays) <= high
    assert max(delays) - min(delays) > (high - low) / 2
    assert high < 0.5  # far below any election timeout we run


def test_two_askers_for_one_term_leave_exactly_one() -> None:
    equal = LogPosition(10, 2)
    for a, b in (("n1:1", "n2:2"), ("n2:2", "n1:1")):
        keeps_a = contend_pre_vote(candidate_id=b, own_id=a, candidate_log=equal, own_log=equal)
        keeps_b = contend_pre_vote(candidate_id=a, own_id=b, candidate_log=equal, own_log=equal)
        assert keeps_a != keeps_b  # one refuses and goes on, the other grants and yields
    # A candidate ahead of us always gets our grant (we could not win against it).
    assert not contend_pre_vote(candidate_id="z", own_id="a", candidate_log=LogPosition(11, 2),
                                own_log=equal)


class _Node:
    def __init__(self, node_id: str) -> None:
        self.id = node_id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Node) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)


class _Base:
    disconnected: list[Any]

    def _SyncObj__onNodeDisconnected(self, node: Any) -> None:
        self.disconnected.append(node)


class _Hooks(PreVoteHooks, _Base):
    pass


def _hooks(state: int = 0, leader: str | None = "L") -> _Hooks:
    hooks = _Hooks()
    hooks.disconnected = []
    hooks._config = SimpleNamespace(raft=SimpleNamespace(  # type: ignore[assignment]
        election_min_s=4.0, election_max_s=6.0))
    hooks._init_pre_vote()
    hooks._SyncObj__raftState = state
    hooks._SyncObj__raftCurrentTerm = 3
    hooks._SyncObj__raftElectionDeadline = raft_clock() + 5.0
    hooks._SyncObj__transferInProgress = False
    hooks._SyncObj__raftLeader = None if leader is None else _Node(leader)
    hooks._SyncObj__selfNode = _Node("B")
    hooks._SyncObj__otherNodes = {_Node("L"), _Node("C")}
    hooks._leader_heard_at = raft_clock()
    return hooks


def test_losing_the_leaders_connection_drops_the_lease_and_brings_the_pre_vote_near() -> None:
    hooks = _hooks()
    assert hooks._lease(raft_clock())
    hooks._SyncObj__onNodeDisconnected(_Node("L"))
    assert hooks.disconnected == [_Node("L")]  # PySyncObj's own handler still runs
    assert not hooks._lease(raft_clock())
    assert hooks._SyncObj__raftElectionDeadline - raft_clock() <= FAST_ELECTION_DELAY_S[1]
    assert hooks.pre_votes["leader_connection_lost"] == 1
    assert hooks.leader_connection_lost  # ReplicatedLog.postpone_election then does nothing


def test_losing_another_peer_or_leading_changes_no_timer() -> None:
    for hooks, node in ((_hooks(), "C"), (_hooks(state=2, leader="B"), "C"),
                        (_hooks(leader=None), "L")):
        deadline = hooks._SyncObj__raftElectionDeadline
        hooks._SyncObj__onNodeDisconnected(_Node(node))
        assert hooks._SyncObj__raftElectionDeadline == deadline
        assert hooks._leader_heard_at is not None
        assert hooks.pre_votes["leader_connection_lost"] == 0


def test_a_node_asking_the_same_term_yields_to_the_lower_id() -> None:
    for own, candidate, grants in (("B", "A", True), ("A", "B", False)):
        hooks = _hooks(leader=None)
        hooks._leader_heard_at = None
        hooks._SyncObj__selfNode = _Node(own)
        sent: list[tuple[str, dict[str, Any]]] = []
        hooks._SyncObj__transport = SimpleNamespace(send=lambda n, m, s=sent: s.append((n.id, m)))
        hooks._SyncObj__lastResponseTime = {}
        hooks._SyncObj__getCurrentLogIndex = lambda: 10  # type: ignore[attr-defined]
        hooks._SyncObj__getCurrentLogTerm = lambda: 3  # type: ignore[attr-defined]
        hooks._SyncObj__generateRaftTimeout = lambda: 5.0  # type: ignore[attr-defined]
        hooks._pre_vote = PreVoteRound(4, voters=3)
        assert hooks._on_pre_vote_message(_Node(candidate), {
            "type": "pre_vote", "term": 4, "last_log_index": 10, "last_log_term": 3})
        assert sent == [(candidate, {"type": "pre_vote_response", "term": 4, "granted": grants})]
        assert (hooks._pre_vote is None) == grants  # the one that grants drops its round
