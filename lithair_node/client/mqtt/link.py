"""The paho client: a persistent MQTT 3.1.1 session (fixed client id, clean_session off)
with manual PUBACKs, run by paho's network thread. Received publishes are handed to a
callback with the number of the connection they came on."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from lithair_node.client.mqtt.batches import Message


def default_client_id(filters: list[str]) -> str:
    """Stable for a set of topics, so a restarted bridge resumes the same broker session."""
    digest = hashlib.blake2b("\n".join(sorted(filters)).encode(), digest_size=6).hexdigest()
    return f"lithair-bridge-{digest}"


class MqttLink:
    def __init__(self, host: str, port: int, client_id: str, filters: list[str], qos: int,
                 on_message: Callable[[Message], None]) -> None:
        self.host, self.port, self.filters, self.qos = host, port, filters, qos
        self.on_message = on_message
        self.generation = 0  # bumped by each successful CONNACK
        self.subscribed = threading.Event()  # set by the SUBACK, cleared on disconnect
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=False, protocol=mqtt.MQTTv311,
                                  manual_ack=True)
        self.client.reconnect_delay_set(min_delay=0.1, max_delay=2)
        self.client.on_connect = self._connected
        self.client.on_subscribe = self._subscribed
        self.client.on_disconnect = self._disconnected
        self.client.on_message = self._received

    def start(self) -> None:
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def reconnect(self) -> None:
        """Drop the connection and open a new one: Mosquitto redelivers unacked messages
        only then (never on the same connection). Blocking: call it from a thread."""
        self.stop()
        self.start()

    def ack(self, message: Message) -> bool:
        """PUBACK (or PUBREC) `message`, if it came on the current connection."""
        if message.generation != self.generation or message.qos == 0:
            return False
        self.client.ack(message.mid, message.qos)
        return True

    def publish(self, topic: str, payload: bytes, *, qos: int = 1,
                retain: bool = False) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topic, payload, qos=qos, retain=retain)

    def _connected(self, client: mqtt.Client, userdata: Any, flags: mqtt.ConnectFlags,
                   reason: ReasonCode, properties: Any) -> None:
        if reason.is_failure:
            return
        self.generation += 1
        client.subscribe([(topic_filter, self.qos) for topic_filter in self.filters])

    def _subscribed(self, client: mqtt.Client, userdata: Any, mid: int,
                    reasons: list[ReasonCode], properties: Any) -> None:
        if not any(reason.is_failure for reason in reasons):
            self.subscribed.set()

    def _disconnected(self, client: mqtt.Client, userdata: Any, flags: mqtt.DisconnectFlags,
                      reason: ReasonCode, properties: Any) -> None:
        self.subscribed.clear()

    def _received(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.on_message(Message(message.mid, message.qos, message.topic, message.payload,
                                self.generation))
