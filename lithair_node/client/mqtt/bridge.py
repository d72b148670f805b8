"""The bridge's tasks: decode as messages arrive, batch, commit one batch at a time, then
PUBACK the batch's messages in arrival order (one committer, so acks never overtake
each other); dead-letter what can never be stored; publish alerts; print a status line."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path

import orjson

from lithair_node.client.cluster_client import ClusterClient
from lithair_node.client.mqtt.alerts import AlertPublisher
from lithair_node.client.mqtt.batches import Message, next_batch
from lithair_node.client.mqtt.committer import CommitFailed, Committer
from lithair_node.client.mqtt.counters import BridgeCounters
from lithair_node.client.mqtt.link import MqttLink
from lithair_node.client.mqtt.payloads import BadPayload, decode, line_protocol

_BATCHES_AHEAD = 2  # batches gathered while one commits
_PAUSE_AFTER_FAILURE_S = 1.0  # a batch that fails at once (a wrong token) must not spin


@dataclass(frozen=True)
class BridgeConfig:
    host: str
    port: int
    filters: list[str]
    nodes: list[str]
    client_id: str
    qos: int = 1
    batch_readings: int = 1000
    batch_ms: float = 100.0
    dead_letter_topic: str = "lithair/dead-letter"
    alerts_topic: str = "lithair/alerts/{sensor_id}"  # "" = no alerts from this bridge
    state_file: Path = Path("lithair-mqtt-state.json")
    token: str | None = None
    deadline_s: float = 60.0  # per batch, retries included (ClusterClient)
    lp_precision: str = "ns"  # the timestamps' unit in line-protocol payloads
    status_every_s: float = 0.0  # 0 = no status line


async def run_bridge(config: BridgeConfig, counters: BridgeCounters,
                     stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    bridge: _Bridge | None = None

    def received(message: Message) -> None:  # on paho's thread
        assert bridge is not None
        loop.call_soon_threadsafe(bridge.arrive, message)

    link = MqttLink(config.host, config.port, config.client_id, config.filters, config.qos,
                    received)
    async with ClusterClient(config.nodes, token=config.token,
                             deadline_s=config.deadline_s) as client:
        bridge = _Bridge(config, counters, link, Committer(client, counters, config.lp_precision))
        tasks = [asyncio.create_task(bridge.gather()),
                 asyncio.create_task(bridge.commit_in_order())]
        if config.alerts_topic:
            alerts = AlertPublisher(client, link, config.alerts_topic, config.state_file,
                                    counters)
            tasks.append(asyncio.create_task(alerts.run()))
        if config.status_every_s > 0:
            tasks.append(asyncio.create_task(
                _status_lines(link, counters, config.status_every_s)))
        link.start()
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.to_thread(link.stop)


class _Bridge:
    def __init__(self, config: BridgeConfig, counters: BridgeCounters, link: MqttLink,
                 committer: Committer) -> None:
        self.config, self.counters, self.link, self.committer = config, counters, link, committer
        self.arrived: asyncio.Queue[Message] = asyncio.Queue()
        self.batches: asyncio.Queue[list[Message]] = asyncio.Queue(_BATCHES_AHEAD)

    def arrive(self, message: Message) -> None:
        """Decoded on arrival, so a batch is cut by its count of readings."""
        self.counters.received += 1
        try:
            lines = line_protocol(message.payload)
            if lines is None:
                message.readings = decode(message.payload, message.topic, self.config.filters)
                message.points = len(message.readings)
            else:
                message.lines, message.points = lines
        except BadPayload as bad:
            message.reason = str(bad)
        self.arrived.put_nowait(message)

    async def gather(self) -> None:
        while True:
            await self.batches.put(await next_batch(self.arrived, self.config.batch_readings,
                                                    self.config.batch_ms / 1000))

    async def commit_in_order(self) -> None:
        while True:
            batch = await self.batches.get()
            try:
                await self.committer.commit(batch)
            except CommitFailed as failure:
                # Nothing is acked; the broker redelivers these only on a new connection.
                print(f"mqtt-bridge: batch not committed ({failure}); reconnecting",
                      file=sys.stderr, flush=True)
                self.counters.commit_failures += 1
                self.counters.reconnects += 1
                await asyncio.sleep(_PAUSE_AFTER_FAILURE_S)
                await asyncio.to_thread(self.link.reconnect)
                continue
            for message in batch:
                if message.reason is not None:
                    self._dead_letter(message)
                if self.link.ack(message):
                    self.counters.acks += 1

    def _dead_letter(self, message: Message) -> None:
        """Republished with the reason, QoS 1, before the original is acked."""
        self.counters.dead_lettered += 1
        body = {"topic": message.topic, "reason": message.reason,
                "payload_base64": base64.b64encode(message.payload).decode()}
        with contextlib.suppress(UnicodeDecodeError):
            body["payload"] = message.payload.decode()
        self.link.publish(self.config.dead_letter_topic, orjson.dumps(body), qos=1)


async def _status_lines(link: MqttLink, counters: BridgeCounters, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        print(f"mqtt-bridge: subscribed={int(link.subscribed.is_set())} {counters.line()}",
              file=sys.stderr, flush=True)
