"""A throw-away network for fault tests: each node in its own network namespace, all on one
bridge, so traffic between any two nodes can be cut (blackhole routes) while every node stays
reachable from the host that runs the clients.

Needs root (CAP_NET_ADMIN) and iproute2. `NetworkLab.available()` says whether this machine
can do it; callers fall back to faults that need no network control.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from dataclasses import dataclass, field

_ids = itertools.count()


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
            # Interface names are limited to 15 characters; pid + counter keep runs apart.
            self.tag = f"lt{os.getpid() % 100_000}{next(_ids)}"
        # A /24 per lab, derived from the tag, inside 10.0.0.0/8.
        number = abs(hash(self.tag)) % 65_000
        self._subnet = f"10.{100 + number // 256 % 150}.{number % 256}"

    @staticmethod
    def available() -> bool:
        probe = f"ltprobe{os.getpid() % 100_000}"
        try:
            _ip("netns", "add", probe)
        except (OSError, subprocess.SubprocessError):
            return False
        _ip("netns", "del", probe, check=False)
        return True

    def host(self, index: int) -> str:
        """The address node `index` binds to (HTTP and Raft)."""
        return f"{self._subnet}.{index + 1}"

    @property
    def gateway(self) -> str:
        return f"{self._subnet}.254"

    def netns(self, index: int) -> str:
        return f"{self.tag}n{index}"

    def command_prefix(self, index: int) -> list[str]:
        """Prepend to a command to run it inside node `index`'s namespace."""
        return ["ip", "netns", "exec", self.netns(index)]

    def setup(self) -> NetworkLab:
        bridge = f"{self.tag}br"
        _ip("link", "add", bridge, "type", "bridge")
        self._up = True
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
        return self

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
        _ip("link", "del", f"{self.tag}br", check=False)
        self._up = False

    def __enter__(self) -> NetworkLab:
        return self.setup()

    def __exit__(self, *exc: object) -> None:
        self.teardown()
