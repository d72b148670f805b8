"""What the benchmarks read about processes from /proc: CPU seconds, resident memory, and
the machine they ran on."""

from __future__ import annotations

import os
import platform
import socket
import time
from pathlib import Path
from typing import Any

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its threads."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / _TICK


def rss_parts_mb(pid: int) -> dict[str, float]:
    """Resident memory split into anonymous (heap, arrays) and file-backed pages (here: the
    mmap'd Raft journal, which the kernel can drop and re-read) and shared memory."""
    parts: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("RssAnon:", "RssFile:", "RssShmem:")):
                name, kib = line.split()[:2]
                parts[name[3:-1].lower()] = round(int(kib) / 1024, 1)
    except OSError:
        pass
    return parts


def _status_mb(pid: int, key: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return float("nan")


def rss_mb(pid: int) -> float:
    return _status_mb(pid, "VmRSS:")


def peak_rss_mb(pid: int) -> float:
    """The highest resident memory the process has had (the kernel's high-water mark), so a
    peak between two samples is not missed."""
    return _status_mb(pid, "VmHWM:")


class CpuMeter:
    """CPU% of a set of processes between start() and stop()."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._t0 = 0.0
        self._c0: dict[str, float] = {}

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._c0 = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def stop(self) -> dict[str, dict[str, float]]:
        elapsed = time.monotonic() - self._t0
        return {
            name: {"cpu_pct": round(100 * (cpu_seconds(pid) - self._c0[name]) / elapsed, 1),
                   "rss_mb": rss_mb(pid)}
            for name, pid in self.pids.items()
        }


def machine_info() -> dict[str, Any]:
    try:
        model = next(line.split(":", 1)[1].strip()
                     for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor()
    return {
        "host": socket.gethostname(),
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }
