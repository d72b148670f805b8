"""The metric-name limits, checked where a write arrives: a 422 before anything is proposed.

Apply checks them again (machine/engine/limits.py), with the limits the entry carries: two
writes checked here against the same state can still, together, go beyond a limit.
"""

from __future__ import annotations

from lithair_node.machine.commands import BatchColumns, MetricLimits
from lithair_node.machine.state import StateMachine
from lithair_node.node.errors import TooManyMetrics


def check_metric_limits(state: StateMachine, columns: BatchColumns, limits: MetricLimits) -> None:
    refusal = state.metric_limit_refusal(columns, limits)
    if refusal is not None:
        raise TooManyMetrics(refusal)
