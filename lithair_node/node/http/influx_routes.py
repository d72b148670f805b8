"""InfluxDB's write APIs, so its clients (influxdb-client, Telegraf, curl scripts) write to a
node unchanged: `POST /api/v2/write?org=&bucket=&precision=` and v1's
`POST /write?db=&precision=`.

A request is one batch (the same flow as POST /api/v1/batches: admission, limits, group
commit, Idempotency-Key) and is answered 204 with no body once committed and applied here.
Lithair has one namespace: `org`, `bucket` and `db` are required as InfluxDB requires them,
and otherwise ignored. Any Content-Type is accepted (clients send text/plain or none);
aiohttp undoes `Content-Encoding: gzip`, and the body limit applies to the decompressed
bytes. Errors are worded as InfluxDB words them (ingest/influx_errors.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web

from lithair_node import api
from lithair_node.machine.commands import BatchColumns
from lithair_node.node.errors import BadRequest, LithairError
from lithair_node.node.http.bodies import read_raw
from lithair_node.node.http.context import NodeContext
from lithair_node.node.http.middleware import Dialect, speaks
from lithair_node.node.http.write_flow import Decoder, commit_batch
from lithair_node.node.ingest.fields import Limits
from lithair_node.node.ingest.influx_errors import InfluxErrorResponse, influx_v1_error, influx_v2_error
from lithair_node.node.ingest.line_protocol import precision_ns
from lithair_node.node.ingest.line_protocol_readings import LineProtocolMapping, line_protocol_batch


def _rendered(influx_error: Callable[[LithairError], InfluxErrorResponse]) -> Callable[
        [LithairError], web.Response]:
    def render(error: LithairError) -> web.Response:
        answer = influx_error(error)
        return web.Response(status=answer.status, body=answer.body, headers=answer.headers)

    return render


INFLUX_V2 = Dialect(_rendered(influx_v2_error), influx_credentials=True)
INFLUX_V1 = Dialect(_rendered(influx_v1_error), influx_credentials=True)


async def _post_v2_write(request: web.Request) -> web.Response:
    await commit_batch(request, "influx_v2",
                       _line_protocol(v1=False, required=(api.INFLUX_BUCKET, "bucket")))
    return web.Response(status=204)


async def _post_v1_write(request: web.Request) -> web.Response:
    await commit_batch(request, "influx_v1", _line_protocol(v1=True, required=("db", "database")))
    return web.Response(status=204)


post_v2_write = speaks(INFLUX_V2, _post_v2_write)
post_v1_write = speaks(INFLUX_V1, _post_v1_write)


def _line_protocol(*, v1: bool, required: tuple[str, str]) -> Decoder:
    """`required`: the namespace parameter and how InfluxDB names it in its 400."""
    parameter, name = required

    async def decode(request: web.Request, node: NodeContext) -> tuple[BatchColumns, int]:
        if not request.query.get(parameter):
            raise BadRequest(f"{name} is required", field=parameter)
        unit_ns = precision_ns(request.query.get(api.INFLUX_PRECISION), v1=v1)
        config = node.config
        raw = await read_raw(request, config.max_body_bytes, config.body_timeout_s)
        return line_protocol_batch(
            raw, unit_ns=unit_ns, received_ns=time.time_ns(),
            mapping=LineProtocolMapping.with_sensor_tag(config.lp_sensor_tag),
            limits=Limits(max_readings=config.max_batch_readings),
        )

    return decode
