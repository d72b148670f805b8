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
from lithair_node.node.raft.election_trace import trace
from lithair_node.node.raft.prevote import (
    KEEPALIVE,
    KEEPALIVE_FRACTION,
    LEASE_RELEASE,
    PRE_VOTE,
    PRE_VOTE_RESPONSE,
    LogPosition,
    PreVoteRound,
    campaign_instead,
    contend_pre_vote,
    fast_election_delay,
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
        self._keepalive_at = 0.0
        # The connection to our leader closed and nothing came from a leader since: our own
        # stalls no longer postpone the election (there are no heartbeats to wait for).
        self.leader_connection_lost = False
        self.pre_votes = {"started": 0, "won": 0, "granted": 0, "denied": 0,
                          "vote_requests_ignored": 0, "recampaigns": 0, "yielded": 0,
                          "leader_connection_lost": 0}

    def _heard_ago(self, now: float) -> float | None:
        heard = self._leader_heard_at
        return None if heard is None else now - heard

    def _SyncObj__onNodeDisconnected(self, node: Any) -> None:  # PySyncObj's transport callback
        """The TCP connection to a peer closed (its process died and its kernel closed the
        socket, it closed it, or a connection attempt was refused). If that peer is our
        leader: drop the lease and ask the pre-vote after a short random delay, not the
        whole election timeout. The pre-vote still needs a majority, so a connection blip
        to a live leader (the other followers still hear it) deposes nobody. A power cut
        or a partition sends no FIN: the normal timeout still covers those."""
        super()._SyncObj__onNodeDisconnected(node)  # type: ignore[misc]
        if self._SyncObj__raftState == _LEADER or self._SyncObj__selfNode is None or \
                node != self._SyncObj__raftLeader or self._SyncObj__transferInProgress:
            return
        now = raft_clock()
        heard_ago = self._heard_ago(now)
        self._leader_heard_at = None
        self.leader_connection_lost = True
        delay = fast_election_delay()
        self._SyncObj__raftElectionDeadline = min(self._SyncObj__raftElectionDeadline, now + delay)
        self.pre_votes["leader_connection_lost"] += 1
        log.info("connection to our leader %s closed: pre-vote in %.2f s", node.id, delay)
        trace("leader_connection_lost", leader=node.id, heard_ago=heard_ago, pre_vote_in=delay)

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

    def _keep_peer_connections_alive(self) -> None:
        """Start of a tick, not leading: a `keepalive` to every peer but our leader (whose
        appends and our answers keep that connection read), so that no connection goes
        unread for PySyncObj's connection timeout (see prevote.KEEPALIVE)."""
        now = raft_clock()
        if self._SyncObj__raftState == _LEADER or self._SyncObj__selfNode is None or \
                now < self._keepalive_at:
            return
        self._keepalive_at = now + self._config.raft.connection_timeout_s * KEEPALIVE_FRACTION
        for node in self._SyncObj__otherNodes:
            if node != self._SyncObj__raftLeader:
                self._SyncObj__transport.send(node, {"type": KEEPALIVE})

    def _maybe_pre_vote(self) -> None:
        """Start of a tick: if PySyncObj is about to campaign, ask a pre-vote first."""
        self._keep_peer_connections_alive()
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
        deadline = self._SyncObj__raftElectionDeadline
        late = "forced" if deadline == 0 else now - deadline  # 0: a won pre-vote, a peer's ask
        self._SyncObj__raftElectionDeadline = \
            now + self._SyncObj__generateRaftTimeout()  # type: ignore[attr-defined]
        heard = self._leader_heard_at
        trace("pre_vote_start", term=term, heard_ago=self._heard_ago(now),
              late=late, last_tick_ms=self._last_tick_ms())
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
            own_round = self._pre_vote
            if granted and own_round is not None and \
                    own_round.term == facts["candidate_term"]:
                # Both of us ask for this term: only one may go on (see contend_pre_vote).
                if contend_pre_vote(candidate_id=str(node.id), own_id=str(self._SyncObj__selfNode.id),
                                    candidate_log=facts["candidate_log"],  # type: ignore[arg-type]
                                    own_log=facts["own_log"]):  # type: ignore[arg-type]
                    granted = False
                else:
                    self._pre_vote = None  # yield: no campaign of ours for this term
                    self.pre_votes["yielded"] += 1
                    self._SyncObj__raftElectionDeadline = \
                        now + self._SyncObj__generateRaftTimeout()  # type: ignore[attr-defined]
            self.pre_votes["granted" if granted else "denied"] += 1
            trace("pre_vote_request", peer=node.id, term=facts["candidate_term"],
                  granted=granted, lease=facts["lease"], heard_ago=self._heard_ago(now))
            if not granted and self._SyncObj__raftState != _LEADER and \
                    campaign_instead(**facts):  # type: ignore[arg-type]
                self._SyncObj__raftElectionDeadline = 0  # our own pre-vote, next tick
            self._SyncObj__transport.send(node, {
                "type": PRE_VOTE_RESPONSE, "term": message.get("term"), "granted": granted})
            return True
        if kind == PRE_VOTE_RESPONSE:
            round_ = self._pre_vote
            trace("pre_vote_answer", peer=node.id, term=message.get("term"),
                  granted=bool(message.get("granted")))
            if round_ is not None and not round_.won and self._SyncObj__raftState != _LEADER \
                    and round_.answer(node.id, message.get("term"), bool(message.get("granted"))):
                self.pre_votes["won"] += 1
                trace("pre_vote_won", term=round_.term)
                log.info("pre-vote for term %d granted by a majority: campaigning", round_.term)
                self._SyncObj__raftElectionDeadline = 0  # campaign on the next tick
            return True
        if kind == KEEPALIVE:
            return True
        if kind == LEASE_RELEASE:
            if node == self._SyncObj__raftLeader:
                self._lease_released_until = now + self._config.raft.election_max_s
            return True
        if kind == "request_vote":
            ignored = self._sticky(node, int(message.get("term", 0)), now)
            trace("vote_request", peer=node.id, term=message.get("term"), ignored=ignored)
            return ignored
        if kind == "response_vote":
            trace("vote_granted", peer=node.id, term=message.get("term"))
        if kind == "append_entries" and message.get("term", -1) >= self._SyncObj__raftCurrentTerm:
            if node != self._SyncObj__raftLeader or \
                    message.get("term") != self._SyncObj__raftCurrentTerm:
                trace("leader_heard", leader=node.id, term=message.get("term"))
            self._leader_heard_at = now
            self.leader_connection_lost = False
            self._pre_vote = None
        return False

    def _last_tick_ms(self) -> float:
        return round(getattr(self, "_last_tick_s", 0.0) * 1000, 1)

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
