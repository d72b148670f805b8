"""Merges off the apply path, as sealing.py does for cuts.

At a cut, once the previous cut's part is swapped for its segment, the engine plans the
merge compaction.run_start picks among every segment but the last (that part, built or
not), unless one is pending already (at most one: compaction.SWAP_AFTER <= FAN_IN keeps up).
Its build (compaction.merge of those segments) goes to the merge builder (its own thread,
Engine.merges), started when the cut's own build starts (the node's stagger,
ThreadBuilder.lag_rows), and the cut that finds SWAP_AFTER segments after the run
(compaction.due) swaps the merged segment in, waiting for it there if it is not done. Until
then the merged segments answer every read, so which segments a node holds at a log index
never depends on build timing, and a snapshot taken in between holds them, not the merge.

What a cut swaps in, and whether, is decided again there from the segment list as it is
then: the run over every segment but the last, and the count of segments after it. Nothing
else changes the list between two cuts but retention and a restore, and the engine replans
after both (Engine.segments' setter), so a restored node plans exactly the merge its peers
planned and swaps it at the same cut. A build whose inputs no longer match (retention
rewrote one) or that failed is done again: the same pure function of the same segments.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from lithair_node.machine.engine import compaction
from lithair_node.machine.engine.sealing import Builder, Job, Part, built
from lithair_node.machine.engine.segment import Segment

log = logging.getLogger(__name__)


class PendingMerge:
    """One planned merge: its inputs (held until the swap), where they sit, its build."""

    def __init__(self, at: int, inputs: tuple[Segment, ...], builder: Builder) -> None:
        self.at = at
        self._inputs: tuple[Segment, ...] | None = inputs
        self._builder = builder
        self.job: Job | None = None

    def start(self) -> None:
        """Hand the build to the builder (once; a merge never started is built at the swap)."""
        inputs = self._inputs
        if self.job is not None or inputs is None:
            return
        try:
            self.job = self._builder.submit(lambda: compaction.merge(inputs, 0))
        except Exception:  # no builder: built where it is needed
            log.exception("segment merge could not be submitted; it is built at the swap")

    def matches(self, inputs: Sequence[Segment]) -> bool:
        """The same run of the same contents (renumbering keeps a segment's frames), where
        ever it sits now (retention may have dropped segments before it)."""
        mine = self._inputs
        return (mine is not None and len(mine) == len(inputs)
                and all(a.ts_frames is b.ts_frames for a, b in zip(mine, inputs, strict=True)))

    def done(self) -> bool:
        return self.job is not None and self.job.done()

    def merged(self) -> Segment:
        """The merged segment (waits for the build; builds it here if it failed). The inputs
        are let go: a swapped merge holds nothing of them."""
        inputs, job = self._inputs, self.job
        assert inputs is not None, "a merge is swapped in once"
        self._inputs = self.job = None
        found: Segment | None = None
        if job is not None:
            try:
                found = job.result()
            except Exception:  # apply never raises: build it here
                log.exception("segment merge failed; merging synchronously")
        return compaction.merge(inputs, 0) if found is None else found


def plan(segments: Sequence[Part], seal_rows: int, builder: Builder,
         pending: PendingMerge | None) -> PendingMerge | None:
    """The merge a cut swaps in once it is due: `pending` if it is still the one (moved to
    where its run sits now), else a new one (not started). Every segment but the last is
    built (only the last can be a Sealing part), so built() never waits here."""
    held = segments[:-1]
    at = compaction.run_start(held, seal_rows)
    if at is None:
        return None
    inputs = tuple(built(s) for s in held[at : at + compaction.FAN_IN])
    if pending is not None and pending.matches(inputs):
        pending.at = at
        return pending
    return PendingMerge(at, inputs, builder)
