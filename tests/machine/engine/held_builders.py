"""Builders for the sealing tests (engine/sealing.py's Builder): builds that finish at once,
stay pending until released, run in a real thread behind a gate, or fail."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future

from lithair_node.machine.engine.sealing import Job, ThreadBuilder
from lithair_node.machine.engine.segment import Segment


class Immediate:
    """The build runs inside submit: done before apply returns."""

    def submit(self, build: Callable[[], Segment]) -> Job:
        future: Future[Segment] = Future()
        future.set_result(build())
        return future


class _HeldJob:
    def __init__(self, build: Callable[[], Segment]) -> None:
        self._build = build
        self._built: Segment | None = None

    def done(self) -> bool:
        return self._built is not None

    def run(self) -> None:
        if self._built is None:
            self._built = self._build()

    def result(self) -> Segment:
        self.run()  # what a wait for an unfinished build gives: the build, now
        assert self._built is not None
        return self._built


class Held:
    """Builds stay pending (done() False) until released, or until a swap point or a
    snapshot needs their result (which then runs the build, as a wait would)."""

    def __init__(self) -> None:
        self.jobs: list[_HeldJob] = []

    def submit(self, build: Callable[[], Segment]) -> Job:
        job = _HeldJob(build)
        self.jobs.append(job)
        return job

    def pending(self) -> int:
        return sum(not job.done() for job in self.jobs)

    def release(self) -> None:
        for job in self.jobs:
            job.run()


class Gated(ThreadBuilder):
    """The real worker thread, each build waiting for the test to open the gate."""

    def __init__(self, merges_only: bool = False) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.merges_only = merges_only  # seals built at once, merges (merging.py) gated

    def submit(self, build: Callable[[], Segment]) -> Job:
        if self.merges_only and "PendingMerge" not in build.__qualname__:
            return super().submit(build)

        def gated() -> Segment:
            self.gate.wait()
            return build()

        return super().submit(gated)


class _Failed:
    def done(self) -> bool:
        return True

    def result(self) -> Segment:
        raise RuntimeError("the builder crashed")


class Failing:
    """Every build fails (the swap point builds synchronously)."""

    def submit(self, build: Callable[[], Segment]) -> Job:
        return _Failed()


class Refusing:
    """submit itself raises (no worker could start)."""

    def submit(self, build: Callable[[], Segment]) -> Job:
        raise RuntimeError("can't start new thread")
