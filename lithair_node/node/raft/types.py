"""What the rest of the node knows of Raft: proposal failures and the sampled Raft status.
No pysyncobj import here, so the HTTP and ingest sides can name these without loading it."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lithair_node.machine.state import ApplyResult


class ProposeFailure(enum.Enum):
    """Why a proposal (or a membership change) produced no result. `definite` kinds were
    never appended to the log, or were overwritten: they surely did not commit."""

    NOT_STARTED = ("the node is starting", True)
    QUEUE_FULL = ("Raft command queue is full", True)
    NO_LEADER = ("no leader (election in progress or no quorum)", True)
    DISCARDED = ("entry was overwritten by a new leader", True)
    NOT_LEADER = ("the node we forwarded to is no longer leader", True)
    DENIED = ("request denied by the leader", True)
    LEADER_CHANGED = ("leader changed before the entry was acknowledged", False)
    UNKNOWN_OUTCOME = ("outcome unknown after a leader change", False)
    NO_ANSWER = ("no answer from Raft", False)

    def __init__(self, reason: str, definite: bool) -> None:
        self.reason = reason
        self.definite = definite


class ProposeError(Exception):
    """A proposal did not produce a result; `kind` says why (and whether it surely did not
    commit)."""

    def __init__(self, kind: ProposeFailure, detail: str | None = None) -> None:
        super().__init__(detail or kind.reason)
        self.kind = kind
        self.reason = detail or kind.reason

    @property
    def definite(self) -> bool:
        return self.kind.definite


class RaftBindError(OSError):
    """The Raft port could not be bound (in use, or an address this host does not have)."""


ProposeCallback = Callable[[ApplyResult | None, ProposeError | None], None]
# Called on the Raft thread after each apply with (index, term, payload, result): it must
# return at once (hand the reference over, never decode or block there).
AppliedListener = Callable[[int, int, bytes, ApplyResult], None]


@dataclass(frozen=True)
class PeerStatus:
    raft_address: str
    connected: bool
    match_index: int | None
    next_index: int | None


@dataclass(frozen=True)
class RaftStatus:
    role: str
    leader: str | None  # Raft address of the leader this node knows
    term: int
    commit_index: int
    applied_index: int
    leader_commit_index: int | None
    log_length: int
    has_quorum: bool
    peers: tuple[PeerStatus, ...]
    leader_changes: int
    last_leader_change_s: float | None  # monotonic time
    snapshot: dict[str, Any] = field(default_factory=dict)
    ready: bool = False  # caught up once since start (see readiness.caught_up_now)
    sampled_at: float = 0.0
    # Longest Raft tick since start (the margin left against the election timeout) and
    # how often a stall postponed our election timer.
    longest_tick_ms: float = 0.0
    tick_stalls: int = 0
    # Leader: acknowledgements that would have moved a follower's next index back, i.e.
    # resent what was in flight (see syncobj.ReplicatedLog._SyncObj__onMessageReceived).
    resends_avoided: int = 0
    # Follower: entries received that it already held (a rejected append, a reconnect).
    entries_received_again: int = 0

    @property
    def is_leader(self) -> bool:
        return self.role == "leader"


def unready_status() -> RaftStatus:
    return RaftStatus("follower", None, 0, 0, 0, None, 0, False, (), 0, None)
