import numpy as np
import pytest

from lithair_node.machine.commands import decode_columns

_TS = np.asarray([1, 2], dtype="<i8").tobytes()
_GOOD = [["a"], np.asarray([2], dtype="<u4").tobytes(), [None], _TS, ["x"],
         np.asarray([1.0, 2.0]).tobytes(), 0]


def _with(position, value):
    bad = list(_GOOD)
    bad[position] = value
    return bad


def test_accepts_a_well_formed_batch():
    got = decode_columns(_GOOD)
    assert got.sensors == ["a"] and got.metrics == ["x"] and got.ts.tolist() == [1, 2]
    assert np.array_equal(got.values, [[1.0, 2.0]])
    assert decode_columns(_with(2, ["room"])).locations == ["room"]


@pytest.mark.parametrize("obj", [
    _with(0, ["a", 1]), _with(0, [""]), _with(0, "a"), _with(2, [3]),
    _with(4, [b"x"]), _with(4, "x"), _with(6, -1), _with(6, 1.0), _with(1, b"\x01"),
    _with(3, np.asarray([2, 1], dtype="<i8").tobytes()), _with(5, b"\x00" * 8),
    _with(5, np.asarray([1.0, np.inf]).tobytes()), _with(0, ["a", "a"]), [1, 2], "x",
])
def test_refuses_every_inconsistent_batch(obj):
    with pytest.raises(ValueError):
        decode_columns(obj)
