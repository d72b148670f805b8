"""metric_reads' run-by-run path (a few long runs) gives the arrays of the gathered one."""

import numpy as np
import pytest

from lithair_node.machine.engine import metric_reads
from lithair_node.machine.engine.engine import Engine
from tests.machine.engine.feeds import START_US, mixed_workload
from tests.machine.engine.held_builders import Held


@pytest.mark.parametrize("seal_rows", [300, 2_000])
def test_runs_read_one_by_one_give_the_gathered_arrays(monkeypatch, seal_rows):
    engine = Engine(seal_rows, Held())  # the last part still being sealed: both read it too
    for columns in mixed_workload(30, 4, 300, (2, 6)):
        engine.apply_batch(columns)
    view = engine.view()
    rng = np.random.default_rng(seal_rows)
    checked = 0
    for _ in range(40):
        sensors = rng.permutation(len(engine.sensors))[: int(rng.integers(2, 20))].astype(np.int64)
        start = START_US + int(rng.integers(-10, 200)) * 500_000
        end = start + int(rng.integers(1, 300)) * 500_000
        metric = int(rng.integers(0, len(engine.metrics.names)))
        monkeypatch.setattr(metric_reads, "FEW_RUNS", 0)
        gathered = metric_reads.metric_parts(view, sensors, metric, start, end)
        monkeypatch.setattr(metric_reads, "FEW_RUNS", 10**6)
        monkeypatch.setattr(metric_reads, "LONG_RUN", 0)
        by_run = metric_reads.metric_parts(view, sensors, metric, start, end)
        for x, y in ((gathered.ts, by_run.ts), (gathered.values, by_run.values),
                     (gathered.part, by_run.part)):
            assert x.dtype == y.dtype and x.tobytes() == y.tobytes()
        checked += gathered.ts.shape[0]
    assert checked > 1_000
