from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from lithair_node.node.raft.journal import DurableJournal, PowerLost, SimulatedDisk

JOURNAL_DIR = "/data/journal"


class Machine:
    """One node's process and its simulated disk: journals open on it die with a power cut."""

    def __init__(self) -> None:
        self.disk = SimulatedDisk()
        self.disk.make_dirs("/data")
        self._running: list[DurableJournal] = []

    def open(self, **options: Any) -> DurableJournal:
        journal = DurableJournal(JOURNAL_DIR, io=self.disk, **options)
        self._running.append(journal)
        return journal

    def power_cut(self, torn_rng: random.Random | None = None) -> None:
        self.disk.power_cut(torn_rng)
        for journal in self._running:
            with contextlib.suppress(PowerLost):
                journal.close()  # only stops its writer thread: every I/O now fails
        self._running.clear()
        self.disk.restore_power()

    def shutdown(self) -> None:
        for journal in self._running:
            journal.close()
        self._running.clear()


@pytest.fixture
def machine() -> Iterator[Machine]:
    node = Machine()
    yield node
    node.shutdown()


def payload(index: int, term: int, size: int = 20) -> bytes:
    return f"{index}:{term}:".encode().ljust(size, b"x")


class HeldSync:
    """Wraps a FileIO: each fdatasync waits until the test releases it, so that a test can
    look at the journal while a sync is in progress (no sleeps)."""

    def __init__(self, inner: SimulatedDisk) -> None:
        self.inner = inner
        self.entered = threading.Semaphore(0)
        self._release = threading.Semaphore(0)

    def release(self, count: int = 1) -> None:
        for _ in range(count):
            self._release.release()

    def fdatasync(self, fd: int) -> None:
        self.entered.release()
        self._release.acquire()
        self.inner.fdatasync(fd)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
