"""`lithair serve` explains a startup failure in one line instead of a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from lithair_node.lab.local_cluster import free_ports


def test_a_taken_raft_port_is_one_clear_line(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        raft_port = taken.getsockname()[1]
        http_port = free_ports(1)[0]
        done = subprocess.run(
            [sys.executable, "-m", "lithair_node", "serve", "--raft", f"127.0.0.1:{raft_port}",
             "--http", f"127.0.0.1:{http_port}", "--raft-password", "test-password",
             "--data-dir", str(tmp_path)],
            capture_output=True, text=True, timeout=60,
        )
    assert done.returncode == 1, done.stderr
    last_line = done.stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"Error: cannot bind the Raft port 127.0.0.1:{raft_port} "), \
        done.stderr
