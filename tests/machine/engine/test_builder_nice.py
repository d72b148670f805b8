"""A builder's worker thread runs at the niceness the node gives it; other threads keep theirs."""

from __future__ import annotations

import os
import threading

from lithair_node.machine.engine.sealing import ThreadBuilder


def test_builds_run_at_the_builders_niceness() -> None:
    builder = ThreadBuilder()
    builder.nice = 7
    seen: list[int] = []

    def build():  # type: ignore[no-untyped-def]
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return None

    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    builder.submit(build).result()
    assert seen == [before + 7]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before
