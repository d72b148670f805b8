"""Lossless column codecs of sealed segments (the shapes of Gorilla / Prometheus chunks and
InfluxDB TSM, built from numpy passes and zstd instead of bit-level Python):

- timestamps: delta-of-delta, zigzag, byte-shuffled, zstd (regular intervals -> zeros);
- floats: decimal scaling where it is exact (v == round(v * 10**d) / 10**d bit for bit, for
  every value of the block), then deltas of the integers, zigzag, shuffle, zstd; otherwise
  the raw float64 bytes shuffled and zstd-compressed.

A frame is (scale, bytes): scale -1 means raw float64, -2 an int64 timestamp frame.
"""

from __future__ import annotations

import threading

import numpy as np
import zstandard

ZSTD_LEVEL = 3
MAX_DECIMALS = 6
RAW = -1
TIMESTAMPS = -2
_EXACT_LIMIT = float(2**53)
_SAMPLE = 64



class _Codecs(threading.local):
    """One zstd (de)compressor per thread: python-zstandard's objects must not be used by
    two threads at once, and the builder thread decodes merge inputs and encodes segments
    while the apply thread's dedup and the query threads decode blocks (a shared
    decompressor reported "Data corruption detected", then segfaulted)."""

    def __init__(self) -> None:
        self.compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        self.decompressor = zstandard.ZstdDecompressor()


_codecs = _Codecs()


def _zigzag(x: np.ndarray) -> np.ndarray:
    return ((x << 1) ^ (x >> 63)).view(np.uint64)


def _unzigzag(z: np.ndarray) -> np.ndarray:
    return ((z >> np.uint64(1)).view(np.int64)) ^ -((z & np.uint64(1)).view(np.int64))


def _zstd(data: bytes) -> bytes:
    """zstd frame of `data`, held in exactly its own size. python-zstandard's compress()
    allocates ZSTD_compressBound(len(data)) and only shrinks the bytes' length, not its
    block: a 19-byte frame of a 32 KiB block kept 32,984 bytes of heap. Frames live as long
    as their segment, so the copy (of the compressed size) pays for itself at once."""
    return bytes(memoryview(_codecs.compressor.compress(data)))


def _shuffled(words: np.ndarray) -> bytes:
    """Byte i of every 8-byte word together: slowly varying words leave long zero runs."""
    return _zstd(np.ascontiguousarray(words.view(np.uint8).reshape(-1, 8).T).tobytes())


def _unshuffled(frame: bytes, n: int, hi: int | None = None, lo: int = 0) -> np.ndarray:
    """Words [lo, hi) of a frame of n: only those are transposed (a read of a few rows)."""
    planes = np.frombuffer(_codecs.decompressor.decompress(frame, max_output_size=8 * n), np.uint8)
    hi = n if hi is None else hi
    out = np.empty((hi - lo, 8), dtype=np.uint8)
    np.copyto(out.T, planes.reshape(8, n)[:, lo:hi])  # into the transposed view: ~2x a copy
    return out.view(np.uint64).reshape(hi - lo)


def encode_timestamps(ts: np.ndarray) -> bytes:
    deltas = np.diff(ts, prepend=np.int64(0))  # [ts0, d1, d2, ...]
    deltas[2:] = np.diff(deltas[1:])  # [ts0, d1, d2 - d1, ...]
    return _shuffled(_zigzag(deltas))


def decode_timestamps(frame: bytes, n: int, hi: int | None = None) -> np.ndarray:
    """The first `hi` (None: all n) timestamps of a frame."""
    deltas = _unzigzag(_unshuffled(frame, n, hi))
    if deltas.shape[0] > 2:
        deltas[1:] = np.cumsum(deltas[1:])
    return np.cumsum(deltas)


def _exact_at(values: np.ndarray, decimals: int) -> bool | None:
    """Whether `decimals` represent every value exactly; None when too large to try more."""
    factor = 10.0**decimals
    scaled = np.rint(values * factor) + 0.0  # as decoding sees it: -0.0 becomes 0.0
    if np.abs(scaled).max(initial=0.0) >= _EXACT_LIMIT:
        return None
    return bool(((scaled / factor).view(np.uint64) == values.view(np.uint64)).all())


_FACTORS = 10.0 ** np.arange(MAX_DECIMALS + 1)[:, None]


def _inexact_on_sample(values: np.ndarray) -> np.ndarray:
    """Per decimals 0..MAX_DECIMALS: the sample proves them inexact (not merely too large)."""
    sample = values[:_SAMPLE]
    scaled = np.rint(sample * _FACTORS) + 0.0
    fits = np.abs(scaled).max(axis=1) < _EXACT_LIMIT
    return fits & ((scaled / _FACTORS).view(np.uint64) != sample.view(np.uint64)).any(axis=1)


def decimal_scale(values: np.ndarray, hint: int = RAW) -> int:
    """`hint` if it represents every value exactly, else the fewest decimals d <=
    MAX_DECIMALS that do, or RAW (deterministic: it depends only on the values and hint)."""
    if hint >= 0 and _exact_at(values, hint):
        return hint
    # Decimals a sample is not exact at cannot be exact for the block (the answer is
    # unchanged): raw readings fail every try on the sample, in one pass for all of them.
    hopeless = _inexact_on_sample(values) if values.shape[0] > _SAMPLE else np.zeros(MAX_DECIMALS + 1, bool)
    for decimals in range(MAX_DECIMALS + 1):
        if hopeless[decimals]:
            continue
        exact = _exact_at(values, decimals)
        if exact is None:
            return RAW
        if exact:
            return decimals
    return RAW


def encode_floats(values: np.ndarray, hint: int = RAW) -> tuple[int, bytes]:
    decimals = decimal_scale(values, hint)
    if decimals == RAW:
        return RAW, _shuffled(values.view(np.uint64))
    integers = np.rint(values * 10.0**decimals).astype(np.int64)
    return decimals, _shuffled(_zigzag(np.diff(integers, prepend=np.int64(0))))


def decode_floats(scale: int, frame: bytes, n: int, lo: int = 0, hi: int | None = None) -> np.ndarray:
    """Values [lo, hi) of a frame of n (a scaled frame is a running sum: its prefix decoded)."""
    if scale == RAW:
        return _unshuffled(frame, n, hi, lo).view(np.float64)
    words = _unshuffled(frame, n, hi)
    return (np.cumsum(_unzigzag(words)).astype(np.float64) / 10.0**scale)[lo:]


# -- many blocks at once: byte for byte the frames of the per-block functions above, in a
# few large numpy passes and one zstd call (a segment build off the apply path then takes
# the GIL back a few dozen times, not thousands: see engine/sealing.py)


def _shuffled_rows(words: np.ndarray) -> list[bytes]:
    """The uncompressed _shuffled() planes of each row of a (blocks x n) uint64 array."""
    if not words.shape[0]:
        return []
    planes = np.ascontiguousarray(words.view(np.uint8).reshape(words.shape[0], -1, 8).transpose(0, 2, 1))
    flat = planes.reshape(words.shape[0], -1).tobytes()
    size = planes.shape[1] * planes.shape[2]
    return [flat[i * size : (i + 1) * size] for i in range(words.shape[0])]


def compress_many(pieces: list[bytes]) -> list[bytes]:
    """compress() of each piece, in one call (zstd's multi-frame API: the same frames)."""
    if not pieces:
        return []
    found = _codecs.compressor.multi_compress_to_buffer(pieces, threads=0)
    return [bytes(found[i]) for i in range(len(pieces))]


def timestamp_planes(blocks: np.ndarray) -> list[bytes]:
    """encode_timestamps' input to zstd for each row of (blocks x n) int64, not compressed."""
    deltas = np.diff(blocks, axis=1, prepend=np.zeros((blocks.shape[0], 1), np.int64))
    if blocks.shape[1] > 2:
        deltas[:, 2:] = np.diff(deltas[:, 1:], axis=1)
    return _shuffled_rows(_zigzag(deltas))


def fewest_decimals(blocks: np.ndarray) -> np.ndarray:
    """decimal_scale(row, RAW) of every row of a (blocks x n) float64 array (no NaN), in
    one pass per decimals still tried: the sample rules out most of them at once."""
    found = np.full(blocks.shape[0], RAW, dtype=np.int64)
    if not blocks.shape[0]:
        return found
    sample = blocks[:, :_SAMPLE]
    open_rows = np.ones(blocks.shape[0], dtype=bool)
    for decimals in range(MAX_DECIMALS + 1):
        factor = 10.0**decimals
        scaled = np.rint(sample * factor) + 0.0
        hopeless = (np.abs(scaled).max(axis=1) < _EXACT_LIMIT) & (
            (scaled / factor).view(np.uint64) != sample.view(np.uint64)).any(axis=1)
        if blocks.shape[1] <= _SAMPLE:
            hopeless[:] = False
        rows = np.flatnonzero(open_rows & ~hopeless)
        if not rows.shape[0]:
            continue
        mine = blocks[rows]
        scaled = np.rint(mine * factor) + 0.0
        large = np.abs(scaled).max(axis=1) >= _EXACT_LIMIT
        exact = ((scaled / factor).view(np.uint64) == mine.view(np.uint64)).all(axis=1)
        open_rows[rows[large | exact]] = False
        found[rows[exact & ~large]] = decimals
    return found


def chained_scale(block: np.ndarray, fewest: int, hint: int) -> int:
    """decimal_scale(block, hint), knowing fewest = decimal_scale(block, RAW). Only a hint
    above fewest can differ: one below it failed the search, and a search that ended RAW
    failed every decimals (or the values grew too large, and larger decimals are larger)."""
    if 0 <= fewest < hint:
        return hint if _exact_at(block, hint) else fewest
    return fewest


def float_planes(blocks: np.ndarray, scale: int) -> list[bytes]:
    """encode_floats' input to zstd for each row of (blocks x n) float64, all at `scale`."""
    if scale == RAW:
        return _shuffled_rows(blocks.view(np.uint64))
    integers = np.rint(blocks * 10.0**scale).astype(np.int64)
    first = np.zeros((blocks.shape[0], 1), np.int64)
    return _shuffled_rows(_zigzag(np.diff(integers, axis=1, prepend=first)))


def compress(data: bytes) -> bytes:
    return _zstd(data)


def decompress(frame: bytes, size: int) -> bytes:
    return _codecs.decompressor.decompress(frame, max_output_size=size)
