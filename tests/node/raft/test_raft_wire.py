"""The Raft port speaks only our authenticated, encrypted wire format (node/raft/wire.py)."""

from __future__ import annotations

import pickle
import socket
import struct
import zlib

import pytest
from cryptography.fernet import Fernet
from pysyncobj.encryptor import getEncryptor as stock_fernet

from lithair_node.lab.local_cluster import LocalCluster
from lithair_node.node.raft.wire import AesGcmEncryptor


def _exchange(cluster: LocalCluster, frame: bytes) -> bytes:
    """Send one framed message to node1's Raft port; return what comes back until the node
    answers one frame or closes the connection."""
    spec = cluster.specs[0]
    with socket.create_connection((spec.host, spec.raft_port), timeout=10) as sock:
        sock.sendall(frame)
        received = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return received  # closed by the node
            received += chunk
            if len(received) >= 4 and len(received) - 4 >= struct.unpack("i", received[:4])[0]:
                return received


def _frame(token: bytes) -> bytes:
    return struct.pack("i", len(token)) + token


@pytest.fixture(scope="module")
def password(cluster: LocalCluster) -> str:
    assert cluster.password_file is not None
    return cluster.password_file.read_text().strip()


def test_right_password_gets_an_answer(cluster: LocalCluster, password: str) -> None:
    ours = AesGcmEncryptor(password)
    my_key = b"k" * 32
    hello = ours.encrypt_at_time(pickle.dumps(my_key, protocol=5), 1)
    reply = _exchange(cluster, _frame(hello))
    assert reply, "the node closed a connection that used the right password"
    token = reply[4:]
    assert ours.extract_timestamp(token) >= 0
    echoed, node_key = pickle.loads(ours.decrypt(token))  # PySyncObj's key exchange
    assert echoed == my_key and len(node_key) == 32


@pytest.mark.parametrize("kind", ["plain", "wrong-password", "stock-fernet"])
def test_anything_else_is_dropped_unanswered(cluster: LocalCluster, password: str, kind: str) -> None:
    body = zlib.compress(pickle.dumps(["status"], protocol=2), 3)
    if kind == "plain":
        token = body
    elif kind == "wrong-password":
        token = AesGcmEncryptor(password + "x").encrypt_at_time(pickle.dumps(b"k" * 32), 1)
    else:  # what an unpatched PySyncObj with the right password would send
        fernet = stock_fernet(password)
        assert isinstance(fernet, Fernet)
        token = fernet.encrypt_at_time(body, 1)
    assert _exchange(cluster, _frame(token)) == b""
    assert cluster.status(0) is not None  # the node is still serving
