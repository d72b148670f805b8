"""A throw-away network for fault tests: each node in its own network namespace, all on one
bridge, so traffic between any two nodes can be cut (blackhole routes) while every node stays
reachable from the host that runs the clients.

Needs root (CAP_NET_ADMIN) and iproute2. `NetworkLab.available()` says whether this machine
can do it; callers fall back to faults that need no network control.

Names carry the pid of the process that made them (`lt<pid>x<n>`: namespaces `...n<i>`, the
bridge `...br`, veth ends `...v<i>`/`...p<i>`), so leftovers of a process that died before
its teardown are recognisable: `NetworkLab.remove_leftovers()` deletes those whose process is
gone.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import subprocess
from dataclasses import dataclass, field

_ids = itertools.count()
_OWNED = re.compile(r"^lt(\d+)x\d+(?:n\d+|br|v\d+)$")


def _ip(*args: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    command = ["ip", *args] if netns is None else ["ip", "netns", "exec", netns, "ip", *args]
    return subprocess.run(command, capture_output=True, text=True, check=check, timeout=30)


@dataclass
class NetworkLab:
    nodes: int
    tag: str = field(default="")
    _cuts: set[tuple[int, int]] = field(default_factory=set)
    _up: bool = False

    def __post_init__(self) -> None:
        if not self.tag:
            # Interface names are limited to 15 characters: "lt" + pid (<= 7 digits) + "x" +
            # counter + a 2-3 character suffix fits.
            self.tag = f"lt{os.getpid()}x{next(_ids)}"
        # A /24 per lab inside 10.0.0.0/8, derived from the tag, avoiding routes in use.
        used = _routes_in_use()
        number = abs(hash(self.tag)) % 38_400
        while True:
            self._subnet = f"10.{100 + number // 256 % 150}.{number % 256}"
            if f"{self._subnet}.0/24" not in used:
                break
            number = (number + 1) % 38_400

    @staticmethod
    def available() -> bool:
        probe = f"ltprobe{os.getpid() % 100_000}"
        try:
            _ip("netns", "add", probe)
        except (OSError, subprocess.SubprocessError):
            return False
        _ip("netns", "del", probe, check=False)
        return True

    @staticmethod
    def remove_leftovers() -> list[str]:
        """Delete namespaces and bridges made by a process that no longer exists (killed
        before its teardown), and end the `lithair serve` processes it left inside them.
        Returns the names removed."""
        removed = []
        listed = _ip("netns", "list", check=False).stdout.split()
        links = [line.split(":")[1].strip().split("@")[0] for line in
                 _ip("-o", "link", "show", check=False).stdout.splitlines()
                 if line.count(":") >= 2]
        for name in [*listed, *links]:
            match = _OWNED.match(name)
            if match is None or _alive(int(match.group(1))):
                continue
            if name in links:
                _ip("link", "del", name, check=False)
            else:
                pids = _ip("netns", "pids", name, check=False).stdout.split()
                for pid in pids:  # processes the dead harness started in its namespace
                    with contextlib.suppress(ProcessLookupError, ValueError):
                        os.kill(int(pid), signal.SIGKILL)
                _ip("netns", "del", name, check=False)
            removed.append(name)
        return removed

    def host(self, index: int) -> str:
        """The address node `index` binds to (HTTP and Raft)."""
        return f"{self._subnet}.{index + 1}"

    @property
    def gateway(self) -> str:
        return f"{self._subnet}.254"

    def netns(self, index: int) -> str:
        return f"{self.tag}n{index}"

    def command_prefix(self, index: int) -> list[str]:
        """Prepend to a command to run it inside node `index`'s namespace (`ip netns exec`
        execs the command: the child's pid is the command's, so signals reach it)."""
        return ["ip", "netns", "exec", self.netns(index)]

    @property
    def hosts(self) -> list[str]:
        return [self.host(i) for i in range(self.nodes)]

    @property
    def command_prefixes(self) -> list[list[str]]:
        return [self.command_prefix(i) for i in range(self.nodes)]

    @property
    def cuts(self) -> list[tuple[int, int]]:
        """(a, b): node a cannot send to node b."""
        return sorted(self._cuts)

    def setup(self) -> NetworkLab:
        self._up = True  # from here on, teardown() removes whatever was made
        try:
            self._build()
        except BaseException:
            self.teardown()
            raise
        return self

    def _build(self) -> None:
        bridge = f"{self.tag}br"
        _ip("link", "add", bridge, "type", "bridge")
        _ip("addr", "add", f"{self.gateway}/24", "dev", bridge)
        _ip("link", "set", bridge, "up")
        for index in range(self.nodes):
            ns, outside, inside = self.netns(index), f"{self.tag}v{index}", f"{self.tag}p{index}"
            _ip("netns", "add", ns)
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            _ip("link", "set", inside, "netns", ns)
            _ip("link", "set", outside, "master", bridge)
            _ip("link", "set", outside, "up")
            _ip("addr", "add", f"{self.host(index)}/24", "dev", inside, netns=ns)
            _ip("link", "set", inside, "up", netns=ns)
            _ip("link", "set", "lo", "up", netns=ns)

    def partition(self, *groups: list[int]) -> None:
        """Cut every link between nodes of different groups (both directions). Nodes not in
        any group keep all their links."""
        for a_group, b_group in itertools.combinations(groups, 2):
            for a in a_group:
                for b in b_group:
                    self._cut(a, b)
                    self._cut(b, a)

    def isolate(self, index: int) -> None:
        self.partition([index], [i for i in range(self.nodes) if i != index])

    def heal(self) -> None:
        for a, b in sorted(self._cuts):
            _ip("route", "del", "blackhole", f"{self.host(b)}/32", netns=self.netns(a), check=False)
        self._cuts.clear()

    def _cut(self, a: int, b: int) -> None:
        if (a, b) not in self._cuts:
            _ip("route", "add", "blackhole", f"{self.host(b)}/32", netns=self.netns(a))
            self._cuts.add((a, b))

    def teardown(self) -> None:
        if not self._up:
            return
        for index in range(self.nodes):
            _ip("netns", "del", self.netns(index), check=False)  # also removes its veth pair
            _ip("link", "del", f"{self.tag}v{index}", check=False)  # unless setup failed midway
        _ip("link", "del", f"{self.tag}br", check=False)
        self._up = False

    def __enter__(self) -> NetworkLab:
        return self.setup()

    def __exit__(self, *exc: object) -> None:
        self.teardown()


def _routes_in_use() -> set[str]:
    try:
        lines = _ip("-4", "route", "show", check=False).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return set()
    return {line.split()[0] for line in lines if line.split()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
