"""PreVote and leader stickiness plugged into PySyncObj 0.3.17 (the rules: prevote.py).

A mixin of ReplicatedLog (syncobj.py), the one class that owns PySyncObj; the internals it
reads are checked by tests/node/raft/test_replication_internals.py. Every time here is on
PySyncObj's clock (CLOCK_MONOTONIC_RAW), not time.monotonic: they drift apart (0.24 s
measured on this box), and its deadlines and response times are on its own.
"""

from __future__ import annotations

import logging
from typing import Any

from pysyncobj.monotonic import monotonic as raft_clock

from lithair_node.node.config import NodeConfig
from lithair_node.node.raft.prevote import (
    LEASE_RELEASE,
    PRE_VOTE,
    PRE_VOTE_RESPONSE,
    LogPosition,
    PreVoteRound,
    campaign_instead,
    grant_pre_vote,
    ignore_vote_request,
    leader_lease_fresh,
    lease_fresh,
)

log = logging.getLogger(__name__)

_FOLLOWER, _LEADER = 0, 2  # pysyncobj.syncobj._RAFT_STATE


class PreVoteHooks:
    """PreVote and leader stickiness over PySyncObj (rules: prevote.py). PySyncObj campaigns
    in `_onTick` as soon as the election deadline passed; we get there first, push the
    deadline back and ask `pre_vote` instead, and set it to 0 once a majority granted, so
    that PySyncObj's own campaign runs on the next tick. Messages of unknown type fall
    through every branch of PySyncObj's handler, so a node without this code ignores ours
    (and never answers a pre-vote: see DESIGN.md, Raft tuning, for a mixed cluster)."""

    _SyncObj__raftState: int
    _SyncObj__raftCurrentTerm: int
    _SyncObj__raftElectionDeadline: float
    _SyncObj__transferInProgress: bool
    _SyncObj__raftLeader: Any
    _SyncObj__selfNode: Any
    _SyncObj__otherNodes: Any
    _SyncObj__transport: Any
    _SyncObj__lastResponseTime: dict[Any, float]
    _config: NodeConfig

    def _init_pre_vote(self) -> None:
        self._pre_vote: PreVoteRound | None = None
        self._leader_heard_at: float | None = None
        self._lease_released_until = 0.0
        self.pre_votes = {"started": 0, "won": 0, "granted": 0, "denied": 0,
                          "vote_requests_ignored": 0, "recampaigns": 0}

    def _lease(self, now: float) -> bool:
        """Do we (or does our leader, as far as we know) hold a fresh lease?"""
        min_s = self._config.raft.election_min_s
        if now < self._lease_released_until:
            return False  # a leadership hand-over is under way
        if self._SyncObj__raftState == _LEADER:
            return leader_lease_fresh([now - self._SyncObj__lastResponseTime.get(n, 0.0)
                                       for n in self._SyncObj__otherNodes], min_s)
        heard = self._leader_heard_at
        return lease_fresh(None if heard is None else now - heard, min_s)

    def _own_log(self) -> LogPosition:
        return LogPosition(self._SyncObj__getCurrentLogIndex(),  # type: ignore[attr-defined]
                           self._SyncObj__getCurrentLogTerm())  # type: ignore[attr-defined]

    def _maybe_pre_vote(self) -> None:
        """Start of a tick: if PySyncObj is about to campaign, ask a pre-vote first."""
        now = raft_clock()
        if self._SyncObj__raftState == _LEADER or self._SyncObj__selfNode is None or \
                self._SyncObj__raftElectionDeadline >= now or \
                not self._SyncObj__connectedToAnyone():  # type: ignore[attr-defined]
            return
        others = list(self._SyncObj__otherNodes)
        if self._SyncObj__transferInProgress or not others:
            return  # TimeoutNow from the leader, or a one-member cluster: campaign now
        term = self._SyncObj__raftCurrentTerm + 1
        if self._pre_vote is not None and self._pre_vote.won and self._pre_vote.term == term:
            self._pre_vote = None
            return  # a majority granted: PySyncObj campaigns in this tick
        self._SyncObj__raftElectionDeadline = \
            now + self._SyncObj__generateRaftTimeout()  # type: ignore[attr-defined]
        heard = self._leader_heard_at
        if self._SyncObj__raftLeader is not None and \
                (heard is None or now - heard > self._config.raft.election_max_s):
            # Silent for a whole round already: stop forwarding to it (as an election would;
            # the first round keeps it, in case only we stalled).
            self._SyncObj__raftLeader = None
            self._SyncObj__onLeaderChanged()  # type: ignore[attr-defined]
        self._pre_vote = PreVoteRound(term, voters=len(others) + 1)
        self.pre_votes["started"] += 1
        log.info("election timer fired: asking a pre-vote for term %d", term)
        own = self._own_log()
        for node in others:
            self._SyncObj__transport.send(node, {
                "type": PRE_VOTE, "term": term,
                "last_log_index": own.index, "last_log_term": own.term})

    def _on_pre_vote_message(self, node: Any, message: dict[str, Any]) -> bool:
        """Handle our own message types and stickiness; True = PySyncObj must not see it."""
        kind = message.get("type")
        now = raft_clock()
        if kind == PRE_VOTE:
            facts = dict(candidate_term=int(message.get("term", 0)),
                         candidate_log=LogPosition(int(message.get("last_log_index", 0)),
                                                   int(message.get("last_log_term", 0))),
                         current_term=self._SyncObj__raftCurrentTerm, own_log=self._own_log(),
                         lease=self._lease(now))
            granted = grant_pre_vote(**facts)  # type: ignore[arg-type]
            self.pre_votes["granted" if granted else "denied"] += 1
            if not granted and self._SyncObj__raftState != _LEADER and \
                    campaign_instead(**facts):  # type: ignore[arg-type]
                self._SyncObj__raftElectionDeadline = 0  # our own pre-vote, next tick
            self._SyncObj__transport.send(node, {
                "type": PRE_VOTE_RESPONSE, "term": message.get("term"), "granted": granted})
            return True
        if kind == PRE_VOTE_RESPONSE:
            round_ = self._pre_vote
            if round_ is not None and not round_.won and self._SyncObj__raftState != _LEADER \
                    and round_.answer(node.id, message.get("term"), bool(message.get("granted"))):
                self.pre_votes["won"] += 1
                log.info("pre-vote for term %d granted by a majority: campaigning", round_.term)
                self._SyncObj__raftElectionDeadline = 0  # campaign on the next tick
            return True
        if kind == LEASE_RELEASE:
            if node == self._SyncObj__raftLeader:
                self._lease_released_until = now + self._config.raft.election_max_s
            return True
        if kind == "request_vote":
            return self._sticky(node, int(message.get("term", 0)), now)
        if kind == "append_entries" and message.get("term", -1) >= self._SyncObj__raftCurrentTerm:
            self._leader_heard_at = now
            self._pre_vote = None
        return False

    def _sticky(self, node: Any, term: int, now: float) -> bool:
        """Ignore a request_vote for a higher term while the lease is fresh. A leader that
        gets one campaigns again itself, one term above: it stays leader and the requester
        (a node without PreVote that raised its term while cut off, which would otherwise
        never accept our lower-term appends) learns the new term."""
        leading = self._SyncObj__raftState == _LEADER
        if not ignore_vote_request(request_term=term, current_term=self._SyncObj__raftCurrentTerm,
                                   from_leader=not leading and node == self._SyncObj__raftLeader,
                                   lease=self._lease(now)):
            return False
        self.pre_votes["vote_requests_ignored"] += 1
        if leading:
            self.pre_votes["recampaigns"] += 1
            log.warning("a node asked for votes in term %d while we lead with a fresh lease: "
                        "campaigning again above it", term)
            self._SyncObj__setCurrentTerm(term, None)  # type: ignore[attr-defined]
            self._SyncObj__setState(_FOLLOWER)  # type: ignore[attr-defined]
            self._SyncObj__raftLeader = None
            self._SyncObj__transferInProgress = True  # skip our pre-vote: campaign now
            self._SyncObj__raftElectionDeadline = 0
        return True

    def release_lease(self) -> None:
        """Before a TimeoutNow hand-over: followers and this leader drop their lease so the
        target's election is not ignored by stickiness."""
        if self._SyncObj__raftState != _LEADER:
            return
        self._lease_released_until = raft_clock() + self._config.raft.election_max_s
        for node in self._SyncObj__otherNodes:
            self._SyncObj__transport.send(node, {"type": LEASE_RELEASE,
                                                 "term": self._SyncObj__raftCurrentTerm})
