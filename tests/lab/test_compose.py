"""docker-compose.cluster.yml, without Docker: check its structure, then start one local
process per service with exactly the command (Dockerfile ENTRYPOINT + service command) and
the environment the service declares, and check that they form a cluster.

What has to change to run on one host is substituted mechanically and consistently:
service host names become 127.0.0.1, every port number becomes its own free port (the same
one everywhere it appears, so peers lists stay coherent), the volume mount becomes a temp
dir per volume, and `lithair` / `python` become this interpreter. Nothing else is touched,
so a wrong peer list, port, env var name or healthcheck in the compose file fails here.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lithair_node.client.blocking_api import http_json
from lithair_node.lab.local_cluster import free_ports
from lithair_node.polling import wait_until
from tests.http_helpers import Answer, post_json

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.cluster.yml"
DOCKERFILE = REPO / "cluster" / "Dockerfile"
SERVICES = ("node1", "node2", "node3")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    # PyYAML's safe loader resolves the file's `<<: *node` merge keys as Compose does.
    return yaml.safe_load(COMPOSE.read_text())


def entrypoint() -> list[str]:
    lines = [line for line in DOCKERFILE.read_text().splitlines() if line.startswith("ENTRYPOINT")]
    assert len(lines) == 1, "the Dockerfile has one exec-form ENTRYPOINT"
    return json.loads(lines[0].removeprefix("ENTRYPOINT"))


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} forms."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if env.get(name):
            return env[name]
        if op == ":?":
            raise AssertionError(f"compose would refuse to start: {arg}")
        return arg if op == ":-" else ""

    return re.sub(r"\$\{(\w+)(?:(:[-?])([^}]*))?\}", one, value)


def test_compose_file_structure(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == set(SERVICES)
    assert set(compose["volumes"]) == {f"{name}-data" for name in SERVICES}
    assert entrypoint() == ["lithair"]
    raft_addresses = {}
    for number, name in enumerate(SERVICES, start=1):
        service = compose["services"][name]
        assert service["build"]["dockerfile"] == "cluster/Dockerfile"
        assert (REPO / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
        assert service["restart"] == "no"  # a killed node stays down until started
        assert service["command"] == ["serve"]
        env = service["environment"]
        http_port = 8000 + number
        assert service["ports"] == [f"{http_port}:{http_port}"]
        assert env["LITHAIR_HTTP"] == f"0.0.0.0:{http_port}"
        assert env["LITHAIR_ADVERTISE_HTTP"] == f"http://localhost:{http_port}"
        assert service["volumes"] == [f"{name}-data:{env['LITHAIR_DATA_DIR']}"]
        # The Raft password comes from the environment, never from the file itself.
        assert env["LITHAIR_RAFT_PASSWORD"].startswith("${LITHAIR_RAFT_PASSWORD:?")
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD" and f"127.0.0.1:{http_port}/readyz" in " ".join(test)
        raft_addresses[name] = env["LITHAIR_RAFT"]
        assert env["LITHAIR_RAFT"].startswith(f"{name}:")
    for name in SERVICES:  # each node's peers are exactly the others' Raft addresses
        peers = compose["services"][name]["environment"]["LITHAIR_PEERS"].split(",")
        assert sorted(peers) == sorted(a for n, a in raft_addresses.items() if n != name)


class LocalCompose:
    """The three services as local processes (see the module docstring)."""

    def __init__(self, compose: dict[str, Any], base: Path, password: str) -> None:
        self.compose = compose
        self.base = base
        self.password = password
        numbers = set()
        for service in compose["services"].values():
            for value in [*service["environment"].values(), *service["ports"]]:
                numbers.update(int(p) for p in re.findall(r"(?<=:)(\d{2,5})\b", str(value)))
        self.ports = dict(zip(sorted(numbers), free_ports(len(numbers)), strict=True))
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def substitute(self, value: str, service: str) -> str:
        value = interpolate(value, {"LITHAIR_RAFT_PASSWORD": self.password})
        hosts = "|".join(re.escape(h) for h in (*self.compose["services"], "0.0.0.0", "127.0.0.1"))
        value = re.sub(rf"\b({hosts})(?=:\d)", "127.0.0.1", value)
        value = re.sub(r"(?<=:)(\d{2,5})\b", lambda m: str(self.ports.get(int(m.group(1)),
                                                                       m.group(1))), value)
        for volume in self.compose["services"][service]["volumes"]:
            source, target = volume.split(":")
            if value == target:
                return str(self.base / source)
        return value

    def argv(self, words: list[str], service: str) -> list[str]:
        interpreter = {"lithair": [sys.executable, "-m", "lithair_node"],
                       "python": [sys.executable]}
        head = interpreter.get(words[0], [words[0]])
        return head + [self.substitute(w, service) for w in words[1:]]

    def url(self, service: str) -> str:
        return self.substitute(self.compose["services"][service]["environment"]
                               ["LITHAIR_ADVERTISE_HTTP"], service)

    def start(self, service: str) -> None:
        spec = self.compose["services"][service]
        env = {k: v for k, v in os.environ.items() if not k.startswith("LITHAIR_")}
        env.update({k: self.substitute(str(v), service) for k, v in spec["environment"].items()})
        log = open(self.base / f"{service}.log", "ab")  # noqa: SIM115 - owned by the child
        self.processes[service] = subprocess.Popen(
            self.argv(entrypoint() + spec["command"], service), env=env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True, cwd=self.base)
        log.close()

    def healthy(self, service: str) -> bool:
        test = self.compose["services"][service]["healthcheck"]["test"]
        assert test[0] == "CMD"
        done = subprocess.run(self.argv(test[1:], service), capture_output=True, timeout=10)
        return done.returncode == 0

    def wait_healthy(self, services: tuple[str, ...] = SERVICES, timeout_s: float = 60) -> None:
        pending = list(services)

        def all_healthy() -> bool:
            for service in list(pending):
                process = self.processes[service]
                assert process.poll() is None, (self.base / f"{service}.log").read_text()
                if self.healthy(service):
                    pending.remove(service)
            return not pending

        wait_until(all_healthy, timeout_s, period_s=0.1, what=f"healthy: {' '.join(services)}")

    def kill(self, service: str) -> None:  # what `docker compose kill` sends
        process = self.processes[service]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture
def local_compose(compose: dict[str, Any], tmp_path: Path) -> Iterator[LocalCompose]:
    running = LocalCompose(compose, tmp_path, password="compose-test-secret")
    yield running
    running.stop_all()


def _stats(url: str) -> dict[str, Any]:
    code, body = http_json(f"{url}/api/v1/stats")
    assert code == 200, (code, body)
    return body


def _wait_total(urls: list[str], total: int, timeout_s: float = 30) -> None:
    answers: list[Any] = []

    def all_hold_the_total() -> bool:
        answers[:] = [http_json(f"{u}/api/v1/stats") for u in urls]
        return all(code == 200 and body["total_readings"] == total for code, body in answers)

    try:
        wait_until(all_hold_the_total, timeout_s, period_s=0.1)
    except TimeoutError:
        raise AssertionError(answers) from None


def test_compose_services_form_a_cluster_and_survive_the_fault_drill(
        local_compose: LocalCompose) -> None:
    compose = local_compose
    for service in SERVICES:
        compose.start(service)
    compose.wait_healthy()  # each service's own healthcheck command passes
    urls = [compose.url(s) for s in SERVICES]

    # `lithair status` given one node finds the other two through the advertised URLs.
    done = subprocess.run([sys.executable, "-m", "lithair_node", "status", "--nodes", urls[0],
                           "--json"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = json.loads(done.stdout)["nodes"]
    assert sorted(r["node_id"] for r in rows) == list(SERVICES)
    assert sorted(r["role"] for r in rows) == ["follower", "follower", "leader"]

    def write(url: str, start: int) -> None:
        readings = [{"sensor_id": "drill", "timestamp": start + i, "temperature": 20.0 + i}
                    for i in range(10)]
        answer = post_json(url, {"readings": readings}, key=f"drill-{start}")
        assert answer.status == 200, answer

    write(urls[0], 0)
    _wait_total(urls, 10)

    # The README's fault drill: kill node1, write, start node1, everything is back.
    compose.kill("node1")
    answers: list[Answer] = []

    def accepted() -> bool:
        answers.append(post_json(urls[1], {"readings": [
            {"sensor_id": "drill", "timestamp": 100 + i, "temperature": 1.0} for i in range(10)]},
            key="drill-100"))
        return answers[-1].status == 200

    with contextlib.suppress(TimeoutError):  # the assertion below shows the last answer
        wait_until(accepted, 30, period_s=0.1)
    answer = answers[-1]
    assert answer.status == 200, answer
    compose.start("node1")
    compose.wait_healthy(("node1",))
    _wait_total(urls, 20)
    digests = {_stats(u)["state_digest"] for u in urls}
    assert len(digests) == 1
