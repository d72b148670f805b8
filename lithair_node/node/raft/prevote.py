"""PreVote and leader stickiness (Raft thesis §9.6, etcd's PreVote + CheckQuorum): the
decision rules, as pure functions of what a node knows, so they can be tested alone.
ReplicatedLog (syncobj.py) feeds them PySyncObj's state and acts on the answers.

- A node whose election timer fires first asks its peers `pre_vote` (its term + 1, its last
  log index and term). Nobody changes term or vote for a pre-vote.
- A peer grants it only if it has not heard from a leader within the minimum election
  timeout (its lease), and the candidate's log is at least as up to date as its own.
- Only with a majority of grants (its own included) does the node start a real election.
- Stickiness: while its lease is fresh a node ignores `request_vote` from anyone but its
  leader, so a node that rejoins with a higher term (an old version, or from before this
  existed) does not make the majority step down.
- Leader connection lost: a follower whose TCP connection to its leader closes (a crashed
  process's kernel closes its sockets at once) drops its lease and asks its pre-vote after
  a short random delay (`FAST_ELECTION_DELAY_S`) instead of the whole election timeout. The
  pre-vote still needs a majority: if the leader is alive, the others still hear it and
  refuse. When two nodes ask for the same term at once, `contend_pre_vote` lets only one
  of them campaign (a split vote would cost a whole election timeout).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

PRE_VOTE = "pre_vote"
PRE_VOTE_RESPONSE = "pre_vote_response"
# Sent by a follower to every peer but its leader each KEEPALIVE_PERIOD_S: PySyncObj checks a
# connection's read timeout (connectionTimeout) only when its next event arrives, so the first
# message on a connection silent for longer (follower to follower, between elections) is
# dropped with the connection: it was the first pre-vote after a leader kill. Old versions
# ignore the type.
KEEPALIVE = "keepalive"
KEEPALIVE_FRACTION = 0.25  # of the connection timeout
# Sent by a leader handing over (TimeoutNow) to its followers: drop your lease, so the
# target's request_vote is not ignored by stickiness. Old versions ignore it.
LEASE_RELEASE = "lease_release"
# After the connection to our leader closed: ask the pre-vote this long after (uniform). Above
# a loopback round trip plus a tick (so the two followers rarely ask at once), far below any
# election timeout.
FAST_ELECTION_DELAY_S = (0.03, 0.15)


def fast_election_delay(rng: random.Random | None = None) -> float:
    low, high = FAST_ELECTION_DELAY_S
    return low + (high - low) * (rng or random).random()


@dataclass(frozen=True)
class LogPosition:
    index: int
    term: int

    def at_least_as_up_to_date_as(self, other: LogPosition) -> bool:
        """Raft §5.4.1: the later last term wins; with equal terms, the longer log."""
        return (self.term, self.index) >= (other.term, other.index)


def lease_fresh(heard_from_leader_ago_s: float | None, min_election_s: float) -> bool:
    """A follower's lease: it heard from a leader less than the minimum election timeout
    ago. None = no leader heard of since the last election."""
    return heard_from_leader_ago_s is not None and heard_from_leader_ago_s < min_election_s


def leader_lease_fresh(response_ages_s: list[float], min_election_s: float) -> bool:
    """A leader's lease (CheckQuorum): a majority of the cluster, itself included, answered
    within the minimum election timeout. `response_ages_s`: one age per other voter."""
    recent = 1 + sum(1 for age in response_ages_s if age < min_election_s)
    return recent > (len(response_ages_s) + 1) / 2


def grant_pre_vote(*, candidate_term: int, candidate_log: LogPosition, current_term: int,
                   own_log: LogPosition, lease: bool) -> bool:
    """Would this node vote for the candidate if it started an election now?
    `candidate_term` is the term it would campaign in (its own + 1)."""
    if lease:
        return False  # a healthy leader is in charge: no election needed
    if candidate_term <= current_term:
        return False  # it would not even win our vote in a real election of that term
    return candidate_log.at_least_as_up_to_date_as(own_log)


def campaign_instead(*, candidate_term: int, candidate_log: LogPosition, current_term: int,
                     own_log: LogPosition, lease: bool) -> bool:
    """A pre-vote refused only because the candidate's log is behind ours: the leader is
    silent for us too, and a peer's timer has fired already, so campaign now rather than
    wait for our own timer (only we, or a node as up to date, can win). Measured: without
    this an election after a leader kill took the later of the two followers' timers."""
    return not lease and candidate_term > current_term and \
        not candidate_log.at_least_as_up_to_date_as(own_log)


def contend_pre_vote(*, candidate_id: str, own_id: str, candidate_log: LogPosition,
                     own_log: LogPosition) -> bool:
    """We would grant the candidate's pre-vote, but we are asking one for the same term
    ourselves. True = refuse it and keep our round; False = grant it and drop our round.
    Both winning would make both campaign and split the vote (each votes for itself), which
    costs a whole election timeout. A candidate with a more up-to-date log always wins (we
    could not beat it); with equal logs the lower id does, the same answer on both sides, so
    exactly one of the two keeps asking."""
    if candidate_log != own_log:
        return False  # grant_pre_vote already refused a candidate behind us: it is ahead
    return own_id < candidate_id


def ignore_vote_request(*, request_term: int, current_term: int, from_leader: bool,
                        lease: bool) -> bool:
    """Stickiness: a request_vote for a higher term while our lease is fresh comes from a
    node that cannot know better than our leader (partitioned, or running without PreVote):
    ignoring it keeps our term and leader. The leader's own request (it campaigns again,
    see ReplicatedLog) and a TimeoutNow hand-over (the lease was released) still count."""
    return lease and not from_leader and request_term > current_term


def majority(granted: int, voters: int) -> bool:
    return granted > voters / 2


@dataclass
class PreVoteRound:
    """One pre-vote campaign of this node: the term it asks for and who said yes."""

    term: int
    voters: int  # cluster size, this node included
    granted: set[str] = field(default_factory=set)
    answered: set[str] = field(default_factory=set)

    def answer(self, node_id: str, term: int, granted: bool) -> bool:
        """Record one answer; True once a majority (this node's own yes included) granted."""
        if term != self.term:
            return False  # for an older round of ours
        self.answered.add(node_id)
        if granted:
            self.granted.add(node_id)
        return self.won

    @property
    def won(self) -> bool:
        return majority(1 + len(self.granted), self.voters)
