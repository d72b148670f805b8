"""write_durably under a power cut at every step: the old content or the new, never a torn or
empty file (the Raft password came back empty in the power-cut run of issue 12)."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from typing import Any

from lithair_node.node.raft.journal import PowerLost, SimulatedDisk, write_durably

PATH = "/data/raft-password"


class PowerCutAtCall:
    """A FileIO that cuts the power just before its n-th call."""

    def __init__(self, disk: SimulatedDisk, cut_before: int) -> None:
        self._disk = disk
        self._calls = itertools.count()
        self._cut_before = cut_before

    def __getattr__(self, name: str) -> Callable[..., Any]:
        operation = getattr(self._disk, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            if next(self._calls) == self._cut_before:
                self._disk.power_cut()
            return operation(*args, **kwargs)

        return call


def _disk_holding(content: bytes) -> SimulatedDisk:
    disk = SimulatedDisk()
    disk.make_dirs("/data")
    write_durably(PATH, content, disk)
    return disk


def test_a_power_cut_at_any_step_leaves_the_old_or_the_new_content() -> None:
    outcomes = set()
    for step in range(12):
        disk = _disk_holding(b"old secret")
        with contextlib.suppress(PowerLost):
            write_durably(PATH, b"new secret", PowerCutAtCall(disk, step))
        disk.power_cut()
        disk.restore_power()
        outcomes.add(disk.read_file(PATH))
    assert outcomes == {b"old secret", b"new secret"}


def test_once_it_returned_the_new_content_survives() -> None:
    disk = _disk_holding(b"old secret")
    write_durably(PATH, b"new secret", disk)
    disk.power_cut()
    disk.restore_power()
    assert disk.read_file(PATH) == b"new secret"


def test_the_simulated_disk_loses_what_a_plain_write_never_synced() -> None:
    """The failure write_durably prevents, on the same simulated disk."""
    disk = _disk_holding(b"old secret")
    fd = disk.open("/data/token", truncate=True)
    disk.write(fd, [b"written, never synced"])
    disk.close(fd)
    disk.rename(PATH, PATH + ".renamed")  # a rename whose directory was never synced
    disk.power_cut()
    disk.restore_power()
    assert not disk.exists("/data/token")
    assert disk.read_file(PATH) == b"old secret" and not disk.exists(PATH + ".renamed")
