"""The metric-name limits in apply: a batch beyond them is refused whole, decided the same
on every node from the limits its entry carries, never raising."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lithair_node.machine.commands import (
    UNLIMITED,
    MetricLimits,
    encode_ingest,
    make_encoded_batch,
)
from lithair_node.machine.entries import LogEntry
from lithair_node.machine.ingest import TOO_MANY_METRICS
from lithair_node.machine.state import StateMachine
from tests.machine.engine.builders import make_columns


def _entry(index, batches, limits, keys=None):
    keys = keys or [None] * len(batches)
    return LogEntry(index, 1, encode_ingest(
        [make_encoded_batch(c, k, c.readings) for c, k in zip(batches, keys, strict=True)],
        limits))


def _names(prefix, count, ts=1, sensor="big"):
    return make_columns([(sensor, ts, {f"{prefix}{i:03d}": float(i) for i in range(count)}, None)])


def _contents(state):
    stats = state.stats()
    del stats["state_applied_index"]
    return state.digest(), stats


def _metrics_of(state, sensor):
    return len(state.read([sensor]).views[0].metric_ids)


def test_a_batch_past_the_per_sensor_limit_is_refused_whole_and_names_the_sensor():
    state, limits = StateMachine(), MetricLimits(per_sensor=4, per_cluster=100)
    assert state.apply(_entry(1, [_names("a", 3)], limits)).batches[0].status == "ok"
    before = _contents(state)
    over = make_columns([("big", 2, {"a000": 1.0, "b000": 2.0, "b001": 3.0}, None),
                         ("other", 2, {"a000": 4.0}, None)])
    outcome = state.apply(_entry(2, [over], limits, keys=["k"])).batches[0]
    assert outcome.status == TOO_MANY_METRICS and outcome.result is None
    assert "'big'" in outcome.message and "5 metric names" in outcome.message
    assert "limit of 4 per sensor" in outcome.message and "it has 3" in outcome.message
    assert _contents(state) == before  # nothing of it, "other" included
    assert state.read(["other"]).views == []
    # the key was not recorded: the same key with a batch that fits is stored
    fits = _names("b", 1, ts=3)
    assert state.apply(_entry(3, [fits], limits, keys=["k"])).batches[0].status == "ok"
    assert _metrics_of(state, "big") == 4
    # values of names it already has are always welcome
    again = _names("a", 3, ts=4)
    assert state.apply(_entry(4, [again], limits)).batches[0].status == "ok"


def test_a_batch_past_the_cluster_limit_is_refused():
    state, limits = StateMachine(), MetricLimits(per_sensor=4, per_cluster=5)
    assert state.apply(_entry(1, [_names("a", 3, sensor="s1")], limits)).batches[0].status == "ok"
    outcome = state.apply(_entry(2, [_names("b", 3, sensor="s2")], limits)).batches[0]
    assert outcome.status == TOO_MANY_METRICS
    assert "cluster would hold 6 metric names" in outcome.message
    assert "limit of 5" in outcome.message
    assert state.stats()["metrics"] == 3


def test_batches_of_one_entry_count_for_the_next_ones():
    state, limits = StateMachine(), MetricLimits(per_sensor=4, per_cluster=100)
    first, second, third = _names("a", 3, ts=1), _names("b", 2, ts=2), _names("a", 2, ts=3)
    result = state.apply(_entry(1, [first, second, third], limits))
    assert [o.status for o in result.batches] == ["ok", TOO_MANY_METRICS, "ok"]
    assert state.stats()["total_readings"] == 2 and _metrics_of(state, "big") == 3


def test_entries_without_limits_apply_as_the_previous_version_did():
    state = StateMachine()
    wide = _names("m", 300)  # past the default per-sensor limit
    assert state.apply(_entry(1, [wide], None)).batches[0].status == "ok"
    assert _metrics_of(state, "big") == 300
    assert UNLIMITED.per_cluster == (1 << 16) - 1  # cell keys keep metric ids in 16 bits


def test_malformed_limits_make_the_batch_invalid_without_raising():
    import msgpack
    columns = _names("a", 1)
    item = msgpack.unpackb(encode_ingest([make_encoded_batch(columns, None, 1)], MetricLimits()))
    for bad in ([0, 10], [10, 5], ["1", 2], [1], None, [1, 1 << 20]):
        item[2][0][3] = bad
        result = StateMachine().apply(LogEntry(1, 1, msgpack.packb(item, use_bin_type=True)))
        assert result.error is None and result.batches[0].status == "invalid"


def test_node_check_agrees_with_apply():
    state, limits = StateMachine(), MetricLimits(per_sensor=4, per_cluster=100)
    state.apply(_entry(1, [_names("a", 3)], limits))
    assert state.metric_limit_refusal(_names("b", 1, ts=2), limits) is None
    assert "'big'" in state.metric_limit_refusal(_names("b", 2, ts=2), limits)



def test_node_check_never_waits_for_apply_whose_own_check_still_refuses():
    state, limits = StateMachine(), MetricLimits(per_sensor=4, per_cluster=100)
    state.apply(_entry(1, [_names("a", 3)], limits))
    over = _names("b", 2, ts=2)
    with state.lock:  # what apply holds while an entry applies (another thread, in a node)
        assert state.metric_limit_refusal(over, limits) is None
    result = state.apply(_entry(2, [over], limits))
    assert result.batches[0].status == TOO_MANY_METRICS
    assert _metrics_of(state, "big") == 3

# -- property: the refusals are exactly the batches that would go beyond a limit ----------

_batch = st.lists(st.tuples(st.sampled_from(["s0", "s1", "s2"]),
                            st.sets(st.sampled_from([f"m{i}" for i in range(9)]), min_size=1,
                                    max_size=4)), min_size=1, max_size=4)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(_batch, min_size=1, max_size=3), min_size=1, max_size=6),
       st.integers(1, 6), st.integers(0, 4))
def test_refusals_match_a_reference_and_every_node_decides_alike(entries, per_sensor, extra):
    limits = MetricLimits(per_sensor, per_sensor + extra)
    a, b, reference = StateMachine(), StateMachine(), StateMachine()
    cells: dict[str, set[str]] = {}
    names: set[str] = set()
    ts = 0
    for index, entry in enumerate(entries, start=1):
        batches = []
        for readings in entry:
            rows = []
            for sensor, metrics in readings:
                ts += 1  # every reading new: the conservative count is then exact
                rows.append((sensor, ts, {m: float(ts) for m in sorted(metrics)}, None))
            batches.append(make_columns(rows))
        result = a.apply(_entry(index, batches, limits))
        assert [o.status for o in b.apply(_entry(index, batches, limits)).batches] == \
            [o.status for o in result.batches]
        for columns, outcome in zip(batches, result.batches, strict=True):
            after_cells = {s: set(v) for s, v in cells.items()}
            starts = np.cumsum(columns.counts) - columns.counts
            for g, sensor in enumerate(columns.sensors):
                part = columns.values[:, starts[g]:starts[g] + columns.counts[g]]
                after_cells.setdefault(sensor, set()).update(
                    m for m, row in zip(columns.metrics, part, strict=True)
                    if not np.isnan(row).all())
            after_names = names | set(columns.metrics)
            fits = (len(after_names) <= limits.per_cluster
                    and all(len(v) <= limits.per_sensor for v in after_cells.values()))
            assert outcome.status == ("ok" if fits else TOO_MANY_METRICS)
            if fits:
                cells, names = after_cells, after_names
                reference.apply(_entry(index, [columns], None))
    assert a.digest() == b.digest() == reference.digest()
