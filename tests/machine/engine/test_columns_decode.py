import numpy as np
import pytest

from lithair_node.machine import commands
from lithair_node.machine.engine.columns_decode import decode_columns

_TS = np.asarray([1, 2], dtype="<i8").tobytes()
_GOOD = [["a"], np.asarray([2], dtype="<u4").tobytes(), [None], _TS, ["x"],
         np.asarray([1.0, 2.0]).tobytes(), 0]


def _with(position, value):
    bad = list(_GOOD)
    bad[position] = value
    return bad


@pytest.mark.parametrize("obj", [
    _GOOD, _with(0, ["a", 1]), _with(0, [""]), _with(0, "a"), _with(2, [3]), _with(2, ["room"]),
    _with(4, [b"x"]), _with(4, "x"), _with(6, -1), _with(6, 1.0), _with(1, b"\x01"),
    _with(3, np.asarray([2, 1], dtype="<i8").tobytes()), _with(5, b"\x00" * 8),
    _with(5, np.asarray([1.0, np.inf]).tobytes()), _with(0, ["a", "a"]), [1, 2], "x",
])
def test_accepts_and_refuses_exactly_what_commands_decode_columns_does(obj):
    try:
        expected = commands.decode_columns(obj)
    except ValueError as exc:
        with pytest.raises(ValueError, match="^" + str(exc).replace("(", r"\(") + "$"):
            decode_columns(obj)
        return
    got = decode_columns(obj)
    assert got.sensors == expected.sensors and got.metrics == expected.metrics
    assert (got.ts == expected.ts).all() and np.array_equal(got.values, expected.values)
