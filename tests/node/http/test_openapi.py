"""The OpenAPI document: a valid spec, in step with the route table, and true of a live node
(schemathesis fuzzes a real 3-node cluster through it)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

import hypothesis
import msgpack
import pytest
import schemathesis
import yaml
from openapi_spec_validator import validate
from schemathesis import checks
from schemathesis.specs.openapi import checks as openapi_checks

from lithair_node.lab.local_cluster import LocalCluster
from lithair_node.node import errors
from lithair_node.node.config import NodeConfig
from lithair_node.node.http import unmatched
from lithair_node.node.http.app import make_app
from tests.cluster_fixtures import start_cluster
from tests.http_helpers import get, request

SPEC: dict[str, Any] = yaml.safe_load(
    files("lithair_node.node.http").joinpath("openapi.yaml").read_text(encoding="utf-8"))
METHODS = ("get", "put", "post", "delete", "patch")


def test_the_spec_is_valid_openapi() -> None:
    validate(SPEC)


def test_every_route_is_in_the_spec_and_every_spec_route_is_served(tmp_path: Path) -> None:
    config = NodeConfig(node_id="n", http_host="127.0.0.1", http_port=1,
                        raft_address="127.0.0.1:2", peers=(), data_dir=tmp_path,
                        raft_password="p")
    # aiohttp adds a HEAD route beside every GET: the spec describes the GET. The last
    # route only answers what no operation takes (404/405), so it is no operation.
    served = {(route.method.lower(), route.resource.canonical)
              for route in make_app(config).router.routes()
              if route.method != "HEAD" and route.resource is not None
              and route.resource.name != unmatched.NAME}
    described = {(method, path) for path, item in SPEC["paths"].items()
                 for method in item if method in METHODS}
    assert served == described


def test_the_node_serves_its_spec(cluster: LocalCluster) -> None:
    answer = get(f"{cluster.urls[0]}/openapi.yaml")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("application/yaml")
    assert yaml.safe_load(answer.body) == SPEC


def test_the_docs_page_names_every_operation_and_loads_nothing(cluster: LocalCluster) -> None:
    answer = get(f"{cluster.urls[0]}/docs")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/html")
    page = answer.body.decode()
    for operation in OPERATIONS:
        assert f'id="{operation["operationId"]}"' in page
    assert not any(tag in page for tag in ("<script", "<link", "src=", "@import"))


# -- schemathesis against a live node ----------------------------------------------------------

EXAMPLES_PER_OPERATION = 120  # the module runs in ~1.5 min on a shared 2-core box
# A fuzzed membership change would add or remove real Raft members (a bogus member costs the
# cluster its quorum); the membership routes are checked by their own tests.
# Not fuzzed here: member changes add or remove real Raft members (tests/node/raft/ has
# them); the line-protocol writes speak InfluxDB's error shape and are driven by the official
# clients in test_influx_routes.py; /metrics is linted by promtool in test_metrics_route.py.
# The stream never ends (test_stream.py drives it) and the dashboard's page and files are
# driven by a real browser (test_dashboard.py).
UNFUZZED = ("addMember", "removeMember", "postInfluxV2Write", "postInfluxV1Write", "getMetrics",
            "getStream", "getRoot", "getDashboard", "getDashboardFile")
CHECKS = [
    checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.negative_data_rejection,
]
OPERATIONS = [operation for item in SPEC["paths"].values()
              for method, operation in item.items() if method in METHODS]
POSITIVE, NEGATIVE = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE
# Negative cases need something to break: a parameter or a body.
FUZZED = [(operation["operationId"], mode) for operation in OPERATIONS
          if operation["operationId"] not in UNFUZZED
          for mode in (POSITIVE, NEGATIVE)
          if mode is POSITIVE or "parameters" in operation or "requestBody" in operation]


# Found by this fuzzing, fixed by issue 13's hardening: non-ASCII digits in query integers
# (a superscript was a 500, an Arabic-Indic digit was read as a number) and in RFC 3339 times.
NON_ASCII_DIGITS = ("/api/v1/sensors?limit=%C2%B2", "/api/v1/sensors/s/readings?cursor=%C2%B2",
                    "/api/v1/anomalies?limit=%D9%A3",
                    "/api/v1/anomalies?since=%EF%BC%92026-01-01T00:00:00Z")


@schemathesis.serializer("application/msgpack")
def _msgpack_body(_: schemathesis.SerializationContext, value: Any) -> bytes:
    try:
        return msgpack.packb(value, use_bin_type=True)
    except OverflowError:  # msgpack integers have 64 bits: this body has no msgpack form
        hypothesis.reject()


@pytest.fixture(scope="module")
def live_spec(cluster: LocalCluster) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{cluster.urls[0]}/openapi.yaml")


# -- every operation with valid input on real data: each 200 as specified ----------------------

SENSOR, OTHER, LOCATION = "openapi-1", 4242, "openapi-lab"
START_S = 1_800_000_000


def _seed_rows() -> dict[str, Any]:
    """40 readings per sensor a minute apart; the last of SENSOR is an anomaly."""
    readings: list[dict[str, Any]] = [
        {"sensor_id": SENSOR, "timestamp": START_S + 60 * i, "location": LOCATION,
         "temperature": 20.0 + (i % 5) / 10, "values": {"humidity": 50.0 + i % 3}}
        for i in range(40)]
    readings[-1]["temperature"] = 90.0
    return {"readings": readings}


def _seed_columns() -> dict[str, Any]:
    times = [f"2027-01-15T08:{minute:02d}:00.5+01:00" for minute in range(40)]
    return {"columns": {"sensor_id": [OTHER] * 40, "timestamp": times,
                        "location": [LOCATION] * 40, "temperature": [19.5] * 39 + [None],
                        "co2": [400 + i for i in range(40)]}}


RANGE = {"from": START_S, "to": "2027-12-31T00:00:00Z"}
VALID_CASES: list[tuple[str, dict[str, Any]]] = [
    ("postBatch", {"body": _seed_rows(), "media_type": "application/json",
                   "headers": {"Idempotency-Key": "openapi-rows"}}),
    ("postBatch", {"body": _seed_rows(), "media_type": "application/json",
                   "headers": {"Idempotency-Key": "openapi-rows"}}),  # the retry
    ("postBatch", {"body": _seed_columns(), "media_type": "application/msgpack"}),
    ("getStats", {"query": {"consistency": "linearizable"}}),
    ("getSensors", {"query": {"limit": 1}}),
    ("getSensors", {"query": {"location": LOCATION, "consistency": "leader"}}),
    ("getSensorLatest", {"path_parameters": {"sensor_id": SENSOR}}),
    ("getSensorReadings", {"path_parameters": {"sensor_id": SENSOR},
                           "query": {**RANGE, "metric": "temperature", "limit": 5}}),
    ("getSensorStats", {"path_parameters": {"sensor_id": str(OTHER)}}),
    ("getSensorStats", {"path_parameters": {"sensor_id": SENSOR}, "query": RANGE}),
    ("getLatest", {"query": {"location": LOCATION}}),
    ("getLatest", {"query": {"sensor_id": f"{SENSOR},openapi-none"}}),
    ("getAggregate", {"query": {"metric": "temperature", "every": "10m", "location": LOCATION,
                                "fn": "mean,min,max,count,sum,stddev"}}),
    ("getAggregate", {"query": {"metric": "co2", "every": "1h", "sensor_id": str(OTHER)}}),
    ("getLocations", {}),
    ("getAnomalies", {"query": {"sensor_id": SENSOR, "since": START_S}}),
    ("getAnomalySettings", {}),
    ("putAnomalySettings", {"body": {"sigma": 3, "cooldown_s": 60}, "media_type": "application/json"}),
    ("getLifecycle", {}),
    ("putLifecycle", {"body": {"rules": [{"match": {"location": LOCATION}, "raw": "forever",
                                          "rollups": [{"every": "1h", "keep": "30d"}]}]},
                      "media_type": "application/json"}),
    ("getAggregate", {"query": {"metric": "temperature", "every": "2h", "location": LOCATION,
                                "source": "rollup"}}),
    ("getExport", {"query": {"format": "csv", "location": LOCATION}}),
    ("getExport", {"query": {"format": "parquet", "sensor_id": SENSOR, **RANGE}}),
    ("getClusterStatus", {}),
    ("getMembers", {}),
    ("getHealth", {}),
    ("getReadyz", {}),
    ("getOpenApi", {}),
    ("getDocs", {}),
    ("getStreamClients", {}),
    ("getIngestHistory", {}),
    ("getClusterNodes", {}),
    ("getBackup", {}),
]
VALID_CHECKS = [check for check in CHECKS if check is not openapi_checks.negative_data_rejection]


def test_every_operation_answers_valid_input_as_specified(live_spec: schemathesis.BaseSchema) -> None:
    """Before the fuzzing, which may change the anomaly settings."""
    for operation_id, given in VALID_CASES:
        case = live_spec.find_operation_by_id(operation_id).Case(**given)
        response = case.call_and_validate(checks=VALID_CHECKS)
        assert response.status_code == 200, (operation_id, given, response.text)
    answered = {operation_id for operation_id, _ in VALID_CASES}
    assert answered == {op["operationId"] for op in OPERATIONS} - set(UNFUZZED)


# schemathesis' own pytest loader breaks on pytest 9 (it sets Function._nodeid): each
# operation's cases are drawn with hypothesis here, derandomized (a fixed seed) and bounded.
@pytest.mark.parametrize(("operation_id", "mode"), FUZZED, ids=[f"{o}-{m.value}" for o, m in FUZZED])
def test_the_node_answers_as_its_spec_says(live_spec: schemathesis.BaseSchema, operation_id: str,
                                           mode: schemathesis.GenerationMode) -> None:
    operation = live_spec.find_operation_by_id(operation_id)

    @hypothesis.settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, database=None,
                         deadline=None, suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def answers_as_specified(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=CHECKS)

    answers_as_specified()


@pytest.mark.parametrize("example", NON_ASCII_DIGITS)
def test_non_ascii_digits_are_refused_with_a_400(cluster: LocalCluster, example: str) -> None:
    answer = get(cluster.urls[0] + example)
    assert answer.status == 400
    assert answer.error["field"] in example


def test_a_non_ascii_token_is_refused_with_a_401(tmp_path: Path) -> None:
    node = start_cluster(tmp_path, nodes=1, extra_args=("--token", "t"))
    try:
        answer = request("POST", f"{node.urls[0]}/api/v1/batches", b"{}",
                         {"Content-Type": "application/json", "Authorization": "Bearer \xe9"})
    finally:
        node.stop()
    assert answer.status == 401


def test_the_cluster_is_whole_after_the_fuzzing(cluster: LocalCluster) -> None:
    for url in cluster.urls:
        assert get(f"{url}/health").status == 200
        assert get(f"{url}/readyz").status == 200
    cluster.wait_converged(timeout_s=30)


def test_the_error_codes_in_the_spec_are_the_nodes() -> None:
    """Every code a typed error can carry is in the spec's error shape, and no other."""
    defined = {kind.code for kind in vars(errors).values()
               if isinstance(kind, type) and issubclass(kind, errors.LithairError)}
    code = SPEC["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]
    assert set(code["enum"]) == defined
