"""The two places where Raft must wait for the group commit, as pure code the PySyncObj
subclass calls (see the integration notes in the package's report / DESIGN.md):
- the leader counts itself toward a commit only up to its own durable index;
- a follower acknowledges AppendEntries only once the entries are durable.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

Node = TypeVar("Node", bound=Hashable)


def leader_commit_index(*, proposed: int, committed: int, own_durable: int,
                        follower_match: Sequence[int], term_of: Callable[[int], int | None],
                        current_term: int) -> int:
    """The commit index a leader may set when PySyncObj proposes `proposed` (it counted the
    leader as holding every entry it appended).

    The highest index stored durably on a majority is the majority-th largest of the leader's
    durable index and the followers' match indexes. Raft commits by counting only an entry of
    the current term (the earlier ones follow it); terms only grow along the log, so if the
    capped index is not of the current term, nothing newer can be committed yet."""
    if proposed <= committed:
        return proposed
    stored = sorted([own_durable, *follower_match], reverse=True)
    on_majority = stored[len(stored) // 2]
    capped = min(proposed, on_majority)
    if capped > committed and term_of(capped) == current_term:
        return capped
    return committed


class HeldAcks(Generic[Node]):
    """A follower's AppendEntries successes (`next_node_idx`: everything below it is stored)
    waiting for the durable index. An acknowledgement is only valid for the log it was made
    on: a truncation, a clear or a new term (the `epoch`) drops every one still held."""

    def __init__(self) -> None:
        self._held: dict[Node, list[int]] = {}  # ascending next indexes, per leader
        self._epoch: Hashable = None

    def __bool__(self) -> bool:
        return bool(self._held)

    def must_hold(self, next_index: int, durable_index: int) -> bool:
        return next_index - 1 > durable_index

    def hold(self, node: Node, next_index: int, epoch: Hashable) -> None:
        self._enter(epoch)
        waiting = self._held.setdefault(node, [])
        if not waiting or next_index > waiting[-1]:
            waiting.append(next_index)

    def release(self, durable_index: int, epoch: Hashable) -> list[tuple[Node, int]]:
        """The (node, next index) acknowledgements to send now."""
        self._enter(epoch)
        ready = []
        for node, waiting in list(self._held.items()):
            durable = [next_index for next_index in waiting if next_index - 1 <= durable_index]
            if durable:
                # The highest one acknowledges all the earlier ones too.
                ready.append((node, durable[-1]))
                del waiting[:len(durable)]
            if not waiting:
                del self._held[node]
        return ready

    def _enter(self, epoch: Hashable) -> None:
        if epoch != self._epoch:
            self._held.clear()
            self._epoch = epoch
