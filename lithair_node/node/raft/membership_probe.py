"""Prove that a would-be member answers on its Raft port with our password, before it votes.

PySyncObj 0.3.17 has no learners (non-voting members): a node added through the log is a
voter at once, counted in every majority from the moment the entry is appended. The probe
is the equivalent we can offer: the leader opens the newcomer's Raft port and completes
the handshake every PySyncObj connection starts with. The dialing side sends a random key
(encrypted with our wire format, i.e. AES-GCM keyed by the Raft password); the accepting
side decrypts it and answers with `(that key, a key of its own)`, encrypted the same way.
A correctly encrypted answer that echoes our key proves the newcomer runs our wire format
with the same password. Nothing is proposed, and the probe connection is then closed (the
newcomer drops connections that never name a node).
"""

from __future__ import annotations

import enum
import io
import os
import pickle
import socket
import struct
import time
from typing import Any

from lithair_node.node.raft.wire import AesGcmEncryptor

_LENGTH = struct.Struct("i")  # PySyncObj's frame header: native int length
_KEY_BYTES = 32
MAX_ANSWER_BYTES = 4096


class ProbeOutcome(enum.Enum):
    OK = "answered with the Raft password"
    UNREACHABLE = "nothing accepts connections on its Raft port"
    WRONG_PASSWORD = ("its Raft port closed the connection or answered something that does "
                      "not decrypt with our password: wrong Raft password, or not a Lithair node")


class _NoGlobals(pickle.Unpickler):
    """The answer is a tuple of bytes: refuse anything that would import or call."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"unexpected global {module}.{name} in a probe answer")


def _frame(encryptor: AesGcmEncryptor, message: Any) -> bytes:
    # Our wire format: no zlib (identity codec), pickle, AES-GCM with a timestamp.
    token = encryptor.encrypt_at_time(pickle.dumps(message, protocol=5), int(time.monotonic()))
    return _LENGTH.pack(len(token)) + token


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < count:
        chunk = sock.recv(count - len(chunks))
        if not chunk:
            raise ConnectionError("closed before the answer was complete")
        chunks += chunk
    return bytes(chunks)


def probe_raft_peer(host: str, port: int, password: str, timeout_s: float,
                    encryptor: AesGcmEncryptor | None = None) -> ProbeOutcome:
    """Blocking: connect to host:port and complete PySyncObj's encrypted key exchange."""
    encryptor = encryptor or AesGcmEncryptor(password)
    our_key = os.urandom(_KEY_BYTES)
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except OSError:
        return ProbeOutcome.UNREACHABLE
    with sock:
        try:
            sock.settimeout(timeout_s)
            sock.sendall(_frame(encryptor, our_key))
            (length,) = _LENGTH.unpack(_read_exactly(sock, _LENGTH.size))
            if not 0 < length <= MAX_ANSWER_BYTES:
                return ProbeOutcome.WRONG_PASSWORD
            token = _read_exactly(sock, length)
            encryptor.extract_timestamp(token)  # authenticates (raises InvalidTag)
            answer = _NoGlobals(io.BytesIO(encryptor.decrypt(token))).load()
        except Exception:  # a reset, a timeout, a tag that fails, garbage: not our peer
            return ProbeOutcome.WRONG_PASSWORD
    echoed = isinstance(answer, tuple) and len(answer) == 2 and answer[0] == our_key
    return ProbeOutcome.OK if echoed else ProbeOutcome.WRONG_PASSWORD
