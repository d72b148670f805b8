"""`lithair mqtt-bridge`: MQTT in, committed batches out, PUBACK only after commit."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import click

from lithair_node.client.mqtt.bridge import BridgeConfig, run_bridge
from lithair_node.client.mqtt.counters import BridgeCounters
from lithair_node.client.mqtt.link import default_client_id


def _host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter(f"{value!r} is not HOST:PORT")
    return host, int(port)


@click.command("mqtt-bridge")
@click.option("--broker", default="127.0.0.1:1883", help="MQTT broker HOST:PORT.")
@click.option("--topic", "topics", multiple=True, default=["sensors/+/readings"],
              help="Topic filter (repeatable); the first `+` level is the sensor id.")
@click.option("--node", "nodes", default="http://127.0.0.1:8001", envvar="LITHAIR_NODES",
              show_envvar=True, help="Node URL(s), comma separated; the rest are discovered.")
@click.option("--client-id", help="MQTT client id of the persistent session "
              "[default: derived from the topics]")
@click.option("--qos", default=1, type=click.IntRange(1, 2), help="Subscription QoS.")
@click.option("--batch-readings", default=1000, type=click.IntRange(1, 10_000),
              help="Write a batch once it holds this many readings...")
@click.option("--batch-ms", default=100.0, type=click.FloatRange(0), help="...or after this long.")
@click.option("--dead-letter-topic", default="lithair/dead-letter",
              help="Where messages that can never be stored are republished, with the reason.")
@click.option("--alerts-topic", default="lithair/alerts/{sensor_id}",
              help="Where new anomalies are published; '' for none (one bridge per cluster).")
@click.option("--state-file", type=click.Path(dir_okay=False, path_type=Path),
              help="The last alert published [default: ./<client id>.state.json]")
@click.option("--token", envvar="LITHAIR_TOKEN", help="Bearer token for writes.")
@click.option("--deadline", default=60.0, type=click.FloatRange(0.5),
              help="Give up on a batch after (s): unacked, it comes back after a reconnect.")
@click.option("--status-every", default=10.0, type=click.FloatRange(0),
              help="Seconds between status lines on stderr; 0 for none.")
@click.option("--lp-precision", default="ns", type=click.Choice(["ns", "us", "ms", "s"]),
              help="Unit of the timestamps in line-protocol payloads.")
@click.option("--json", "as_json", is_flag=True, help="Print the counters on exit as JSON.")
def mqtt_bridge(broker: str, topics: tuple[str, ...], nodes: str, client_id: str | None,
                qos: int, batch_readings: int, batch_ms: float, dead_letter_topic: str,
                alerts_topic: str, state_file: Path | None, token: str | None, deadline: float,
                status_every: float, lp_precision: str, as_json: bool) -> None:
    """Subscribe to TOPICs and store their readings; ack each message once committed."""
    host, port = _host_port(broker)
    filters = list(topics)
    client_id = client_id or default_client_id(filters)
    config = BridgeConfig(
        host=host, port=port, filters=filters,
        nodes=[u.strip() for u in nodes.split(",") if u.strip()], client_id=client_id,
        qos=qos, batch_readings=batch_readings, batch_ms=batch_ms,
        dead_letter_topic=dead_letter_topic, alerts_topic=alerts_topic,
        state_file=state_file or Path(f"{client_id}.state.json"), token=token,
        deadline_s=deadline, status_every_s=status_every, lp_precision=lp_precision)
    counters = BridgeCounters()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run_bridge(config, counters, stop)

    asyncio.run(main())
    if as_json:
        click.echo(json.dumps(counters.as_dict(), indent=2))
    else:
        click.echo(f"mqtt-bridge: {counters.line()}")
