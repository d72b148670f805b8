"""One anomaly record as JSON: the shape of GET /api/v1/anomalies and of the stream's
`anomaly` events."""

from __future__ import annotations

from typing import Any

from lithair_node.machine.anomalies import Anomaly
from lithair_node.node.timestamps import format_timestamp


def anomaly_row(record: Anomaly) -> dict[str, Any]:
    return {
        "sensor_id": record.sensor_id,
        "timestamp": format_timestamp(record.timestamp_us),
        "timestamp_us": record.timestamp_us,
        "raft_index": record.raft_index,
        "metrics": {name: {"value": value, "mean": mean, "stddev": std,
                           "sigmas": abs(value - mean) / std if std > 0 else None}
                    for name, value, mean, std in record.metrics},
    }
