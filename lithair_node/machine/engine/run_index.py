"""The run index of restored segments, rebuilt off the apply path.

seal() and compaction.merge() attach a run index (regular-run bits, run summaries) to the
segments they build; the blob leaves it out, so a segment restored from a snapshot had
none and was read by decoding for the rest of its life. After a restore the engine hands
each such segment to INDEX_BUILDER, whose thread decodes its columns whole and attaches
the index computed exactly as seal() computes it.

Safe to attach late: the index is derived data that changes how fast a read is, never what
it answers (test_summaries), nor any snapshot's bytes. The three fields are set in an order
readers tolerate at any point: `summary_metrics` before `summary` (reads.py takes summary
first and needs the metrics only once it is set), each assignment atomic under the GIL.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from lithair_node.machine.engine import column_decode, summaries
from lithair_node.machine.engine import segment as segments
from lithair_node.machine.engine.sealing import ThreadBuilder
from lithair_node.machine.engine.segment import Segment

log = logging.getLogger(__name__)

INDEX_BUILDER = ThreadBuilder()


def rebuild_later(segments: Sequence[object]) -> None:
    """Queue every segment without a run index for INDEX_BUILDER (never raises)."""
    for segment in segments:
        if isinstance(segment, Segment) and segment.regular is None:
            try:
                INDEX_BUILDER.submit(lambda s=segment: _attached(s))
            except Exception:  # no thread: the segment is still read, by decoding
                log.exception("run index rebuild could not be queued")


def attach(segment: Segment) -> None:
    """Compute and attach the run index seal() would have given the segment's rows."""
    if segment.regular is not None:
        return
    held, starts = segment.metric_ids(), segment.starts
    summary = None
    if summaries.worth_it(held.shape[0], starts.shape[0] - 1, segment.rows):
        partials = []
        for metric in held.tolist():
            line = np.full(segment.rows, np.nan)
            column_decode.values_into(segment, metric, line)
            partials.append(summaries.line_partials(line, starts))
        summary = np.stack(partials, axis=1)
    # What seal() and merge() attach (segment.with_run_index), set on this very object:
    # readers already hold it.
    indexed = segments.with_run_index(segment, column_decode.timestamps(segment), held, summary)
    for field in ("summary_metrics", "summary", "regular"):  # this order: see the docstring
        object.__setattr__(segment, field, getattr(indexed, field))


def _attached(segment: Segment) -> Segment:
    try:
        attach(segment)
    except Exception:  # derived data: a segment without it is read by decoding
        log.exception("run index rebuild of segment %d failed", segment.number)
    return segment
