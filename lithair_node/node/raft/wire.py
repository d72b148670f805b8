"""The wire format of the Raft port, installed into PySyncObj by install_wire_format().

PySyncObj frames every message as zlib.compress(pickle.dumps(message, protocol=2), 3),
then Fernet-encrypts it. Measured on a 2-core box, zlib took 36-40% of a loaded leader and
Fernet (base64, CBC+HMAC, every token parsed twice) most of the rest of the transport cost;
protocol 2 pickles `bytes` as latin-1 text re-encoded to UTF-8 (+35-54% per pickling
level, and entries are pickled twice: command, then message). We replace, for every
SyncObj in this process:
- zlib by an identity codec: entries are dense binary columns and loopback/LAN links are
  not the bottleneck; compression bought nothing but CPU;
- Fernet by AES-GCM (authenticated encryption, AES-NI): token = version byte, 8-byte
  timestamp (authenticated as associated data), 96-bit random nonce, ciphertext + tag.
  The key is derived from the Raft password with PBKDF2 (a salt of our own, so a node
  speaking PySyncObj's stock Fernet format cannot talk to ours: it fails to decrypt and is
  disconnected, never half-understood). The password stays mandatory (config.py);
- pickle protocol 2 by 5 (bytes are copied as is). Any Python 3.8+ reads both, so old
  journals still load.
These are PySyncObj 0.3.17 internals: tests/node/raft/test_replication_internals.py fails
loudly when they move, and every node of a cluster must run this code (same wire format).

Importing this module changes nothing: the replacement is process-wide, so it is an
explicit step of starting a node (RaftNode.start), not a side effect of an import.
"""

from __future__ import annotations

import os
import struct

import pysyncobj.pickle
import pysyncobj.syncobj
import pysyncobj.tcp_connection
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

WIRE_VERSION = 1
_WIRE_HEADER = struct.Struct(">BQ")  # version, timestamp
_NONCE_BYTES = 12
_KDF_SALT = b"lithair-node/raft-wire/aes-gcm/v1"
PICKLE_PROTOCOL = 5


class IdentityCodec:
    """Stands in for the `zlib` module inside pysyncobj.tcp_connection."""

    @staticmethod
    def compress(data: bytes, level: int = -1) -> bytes:
        return data

    @staticmethod
    def decompress(data: bytes) -> bytes:
        return data


class AesGcmEncryptor:
    """The part of Fernet's interface PySyncObj uses: encrypt_at_time, extract_timestamp,
    decrypt. PySyncObj calls extract_timestamp(token) then decrypt(token) on the same token:
    the first call authenticates and decrypts, the second returns the cached plaintext, so
    each message is decrypted once and nothing unauthenticated is ever returned."""

    def __init__(self, password: str | bytes) -> None:
        secret = password.encode() if isinstance(password, str) else bytes(password)
        kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=_KDF_SALT, iterations=200_000)
        self._aead = AESGCM(kdf.derive(secret))
        self._last: tuple[bytes, bytes] | None = None

    def encrypt_at_time(self, data: bytes, current_time: int) -> bytes:
        header = _WIRE_HEADER.pack(WIRE_VERSION, current_time)
        nonce = os.urandom(_NONCE_BYTES)
        return b"".join((header, nonce, self._aead.encrypt(nonce, data, header)))

    def _open(self, token: bytes) -> bytes:
        head = _WIRE_HEADER.size
        if len(token) < head + _NONCE_BYTES + 16 or token[0] != WIRE_VERSION:
            raise InvalidTag("not a Lithair wire token (version or length)")
        nonce = token[head:head + _NONCE_BYTES]
        return self._aead.decrypt(nonce, memoryview(token)[head + _NONCE_BYTES:], token[:head])

    def extract_timestamp(self, token: bytes) -> int:
        plain = self._open(token)
        self._last = (token, plain)
        return int(_WIRE_HEADER.unpack_from(token)[1])

    def decrypt(self, token: bytes) -> bytes:
        last, self._last = self._last, None
        if last is not None and last[0] is token:
            return last[1]
        return self._open(token)


def install_wire_format() -> None:
    """Make every SyncObj of this process created from now on speak our wire format.
    Idempotent: it only assigns the same three module attributes each time."""
    pysyncobj.tcp_connection.zlib = IdentityCodec  # type: ignore[assignment]
    pysyncobj.syncobj.getEncryptor = AesGcmEncryptor  # type: ignore[assignment]
    setattr(pysyncobj.pickle, "__protocol", PICKLE_PROTOCOL)  # a module-level "private" name
