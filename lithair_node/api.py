"""The HTTP API's names, shared by the node (which serves them) and the client and lab (which
call them): route paths, header names, error codes and units. Neither side spells one of
these strings itself, so they cannot drift apart.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

# -- units ------------------------------------------------------------------------------------

US_PER_SECOND: Final = 1_000_000  # timestamps are integer microseconds since the Unix epoch (UTC)

# -- routes ---------------------------------------------------------------------------------

PREFIX: Final = "/api/v1"
BATCHES: Final = f"{PREFIX}/batches"
STATS: Final = f"{PREFIX}/stats"
SENSORS: Final = f"{PREFIX}/sensors"
SENSOR_LATEST: Final = f"{PREFIX}/sensors/{{sensor_id}}/latest"
SENSOR_READINGS: Final = f"{PREFIX}/sensors/{{sensor_id}}/readings"
SENSOR_STATS: Final = f"{PREFIX}/sensors/{{sensor_id}}/stats"
LATEST: Final = f"{PREFIX}/latest"
AGGREGATE: Final = f"{PREFIX}/aggregate"
LOCATIONS: Final = f"{PREFIX}/locations"
ANOMALIES: Final = f"{PREFIX}/anomalies"
ANOMALY_SETTINGS: Final = f"{PREFIX}/settings/anomalies"
LIFECYCLE_SETTINGS: Final = f"{PREFIX}/settings/lifecycle"  # retention and rollups
EXPORT: Final = f"{PREFIX}/export"
BACKUP: Final = f"{PREFIX}/backup"  # the state at one applied index, as a backup file
CLUSTER_STATUS: Final = f"{PREFIX}/cluster/status"
MEMBERS: Final = f"{PREFIX}/members"
MEMBER: Final = f"{PREFIX}/members/{{raft_address}}"
STREAM: Final = f"{PREFIX}/stream"  # Server-Sent Events: readings, anomalies, cluster events
STREAM_CLIENTS: Final = f"{PREFIX}/stream/clients"
INGEST_HISTORY: Final = f"{PREFIX}/ingest/history"  # readings/s, batches/s over the last minutes
CLUSTER_NODES: Final = f"{PREFIX}/cluster/nodes"  # every member's status, asked by this node
DASHBOARD: Final = "/dashboard"
DASHBOARD_STATIC: Final = "/dashboard/static"
HEALTH: Final = "/health"
READYZ: Final = "/readyz"
# InfluxDB-compatible writes (its v2 and v1 APIs) and the Prometheus scrape.
INFLUX_V2_WRITE: Final = "/api/v2/write"
INFLUX_V1_WRITE: Final = "/write"
INFLUX_BUCKET: Final = "bucket"  # /api/v2/write's required namespace parameter
INFLUX_PRECISION: Final = "precision"  # ns | us | ms | s (v1 also m, h)
METRICS: Final = "/metrics"
OPENAPI: Final = "/openapi.yaml"
DOCS: Final = "/docs"


def sensor_path(template: str, sensor_id: str) -> str:
    """A per-sensor route (SENSOR_LATEST, ...) for one sensor id, percent-encoded."""
    return template.format(sensor_id=quote(sensor_id, safe=""))


def member_path(raft_address: str) -> str:
    return MEMBER.format(raft_address=quote(raft_address, safe=""))


# -- headers --------------------------------------------------------------------------------

IDEMPOTENCY_KEY: Final = "Idempotency-Key"
LAST_EVENT_ID: Final = "Last-Event-ID"
RETRY_AFTER: Final = "Retry-After"
AUTHORIZATION: Final = "Authorization"
APPLIED_INDEX_HEADER: Final = "X-Lithair-Applied-Index"
CONSISTENCY_HEADER: Final = "X-Lithair-Consistency"
NODE_HEADER: Final = "X-Lithair-Node"
FORWARDED_HEADER: Final = "X-Lithair-Forwarded-By"
COLD_HEADER: Final = "X-Lithair-Cold"  # an export that reached into the cold tier: "true"
MAX_IDEMPOTENCY_KEY_CHARS: Final = 128

# -- body types -----------------------------------------------------------------------------

JSON_TYPE: Final = "application/json"
MSGPACK_TYPE: Final = "application/msgpack"
BACKUP_TYPE: Final = "application/vnd.lithair.backup"

# -- read consistency levels ----------------------------------------------------------------

CONSISTENCY_LEVELS: Final = ("local", "leader", "linearizable")

# -- error codes (the "code" of {"error": {"code", "message", "reading", "field"}}) -----------

BAD_REQUEST: Final = "bad_request"
INVALID_JSON: Final = "invalid_json"
INVALID_MSGPACK: Final = "invalid_msgpack"
INVALID_PARAMETER: Final = "invalid_parameter"
UNAUTHORIZED: Final = "unauthorized"
FORBIDDEN: Final = "forbidden"
NOT_FOUND: Final = "not_found"
METHOD_NOT_ALLOWED: Final = "method_not_allowed"
REQUEST_TIMEOUT: Final = "request_timeout"
CONFLICT: Final = "conflict"
PAYLOAD_TOO_LARGE: Final = "payload_too_large"
TOO_MANY_READINGS: Final = "too_many_readings"
URI_TOO_LONG: Final = "uri_too_long"
UNSUPPORTED_MEDIA_TYPE: Final = "unsupported_media_type"
EXPECTATION_FAILED: Final = "expectation_failed"  # an Expect other than 100-continue
INVALID_BATCH: Final = "invalid_batch"
INVALID_READING: Final = "invalid_reading"
INVALID_MEMBER: Final = "invalid_member"
INVALID_POLICY: Final = "invalid_policy"  # a lifecycle policy that cannot apply
IDEMPOTENCY_KEY_REUSED: Final = "idempotency_key_reused"
TOO_MANY_METRICS: Final = "too_many_metrics"
OVERLOADED: Final = "overloaded"
HEADERS_TOO_LARGE: Final = "headers_too_large"
INTERNAL: Final = "internal"
NOT_IMPLEMENTED: Final = "not_implemented"
UNAVAILABLE: Final = "unavailable"
STARTING: Final = "starting"
NO_LEADER: Final = "no_leader"
OUTCOME_UNKNOWN: Final = "outcome_unknown"
TOO_MANY_STREAMS: Final = "too_many_streams"

# 503s that say a write surely did not commit: a client retries elsewhere without doubt.
DEFINITE_FAILURES: Final = frozenset({NO_LEADER})
