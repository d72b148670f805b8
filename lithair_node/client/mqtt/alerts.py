"""New anomalies -> one QoS-1 publish each on the alerts topic.

The cursor is the (raft_index, sensor_id, timestamp_us) of the last anomaly published,
saved to a small state file after its PUBACK, so a restarted bridge does not publish
again (a crash between the PUBACK and the save can repeat that one alert). Anomalies are
computed in apply, so every node lists the same ones. One bridge per cluster should
publish alerts (`--alerts-topic ''` turns them off on the others): two would each
publish every anomaly.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import orjson
from aiohttp import hdrs

from lithair_node import api
from lithair_node.client.cluster_client import ClusterClient
from lithair_node.client.mqtt.counters import BridgeCounters
from lithair_node.client.mqtt.link import MqttLink
from lithair_node.client.node_api import NO_ANSWER, ApiError, NodeApi

Cursor = tuple[int, str, int]
_PUBACK_WAIT_S = 10.0


def _position(anomaly: dict[str, Any]) -> Cursor:
    return (int(anomaly["raft_index"]), str(anomaly["sensor_id"]), int(anomaly["timestamp_us"]))


class AlertPublisher:
    def __init__(self, client: ClusterClient, link: MqttLink, topic_template: str,
                 state_file: Path, counters: BridgeCounters) -> None:
        self.client, self.link, self.topic_template = client, link, topic_template
        self.state_file, self.counters = state_file, counters
        self.cursor: Cursor = self._load()
        self._next_url = 0

    def _load(self) -> Cursor:
        try:
            index, sensor_id, timestamp_us = orjson.loads(self.state_file.read_bytes())["alerts"]
        except FileNotFoundError:
            return (0, "", 0)
        return (int(index), str(sensor_id), int(timestamp_us))

    def _save(self) -> None:
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_bytes(orjson.dumps({"alerts": list(self.cursor)}))
        os.replace(temporary, self.state_file)

    async def run(self, period_s: float = 1.0) -> None:
        while True:
            try:
                await self.poll_once()
            except (ApiError, *NO_ANSWER):
                self._next_url += 1  # that node is down or not ready: ask another
            await asyncio.sleep(period_s)

    async def poll_once(self) -> None:
        urls = self.client.urls
        node = NodeApi(urls[self._next_url % len(urls)], self.client.session,
                       token=self.client.token)
        answer = await node.request(hdrs.METH_GET, f"{api.ANOMALIES}?limit=10000")
        anomalies = answer.json()["anomalies"]
        for anomaly in sorted((a for a in anomalies if _position(a) > self.cursor),
                              key=_position):
            topic = self.topic_template.format(sensor_id=anomaly["sensor_id"])
            sent = self.link.publish(topic, orjson.dumps(anomaly), qos=1)
            await asyncio.to_thread(sent.wait_for_publish, _PUBACK_WAIT_S)
            if not sent.is_published():
                return  # the broker is away: the next poll starts from the same cursor
            self.cursor = _position(anomaly)
            self._save()
            self.counters.alerts_published += 1
        self.counters.alert_polls += 1
