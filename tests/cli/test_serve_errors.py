"""`lithair serve` explains a startup failure in one line instead of a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from lithair_node.lab.local_cluster import free_ports


def _serve_fails(raft_port: int, http_port: int,
                 data_dir: Path) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run `lithair serve`, expect exit code 1; the run and the last line it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "lithair_node", "serve", "--raft", f"127.0.0.1:{raft_port}",
         "--http", f"127.0.0.1:{http_port}", "--raft-password", "test-password",
         "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1, done.stderr
    return done, done.stderr.strip().splitlines()[-1]


def test_a_taken_raft_port_is_one_clear_line(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        raft_port = taken.getsockname()[1]
        done, last_line = _serve_fails(raft_port, free_ports(1)[0], tmp_path)
    assert last_line.startswith(f"Error: cannot bind the Raft port 127.0.0.1:{raft_port} "), \
        done.stderr


def test_a_force_voters_file_without_this_node_is_one_clear_line(tmp_path: Path) -> None:
    raft_port, http_port = free_ports(2)
    (tmp_path / "journal").mkdir()  # `members force` wants a node's data dir
    forced = subprocess.run(
        [sys.executable, "-m", "lithair_node", "members", "force", "--data-dir", str(tmp_path),
         "--voters", "127.0.0.1:1,127.0.0.1:2"], capture_output=True, text=True, timeout=60)
    assert forced.returncode == 0, forced.stderr
    done, last_line = _serve_fails(raft_port, http_port, tmp_path)
    assert "does not list this node" in last_line and last_line.startswith("Error: "), done.stderr


def test_members_force_refuses_a_dir_that_is_not_a_node_s(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lithair_node", "members", "force", "--data-dir", str(tmp_path),
         "--voters", "127.0.0.1:1"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "not a node's data dir" in done.stderr
    assert not (tmp_path / "force-voters").exists()
