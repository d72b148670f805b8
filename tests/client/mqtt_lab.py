"""Real pieces for the MQTT bridge tests: a Mosquitto broker on a free port (persistence
on, limits raised so batches can fill), the bridge as a `python -m lithair_node` process,
and paho clients that publish or collect."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from lithair_node.lab.local_cluster import free_ports
from lithair_node.polling import wait_until


@dataclass
class Broker:
    base_dir: Path
    port: int = field(default_factory=lambda: free_ports(1)[0])
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Broker:
        store = self.base_dir / "mosquitto"
        store.mkdir(parents=True, exist_ok=True)
        config = self.base_dir / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
            f"persistence true\npersistence_location {store}/\n"
            "max_inflight_messages 2000\nmax_queued_messages 200000\n")
        log = open(self.base_dir / "mosquitto.log", "wb")  # noqa: SIM115 (the process owns it)
        self.process = subprocess.Popen(["mosquitto", "-c", str(config)], stdout=log,
                                        stderr=subprocess.STDOUT)
        wait_until(self._answers, 10, what="mosquitto accepting connections")
        return self

    def _answers(self) -> bool:
        probe = mqtt.Client(CallbackAPIVersion.VERSION2)
        try:
            probe.connect("127.0.0.1", self.port)
        except OSError:
            return False
        probe.disconnect()
        return True

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)


class Bridge:
    """`lithair mqtt-bridge` as a real process; its status lines go to a log file."""

    def __init__(self, base_dir: Path, broker: Broker, urls: list[str], *extra: str) -> None:
        self.log_path = base_dir / "bridge.log"
        self.command = [
            sys.executable, "-m", "lithair_node", "mqtt-bridge",
            "--broker", f"127.0.0.1:{broker.port}", "--topic", "sensors/+/readings",
            "--node", ",".join(urls), "--client-id", "test-bridge",
            "--state-file", str(base_dir / "bridge-state.json"),
            "--status-every", "0.2", "--json", *extra]
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> Bridge:
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "a")  # noqa: SIM115 (the process owns it)
        self.process = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=log,
                                        text=True)
        wait_until(lambda: self.status().get("subscribed") == 1, 20, what="bridge subscribed")
        return self

    def status(self) -> dict[str, int]:
        """The newest status line of this run of the bridge."""
        assert self.process is not None and self.process.poll() is None, self.log_tail()
        with open(self.log_path) as log:
            log.seek(self._log_start)
            lines = [line for line in log if line.startswith("mqtt-bridge: subscribed=")]
        if not lines:
            return {}
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", lines[-1])}

    def kill9(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> dict[str, Any]:
        """SIGTERM; the counters it printed."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=20)
        assert self.process.returncode == 0, self.log_tail()
        return json.loads(out)

    def ensure_stopped(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill9()

    def log_tail(self) -> str:
        return "".join(self.log_path.read_text().splitlines(keepends=True)[-20:])


class Collector:
    """Subscribes to topic filters and keeps every message received (topic, JSON body)."""

    def __init__(self, broker: Broker, *filters: str) -> None:
        self.messages: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.on_message = self._received
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.connect("127.0.0.1", broker.port)
        self.client.subscribe([(f, 1) for f in filters])
        self.client.loop_start()
        wait_until(subscribed.is_set, 10, what="collector subscribed")

    def _received(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((message.topic, json.loads(message.payload)))

    def on(self, prefix: str) -> list[Any]:
        with self._lock:
            return [body for topic, body in self.messages if topic.startswith(prefix)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def publish_all(broker: Broker, messages: list[tuple[str, bytes]]) -> None:
    """Publish at QoS 1 and return once the broker has PUBACKed every one."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"publisher-{os.getpid()}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        sent = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in sent:
            info.wait_for_publish(60)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()
