"""StateMachine.running_by_metric: every cell's running stats in two gathers, the very
arrays read(every sensor, running=True) gives view after view."""

from __future__ import annotations

import numpy as np

from lithair_node.machine.stats import combine_by_key
from tests.machine.engine.feeds import mixed_workload, state_machine_of


def test_every_cell_running_equals_the_views_running_concatenated() -> None:
    state = state_machine_of(mixed_workload(12, 3, 200, (4, 9)))
    found = state.read(state.sensor_ids_since(0), running=True)
    assert found.running is not None and len(found.views) > 40
    expected = np.concatenate(found.running, axis=1)
    metric_of = np.fromiter((m for v in found.views for m in v.metric_ids), dtype=np.int64)
    index, names, running, keys = state.running_by_metric()
    assert (index, names) == (found.applied_index, found.metric_names)
    assert running.tobytes() == expected.tobytes()
    assert keys.tolist() == metric_of.tolist()
    assert combine_by_key(running, keys, len(names))[0].tobytes() == \
        combine_by_key(expected, metric_of, len(names))[0].tobytes()
