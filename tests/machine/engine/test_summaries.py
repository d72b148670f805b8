"""The run index of sealed segments (engine/summaries.py, engine/regular_runs.py): a range
statistic that merges a segment's seal-time summary, and reads whose regular runs' timestamps
are computed, answer bit for bit what decoding gives, over sealed and hot data, runs cut by
the range, retention-rewritten and restored segments (whose blobs hold no run index)."""

from __future__ import annotations

import numpy as np
import pytest

from lithair_node.machine.engine import (
    compaction,
    metric_reads,
    reads,
    regular_runs,
    retention,
    row_decode,
    run_index,
    snapshot,
    summaries,
)
from lithair_node.machine.engine import segment as segments
from lithair_node.machine.engine.engine import Engine
from lithair_node.machine.engine.segment import Segment
from lithair_node.machine.engine.sensor_view import sensor_view
from lithair_node.node.queries import series_reads
from tests.machine.engine.feeds import START_US, mixed_workload, synthetic_columns

SEAL_ROWS = 900
END = 2**62


@pytest.fixture(autouse=True)
def _short_runs_summarized(monkeypatch: pytest.MonkeyPatch) -> None:
    # The test feeds hold ~20 rows per sensor per segment: beyond the memory bound.
    monkeypatch.setattr(summaries, "MAX_BYTES_PER_ROW", float("inf"))


def _engine(workload: str) -> Engine:
    batches = (mixed_workload(30, 4, 200, (7, 3)) if workload == "mixed"
               else synthetic_columns(40, 150, 30, seed=5))
    engine = Engine(SEAL_ROWS)
    for columns in batches:
        engine.apply_batch(columns)
    engine.settle()
    return engine


def _ranges(engine: Engine, sensor: int) -> list[tuple[int, int]]:
    """Whole history, open-ended, cut mid-run, and exactly one segment run's bounds."""
    found = [(0, END), (START_US + 25 * 500_000, END), (START_US + 10**6, START_US + 40 * 500_000)]
    for segment in engine.segments[:3]:
        a, b, first, last = segment.span(sensor)
        if b > a:
            found += [(first, last + 1), (first, last), (first + 1, last + 1)]
    return found


def _answers(engine: Engine) -> list[bytes | int]:
    view = engine.view()
    out: list[bytes | int] = []
    for sensor_id in engine.sensors.names:
        picture = sensor_view(engine, view, sensor_id)
        assert picture is not None
        for start, end in _ranges(engine, picture.sensor):
            out.append(series_reads.range_stats(picture, start, end).tobytes())
            out.append(series_reads.count_between(picture, start, end))
            _, ts, values = reads.readings(view, picture.sensor, start, end)
            out += [ts.tobytes(), values.tobytes()]
    sensors = np.arange(len(engine.sensors), dtype=np.int64)[::-1].copy()
    for metric in range(len(engine.metrics.names)):
        for start, end in ((0, END), (START_US + 25 * 500_000, END)):
            parts = metric_reads.metric_parts(view, sensors, metric, start, end)
            out += [parts.ts.tobytes(), parts.values.tobytes(), parts.part.tobytes()]
            one = metric_reads.metric_parts(view, sensors[:1], metric, start, end)
            out += [one.ts.tobytes(), one.values.tobytes()]
    return out


def _stripped(engine: Engine) -> list[Segment]:
    return [segments.frames_only(s) if isinstance(s, Segment) else s for s in engine.segments]


def _assert_summaries_answer_as_decoding(engine: Engine) -> None:
    assert any(isinstance(s, Segment) and s.summary is not None for s in engine.segments)
    summarized = _answers(engine)
    engine.segments = _stripped(engine)
    assert summarized == _answers(engine)


@pytest.mark.parametrize("workload", ["mixed", "wide"])
def test_summarized_range_stats_equal_the_decoded_ones(workload: str) -> None:
    _assert_summaries_answer_as_decoding(_engine(workload))


def test_counts_equal_the_parts_lengths() -> None:
    engine = _engine("mixed")
    view = engine.view()
    for sensor in range(len(engine.sensors)):
        for start, end in _ranges(engine, sensor):
            expected = sum(ts.shape[0] for ts, _ in reads.parts(view, sensor, np.empty(0, np.int64),
                                                                start, end))
            assert reads.count_between(view, sensor, start, end) == expected


def test_a_whole_range_decodes_no_summarized_run(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _engine("wide")
    decoded: list[int] = []
    original = row_decode.pieces

    def spied(asked):  # every decode of a segment's rows goes through row_decode.pieces
        for segment, *_ in asked:
            if segment.number not in decoded:
                decoded.append(segment.number)
        return original(asked)

    monkeypatch.setattr(row_decode, "pieces", spied)
    picture = sensor_view(engine, engine.view(), engine.sensors.names[3])
    assert picture is not None
    series_reads.range_stats(picture, 0, END)
    assert decoded == [s.number for s in engine.segments if isinstance(s, Segment) and s.summary is None]
    series_reads.range_stats(picture, START_US + 10**6, END)  # the first run cut: decoded
    assert len(decoded) >= 1


def test_every_summary_is_its_runs_decoded_partial() -> None:
    engine = _engine("mixed")
    for segment in engine.segments:
        assert isinstance(segment, Segment) and segment.summary is not None
        assert segment.summary_metrics is not None
        for i in range(segment.sensors.shape[0]):
            a, b = int(segment.starts[i]), int(segment.starts[i + 1])
            for row, metric in enumerate(segment.summary_metrics.tolist()):
                expected = summaries.values_partial(segment.values_between(metric, a, b))
                assert segment.summary[:, row, i].tobytes() == expected.tobytes()


def test_retention_rewritten_segments_are_summarized_and_answer_alike() -> None:
    engine = _engine("mixed")
    cutoff = np.full(len(engine.sensors), START_US + 60 * 500_000, dtype=np.int64)
    assert retention.drop_older(engine, cutoff, rewrite_fraction=0.0) > 0
    _assert_summaries_answer_as_decoding(engine)


@pytest.mark.parametrize("workload", ["mixed", "wide"])
def test_merged_and_renumbered_segments_keep_a_run_index_that_answers_alike(
        workload: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compaction, "FAN_IN", 3)  # the feeds cut 4-5 segments
    engine = _engine(workload)
    held = [s for s in engine.segments if isinstance(s, Segment)]
    assert len(held) > compaction.FAN_IN
    merged = compaction.merge(held[: compaction.FAN_IN], 0)
    assert merged.summary is not None and merged.regular is not None
    for i in range(merged.sensors.shape[0]):  # every summary is its run's decoded partial
        a, b = int(merged.starts[i]), int(merged.starts[i + 1])
        for row, metric in enumerate(merged.summary_metrics.tolist()):
            expected = summaries.values_partial(merged.values_between(metric, a, b))
            assert merged.summary[:, row, i].tobytes() == expected.tobytes()
    engine.segments = [*compaction.swapped(held, 0, merged), *engine.segments[len(held):]]
    assert len(engine.segments) > 1
    assert all(s.summary is not None for s in engine.segments if isinstance(s, Segment))
    _assert_summaries_answer_as_decoding(engine)


def test_restored_segments_read_by_decoding_answer_alike() -> None:
    engine = _engine("wide")
    before = _answers(engine)
    restored = [segments.decode(segments.encode(s)) for s in engine.segments]
    for old, new in zip(engine.segments, restored, strict=True):
        assert old.summary is not None and old.regular is not None
        assert new.summary is None and new.regular is None  # the blob holds no run index
        assert segments.encode(new) == segments.encode(old) == segments.encode(segments.frames_only(old))
    engine.segments = restored
    assert _answers(engine) == before


@pytest.mark.parametrize("workload", ["mixed", "wide"])
def test_a_restored_engine_gets_the_sealed_run_index_back_off_the_apply_path(
        workload: str) -> None:
    engine = _engine(workload)
    before = _answers(engine)
    restored = snapshot.load(snapshot.dump_state(engine), snapshot.new_segments(engine, 0))
    # Queued by load (run_index.INDEX_BUILDER); a job queued after them ends after them.
    run_index.INDEX_BUILDER.submit(lambda: restored.segments[0]).result(timeout=60)
    for old, new in zip(engine.segments, restored.segments, strict=True):
        assert isinstance(old, Segment) and isinstance(new, Segment) and new is not old
        assert new.regular is not None and new.regular.tobytes() == old.regular.tobytes()
        assert new.summary is not None and old.summary is not None
        assert new.summary.tobytes() == old.summary.tobytes()
        assert new.summary_metrics.tolist() == old.summary_metrics.tolist()
    assert _answers(restored) == before


def test_short_runs_keep_no_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(summaries, "MAX_BYTES_PER_ROW", 0.5)
    engine = _engine("wide")  # ~22 rows per sensor per segment: 40 x 4 / 22 = 7 B per row
    assert engine.segments and all(s.summary is None for s in engine.segments)


def test_summaries_cost_at_most_the_bound_per_row(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # the module's own bound
    rows, sensors, metrics = 524_288, 1_000, 4  # bench_queries' 1K-sensor segment
    starts = np.append(np.arange(sensors) * (rows // sensors), rows)
    found = summaries.summarize(np.ones((metrics, rows)), starts)
    assert found is not None and found.nbytes <= summaries.MAX_BYTES_PER_ROW * rows
    assert summaries.summarize(np.ones((metrics, rows)), np.append(np.arange(0, rows, 5), rows)) is None


def test_regular_runs_compute_the_decoded_timestamps() -> None:
    flagged = 0
    for workload in ("mixed", "wide"):
        for segment in _engine(workload).segments:
            assert isinstance(segment, Segment) and segment.regular is not None
            bare = segments.frames_only(segment)
            for i in range(segment.sensors.shape[0]):
                a, b = int(segment.starts[i]), int(segment.starts[i + 1])
                found = regular_runs.run_ts(segment.regular, segment.starts, segment.min_ts,
                                            segment.max_ts, a, b)
                decoded = bare.ts_between(a, b)
                if found is not None:
                    flagged += 1
                    assert found.dtype == decoded.dtype and found.tolist() == decoded.tolist()
                else:  # irregular: a gap or an uneven step
                    steps = np.diff(decoded)
                    assert steps.shape[0] and (steps != steps[0]).any()
    assert flagged > 100


@pytest.mark.parametrize("seed", range(20))
def test_values_stats_is_each_rows_own_partial_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows, k = int(rng.integers(1, 7)), int(rng.integers(1, 300))
    values = rng.normal(20.0, 5.0, (rows, k)) * 10.0 ** rng.integers(-3, 300, (rows, 1))
    values[rng.random((rows, k)) < rng.random()] = np.nan  # gaps, some rows all absent
    values[0, : k // 2] = np.nan if seed % 3 == 0 else values[0, : k // 2]
    got = series_reads.values_stats(values)
    expected = np.stack([summaries.values_partial(row) for row in values], axis=1)
    assert got.tobytes() == expected.tobytes()
