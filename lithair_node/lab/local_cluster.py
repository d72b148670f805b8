"""Start, kill and restart real `lithair serve` processes on one machine.

Used by `lithair cluster up`, the demos, the benchmarks and the integration tests, so all of
them exercise exactly the processes a user runs.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lithair_node import api
from lithair_node.client.blocking_api import http_json
from lithair_node.lab.secret_files import PASSWORD_FILE, ensure_secret_file
from lithair_node.polling import wait_until


@dataclass(frozen=True)
class NodeSpec:
    node_id: str
    host: str
    http_port: int
    raft_port: int
    data_dir: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def raft_address(self) -> str:
        return f"{self.host}:{self.raft_port}"


# Below Linux's default ephemeral range (32768-60999): a port found free there is not taken
# meanwhile by some process's outgoing connection before the node binds it.
_RUN_PORTS = range(20_000, 32_000)

# Ports this process has handed out: a port probed free and closed again would otherwise be
# free to hand out a second time before its first taker binds it (a node given the same
# port for HTTP and Raft exits at startup).
_handed_out: set[int] = set()


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct ports that are free now and not handed out before by this process
    (held open together while probed)."""
    rng = random.Random()
    if len(_handed_out) > len(_RUN_PORTS) // 2:
        _handed_out.clear()  # long runs: the oldest takers have long since bound or exited
    held: list[socket.socket] = []
    try:
        for _ in range(count * 200):
            if len(held) == count:
                break
            port = rng.randrange(_RUN_PORTS.start, _RUN_PORTS.stop)
            if port in _handed_out:
                continue
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.bind((host, port))
            except OSError:
                sock.close()
                continue
            held.append(sock)
            _handed_out.add(port)
        if len(held) < count:
            raise RuntimeError(f"no {count} free ports in {_RUN_PORTS}")
        return [s.getsockname()[1] for s in held]
    finally:
        for sock in held:
            sock.close()


def free_port_run(count: int, host: str = "127.0.0.1") -> int:
    """The first of `count` consecutive ports that are free now (`cluster up` and `restore`
    number a cluster's ports consecutively from a first one)."""
    rng = random.Random()
    for _ in range(200):
        start = rng.randrange(_RUN_PORTS.start, _RUN_PORTS.stop - count)
        run = range(start, start + count)
        if _handed_out.intersection(run):
            continue
        held: list[socket.socket] = []
        try:
            for port in run:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                held.append(sock)
                sock.bind((host, port))
            _handed_out.update(run)
            return start
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
    raise RuntimeError(f"no {count} consecutive free ports in {_RUN_PORTS}")


def _tail(path: Path, lines: int = 15) -> str:
    """The last lines of a node's log, so an error says why the node exited."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"({error})"


def ensure_password_file(base_dir: Path) -> Path:
    """The cluster's Raft password, generated once into the data dir (mode 0600)."""
    return ensure_secret_file(base_dir, PASSWORD_FILE)


def _wait_stopped(pid: int, timeout_s: float = 5.0) -> None:
    """Poll /proc until every thread of `pid` is in the stopped state (Linux; elsewhere, or
    if the process is gone, return at once)."""
    tasks = Path(f"/proc/{pid}/task")

    def stopped() -> bool:
        try:
            states = [(task / "stat").read_text().rsplit(")", 1)[1].split()[0]
                      for task in tasks.iterdir()]
        except OSError:
            return True
        return all(state in ("T", "t") for state in states)

    wait_until(stopped, timeout_s, period_s=0.001, what=f"process {pid} stopped")


@dataclass
class LocalCluster:
    """`nodes` processes of `lithair serve`. By default all bind to `host` (loopback) on free
    ports. `hosts` gives each node its own address and `command_prefixes` wraps each node's
    command (e.g. `ip netns exec NS`, see netlab.py): the same cluster, one network
    namespace per node."""

    base_dir: Path
    nodes: int = 3
    host: str = "127.0.0.1"
    http_port: int | None = None  # first HTTP port; None = free ports
    raft_port: int | None = None
    extra_args: Sequence[str] = ()
    env: dict[str, str] = field(default_factory=dict)
    password_file: Path | None = None
    token_file: Path | None = None  # given to every node as --token-file
    hosts: Sequence[str] | None = None  # per node; None = `host` for every node
    command_prefixes: Sequence[Sequence[str]] | None = None  # per node, prepended to its command
    specs: list[NodeSpec] = field(init=False)
    processes: dict[int, subprocess.Popen[bytes]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.base_dir = Path(self.base_dir)
        hosts = list(self.hosts) if self.hosts is not None else [self.host] * self.nodes
        if len(hosts) != self.nodes:
            raise ValueError(f"{len(hosts)} hosts given for {self.nodes} nodes")
        if self.command_prefixes is not None and len(self.command_prefixes) != self.nodes:
            raise ValueError(f"{len(self.command_prefixes)} command prefixes for {self.nodes} nodes")
        # Free on loopback; nodes on addresses of their own (fresh network namespaces) have
        # every port free anyway.
        probe_host = self.host if self.hosts is None else "127.0.0.1"
        http = ([self.http_port + i for i in range(self.nodes)] if self.http_port
                else free_ports(self.nodes, probe_host))
        raft = ([self.raft_port + i for i in range(self.nodes)] if self.raft_port
                else free_ports(self.nodes, probe_host))
        self.specs = [
            NodeSpec(f"node{i + 1}", hosts[i], http[i], raft[i], self.base_dir / f"node{i + 1}")
            for i in range(self.nodes)
        ]
        if self.password_file is None:
            self.password_file = ensure_password_file(self.base_dir)

    @property
    def urls(self) -> list[str]:
        return [spec.url for spec in self.specs]

    def command(self, index: int) -> list[str]:
        spec = self.specs[index]
        peers = ",".join(s.raft_address for s in self.specs if s is not spec)
        prefix = list(self.command_prefixes[index]) if self.command_prefixes is not None else []
        return [
            *prefix,
            sys.executable, "-m", "lithair_node", "serve",
            "--node-id", spec.node_id,
            "--http", f"{spec.host}:{spec.http_port}",
            "--raft", spec.raft_address,
            "--peers", peers,
            "--data-dir", str(spec.data_dir),
            "--raft-password-file", str(self.password_file),
            *(("--token-file", str(self.token_file)) if self.token_file else ()),
            *self.extra_args,
        ]

    def start(self) -> LocalCluster:
        for index in range(self.nodes):
            self.start_node(index)
        return self

    def start_node(self, index: int) -> subprocess.Popen[bytes]:
        if self.is_running(index):
            raise RuntimeError(f"{self.specs[index].node_id} is already running")
        spec = self.specs[index]
        spec.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(spec.data_dir / "node.log", "ab")  # noqa: SIM115 - owned by the child
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        # The secrets come as files (the flags above); a value in the environment as well
        # would be refused as giving both.
        env.pop("LITHAIR_RAFT_PASSWORD", None)
        if self.token_file is not None:
            env.pop("LITHAIR_TOKEN", None)
        process = subprocess.Popen(self.command(index), stdout=log, stderr=subprocess.STDOUT,
                                   env=env, start_new_session=True)
        log.close()
        self.processes[index] = process
        return process

    def is_running(self, index: int) -> bool:
        process = self.processes.get(index)
        return process is not None and process.poll() is None

    def signal_node(self, index: int, signum: int) -> None:
        """Send `signum`. SIGSTOP returns once every thread of the node has stopped: kill()
        only queues it, and on a busy machine the node's threads can run on for a few
        milliseconds (long enough to acknowledge a Raft append)."""
        process = self.processes[index]
        if process.poll() is None:
            process.send_signal(signum)
            if signum == signal.SIGSTOP:
                _wait_stopped(process.pid)

    def kill_node(self, index: int) -> None:
        """kill -9, and reap the process."""
        process = self.processes.get(index)
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    def stop_node(self, index: int, timeout_s: float = 15.0) -> int | None:
        """SIGTERM and wait for a clean exit (SIGKILL after the timeout). A SIGSTOPped node is
        continued first: it would not see the SIGTERM."""
        process = self.processes.get(index)
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        return process.returncode

    def stop(self) -> None:
        for index in list(self.processes):
            if self.is_running(index):
                self.processes[index].send_signal(signal.SIGCONT)
                self.processes[index].send_signal(signal.SIGTERM)
        for index in list(self.processes):
            self.stop_node(index)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- observation ---------------------------------------------------------------------

    def status(self, index: int) -> dict[str, Any] | None:
        code, body = http_json(f"{self.specs[index].url}{api.CLUSTER_STATUS}")
        return body if code == 200 else None

    def stats(self, index: int) -> dict[str, Any] | None:
        code, body = http_json(f"{self.specs[index].url}{api.STATS}")
        return body if code == 200 else None

    def leader_index(self) -> int | None:
        """Index of the node that says it leads and that the others agree on."""
        for index in range(self.nodes):
            if not self.is_running(index):
                continue
            status = self.status(index)
            if status and status["role"] == "leader":
                return index
        return None

    def wait_ready(self, timeout_s: float = 60.0, indexes: Sequence[int] | None = None) -> None:
        """Poll until every running node (or `indexes`) answers /readyz 200 and they agree on
        one leader. Raises TimeoutError with each node's last answer."""
        wanted = list(indexes) if indexes is not None else [
            i for i in range(self.nodes) if self.is_running(i)
        ]
        last: dict[str, Any] = {}

        def ready() -> bool:
            for index in wanted:
                process = self.processes.get(index)
                if process is not None and process.poll() is not None:
                    log = self.specs[index].data_dir / "node.log"
                    raise RuntimeError(
                        f"{self.specs[index].node_id} exited with {process.returncode}; "
                        f"the end of {log}:\n{_tail(log)}"
                    )
            answers = {i: http_json(f"{self.specs[i].url}{api.READYZ}") for i in wanted}
            statuses = {i: self.status(i) for i in wanted}
            last.update({self.specs[i].node_id: (answers[i], statuses[i]) for i in wanted})
            leaders = {s["leader"]["raft_address"] for s in statuses.values()
                       if s and s.get("leader")}
            return all(code == 200 for code, _ in answers.values()) and len(leaders) == 1

        try:
            wait_until(ready, timeout_s)
        except TimeoutError:
            raise TimeoutError(f"cluster not ready after {timeout_s} s: {last}") from None

    def wait_converged(
        self, timeout_s: float = 30.0, indexes: Sequence[int] | None = None
    ) -> list[dict[str, Any]]:
        """Poll until the nodes report equal applied indexes and state digests."""
        wanted = list(indexes) if indexes is not None else [
            i for i in range(self.nodes) if self.is_running(i)
        ]
        stats: list[Any] = []

        def converged() -> list[dict[str, Any]] | None:
            stats[:] = [self.stats(i) for i in wanted]
            if all(stats) and len({(s["applied_index"], s["state_digest"]) for s in stats}) == 1:
                return list(stats)
            return None

        try:
            return wait_until(converged, timeout_s)
        except TimeoutError:
            raise TimeoutError(f"nodes did not converge in {timeout_s} s: {stats}") from None

    def log_tail(self, index: int, lines: int = 40) -> str:
        path = self.specs[index].data_dir / "node.log"
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
