"""The codec is used by several threads at once (the builder thread encodes segments and
decodes merge inputs while apply and queries decode blocks): each must get its own zstd
context, or frames come back corrupt."""

from __future__ import annotations

import threading

import numpy as np

from lithair_node.machine.engine import codec


def test_threads_encode_and_decode_at_once_without_corruption() -> None:
    rng = np.random.default_rng(7)
    columns = [np.round(rng.normal(20, 3, 20_000), 2) for _ in range(4)]
    frames = [codec.encode_floats(column) for column in columns]
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def decode_many(which: int) -> None:
        start.wait()
        try:
            for _ in range(60):
                scale, frame = frames[which]
                assert np.array_equal(codec.decode_floats(scale, frame, columns[which].size),
                                      columns[which])
                assert codec.encode_floats(columns[which]) == frames[which]
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=decode_many, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
