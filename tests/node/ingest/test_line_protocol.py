"""The line-protocol parser: every syntax feature, InfluxDB's rejections, and a round trip
of points serialised by the official influxdb-client."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from influxdb_client import Point as InfluxPoint
from influxdb_client import WritePrecision

from lithair_node.node.errors import TooManyReadings
from lithair_node.node.ingest.line_protocol import LineProtocolError, Point, parse_body, precision_ns
from lithair_node.node.ingest.line_protocol_readings import LineProtocolMapping, line_protocol_batch
from lithair_node.node.ingest.line_protocol_scan import ExactLine
from lithair_node.node.ingest.validation import Limits

RECEIVED_NS = 1_700_000_000_123_456_789


def parse(body: str | bytes, unit_ns: int = 1, max_points: int = 10_000) -> list[Point]:
    return parse_body(body, unit_ns=unit_ns, received_ns=RECEIVED_NS, max_points=max_points).points()


def only(line: str) -> Point:
    (point,) = parse(line)
    return point


# -- syntax ------------------------------------------------------------------------------


def test_a_full_line() -> None:
    point = only('weather,sensor_id=m1,location=lab t=21.5,n=3i,u=4u,b=true,s="hi" 1700000000000000000')
    assert point == Point(1, "weather", {"sensor_id": "m1", "location": "lab"},
                          {"t": 21.5, "n": 3, "u": 4, "b": True, "s": "hi"}, 1_700_000_000_000_000_000)


@pytest.mark.parametrize(("line", "measurement", "tags", "field"), [
    (r"cpu\,main\ 1,host=a v=1", "cpu,main 1", {"host": "a"}, "v"),
    (r"cpu=load v=1", "cpu=load", {}, "v"),  # `=` needs no escape in a measurement
    (r"cpu\=load v=1", r"cpu\=load", {}, "v"),  # ... so its backslash is literal
    (r"cpu,region\,zone\ x\=y=e\,w\ s\=t v=1", "cpu", {"region,zone x=y": "e,w s=t"}, "v"),
    (r"cpu,path=C:\Temp v=1", "cpu", {"path": r"C:\Temp"}, "v"),  # backslash before a plain char
    (r"cpu,path=a\\b v=1", "cpu", {"path": "a\\b"}, "v"),  # two backslashes are one
    (r"cpu f\,k\ x\=y=1", "cpu", {}, "f,k x=y"),
    (r'cpu,t="q" v=1', "cpu", {"t": '"q"'}, "v"),  # quotes are literal outside field values
])
def test_escapes_in_names(line: str, measurement: str, tags: dict[str, str], field: str) -> None:
    point = only(line)
    assert (point.measurement, point.tags, list(point.fields)) == (measurement, tags, [field])


@pytest.mark.parametrize(("text", "value"), [
    (r'"a\"b"', 'a"b'), (r'"a\\b"', "a\\b"), (r'"a\nb"', r"a\nb"), (r'"a,b=c d"', "a,b=c d"),
    ('""', ""), (r'"ends\\"', "ends\\"),
])
def test_string_field_escapes(text: str, value: str) -> None:
    assert only(f"m s={text},v=1 5").fields == {"s": value, "v": 1.0}


@pytest.mark.parametrize(("text", "value"), [
    ("1", 1.0), ("-1.5", -1.5), (".5", 0.5), ("5.", 5.0), ("1e-3", 0.001), ("1E4", 1e4),
    ("-1.5e+3", -1500.0), ("007", 7.0), ("1.7976931348623157e308", 1.7976931348623157e308),
    ("12i", 12), ("-9223372036854775808i", -(2**63)), ("9223372036854775807i", 2**63 - 1),
    ("0u", 0), ("18446744073709551615u", 2**64 - 1),
    *[(word, True) for word in ("t", "T", "true", "True", "TRUE")],
    *[(word, False) for word in ("f", "F", "false", "False", "FALSE")],
])
def test_field_values(text: str, value: object) -> None:
    parsed = only(f"m v={text}").fields["v"]
    assert parsed == value and type(parsed) is type(value)


def test_comments_blank_lines_leading_blanks_and_crlf() -> None:
    body = "# a comment\n\n   \nm v=1 1\r\n  m v=2 2\n\t# indented comment\nm v=3 3\n"
    assert [(p.line, p.fields["v"], p.timestamp_ns) for p in parse(body)] == [
        (4, 1.0, 1), (5, 2.0, 2), (7, 3.0, 3)]


def test_a_line_without_timestamp_gets_the_receive_time() -> None:
    points = parse("m v=1\nm v=2 7\nm v=3")
    assert [p.timestamp_ns for p in points] == [RECEIVED_NS, 7, RECEIVED_NS]


def test_runs_of_spaces_between_sections() -> None:
    assert only("m,t=a    v=1     7   ") == Point(1, "m", {"t": "a"}, {"v": 1.0}, 7)


@pytest.mark.parametrize(("name", "v1", "unit"), [
    (None, False, 1), ("ns", False, 1), ("us", False, 1_000), ("ms", False, 10**6), ("s", False, 10**9),
    ("n", True, 1), ("u", True, 1_000), ("ms", True, 10**6), ("s", True, 10**9),
    ("m", True, 60 * 10**9), ("h", True, 3600 * 10**9),
])
def test_precisions(name: str | None, v1: bool, unit: int) -> None:
    assert precision_ns(name, v1=v1) == unit
    assert parse("m v=1 3", unit_ns=unit)[0].timestamp_ns == 3 * unit


@pytest.mark.parametrize(("name", "v1"), [("h", False), ("n", False), ("ns", True), ("x", True)])
def test_unknown_precisions_are_refused(name: str, v1: bool) -> None:
    with pytest.raises(LineProtocolError, match="invalid precision"):
        precision_ns(name, v1=v1)


def test_a_repeated_field_keeps_its_last_value() -> None:
    assert only("m v=1,v=2").fields == {"v": 2.0}


def test_several_shapes_and_the_exact_path_give_points_in_line_order() -> None:
    body = "a,h=x v=1 1\nb,h=y w=2i 2\na,h=x v=3 3\nc,h=z v=4,w=5 4\n"
    expected = [Point(1, "a", {"h": "x"}, {"v": 1.0}, 1), Point(2, "b", {"h": "y"}, {"w": 2}, 2),
                Point(3, "a", {"h": "x"}, {"v": 3.0}, 3), Point(4, "c", {"h": "z"}, {"v": 4.0, "w": 5.0}, 4)]
    assert parse(body) == expected
    # A quote anywhere sends every line through the exact scanner: same points.
    assert parse(body + 'a,h="x" v=9 9\n')[:4] == expected


def test_too_many_points() -> None:
    with pytest.raises(TooManyReadings):
        parse("m v=1\n" * 3, max_points=2)


def test_invalid_utf8_names_its_line() -> None:
    with pytest.raises(LineProtocolError, match="line 2: invalid UTF-8"):
        parse(b"m v=1\nm,t=\xff v=1\n")


@pytest.mark.parametrize("body", ["", "\n\n", "# only a comment\n"])
def test_a_body_without_points_is_refused(body: str) -> None:
    with pytest.raises(LineProtocolError, match="writing requires points"):
        parse(body)


# -- what InfluxDB refuses (models/points_test.go) ----------------------------------------


@pytest.mark.parametrize(("line", "reason"), [
    ("cpu", "missing fields"), ("cpu,host=serverA,region=us-west", "missing fields"),
    ("cpu ", "missing fields"), ("cpu,host==", "missing tag value"),
    ("cpu,", "missing tag key"), ("cpu, value=1", "missing tag key"), ("cpu,,, v=1", "missing tag key"),
    ("cpu,host=serverA,=us-east value=1i", "missing tag key"), ("cpu, =serverA value=1i", "missing tag key"),
    ("cpu,host", "missing tag value"), ("cpu,host=", "missing tag value"),
    ("cpu,host value=1i", "missing tag value"), ("cpu,host=serverA,region= value=1i", "missing tag value"),
    ("cpu,host=f=o, v=1", "invalid tag format"), (r"cpu,host=f\==o, v=1", "invalid tag format"),
    ("cpu,host=serverA,host=serverB value=1i 1000000000", "duplicate tags"),
    ("cpu,b=2,c=3,b=1 value=1i", "duplicate tags"),
    ("cpu =", "missing field key"), ("cpu =123i", "missing field key"),
    ("cpu value=123i,=456i", "missing field key"),
    ("cpu value=", "missing field value"), ("cpu value= 1000000000i", "missing field value"),
    ("cpu value=,value2=1i", "missing field value"), ("cpu value=1i,b", "missing field value"),
    ("cpu,host=server01 1434055562000000000i", "missing field value"),
    ('m f="blah"=123,r 1531703600000000000', "invalid field format"),
    ('cpu value="test', "unbalanced quotes"), ('cpu value="test""', "invalid field format"),
    ("cpu v=-", "invalid number"), ("cpu v=-i", "invalid number"), ("cpu v=-.", "invalid number"),
    ("cpu v=.", "invalid number"), ("cpu v=1.0i", "invalid number"), ("cpu v=1ii", "invalid number"),
    ("cpu v=1a", "invalid number"), ("cpu v=-e-e-e", "invalid number"), ("cpu v=42+3", "invalid number"),
    ("cpu v=-123u", "invalid number"), ("cpu v=--1u", "invalid number"), ("cpu v=0.-1", "invalid number"),
    ("cpu v=1.1.1", "invalid number"), ("cpu v=9ie10", "invalid number"), ("cpu v=9e10i", "invalid number"),
    ("cpu v=.1a", "invalid number"), ("cpu v=+1", "invalid number"), ("cpu v=1_000", "invalid number"),
    ("cpu v=\u0661", "invalid number"),  # a non-ASCII digit
    ("cpu v=a", "invalid boolean"), ("cpu v=nan", "invalid boolean"), ("cpu v=inf", "invalid boolean"),
    ("cpu v=tRuE", "invalid boolean"),
    ("cpu v=9223372036854775808i", "unable to parse integer"),
    ("cpu v=-9223372036854775809i", "unable to parse integer"),
    ("cpu v=18446744073709551616u", "unable to parse unsigned"), ("cpu v=1e309", "unable to parse float"),
    ("cpu v=1 12a", "bad timestamp"), ("a v=1 0\\", "bad timestamp"), ("cpu v=1 1 2", "bad timestamp"),
    ("cpu v=1 9223372036854775808", "bad timestamp 9223372036854775808: beyond the int64 range"),
])
def test_refused_like_influxdb(line: str, reason: str) -> None:
    for body in (line, f"ok v=1 1\n{line}\nok v=2 2"):  # alone, and among good lines
        number = 1 if body == line else 2
        with pytest.raises(LineProtocolError) as refused:
            parse(body)
        assert refused.value.status == 400
        assert refused.value.line == number
        assert refused.value.message.startswith(f"line {number}: {reason}"), refused.value.message


# -- round trip through the official client -----------------------------------------------

_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,20}", fullmatch=True).filter(
    lambda name: name not in {"sensor_id", "timestamp", "location", "values"})
# Printable text without backslashes: the client does not escape them, so a trailing one
# would escape the separator after it (in InfluxDB too).
_texts = st.text(st.characters(codec="utf-8", exclude_characters="\\"), min_size=1, max_size=30).filter(
    lambda text: text.isprintable() and not text.isspace())
_measurements = _texts.filter(lambda text: not text.startswith("#"))  # that line is a comment
_values = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**63), 2**63 - 1),
                    st.booleans())


@settings(max_examples=150, deadline=None)
@given(measurement=_measurements, sensor=_texts, location=st.none() | _texts,
       fields=st.dictionaries(_names, _values, min_size=1, max_size=6),
       stamp_us=st.integers(0, 2**63 // 1000 - 1), sub_us=st.integers(0, 999))
def test_points_written_by_influxdb_client_parse_back(measurement: str, sensor: str, location: str | None,
                                                      fields: dict[str, float | int | bool],
                                                      stamp_us: int, sub_us: int) -> None:
    point = InfluxPoint(measurement).tag("sensor_id", sensor)
    if location is not None:
        point = point.tag("location", location)
    for name, value in fields.items():
        point = point.field(name, value)
    line = point.time(stamp_us * 1000 + sub_us, WritePrecision.NS).to_line_protocol()
    columns, received = line_protocol_batch(line, unit_ns=1, received_ns=0, mapping=LineProtocolMapping(),
                                            limits=Limits())
    assert received == 1
    assert (columns.sensors, columns.locations, columns.ts.tolist()) == ([sensor], [location], [stamp_us])
    assert dict(zip(columns.metrics, columns.values[:, 0].tolist(), strict=True)) == {
        name: float(value) for name, value in fields.items()}


# -- the fast path agrees with the exact scanner ---------------------------------------------

_value_texts = st.sampled_from(["1", "-2.5", ".5", "1e3", "7i", "-7i", "8u", "t", "FALSE", "x", "1.0i",
                                "", "nan", "+1", "1=2"])
_plain_lines = st.builds(
    lambda measurement, tags, fields, stamp: f"{measurement}{tags} {fields}{stamp}",
    st.sampled_from(["m", "cpu", "m=1"]),
    st.sampled_from(["", ",host=a", ",host=b,location=l", ",host=", ",host=a,host=b"]),
    st.lists(st.tuples(st.sampled_from(["v", "w", "ok"]), _value_texts), min_size=1, max_size=3).map(
        lambda pairs: ",".join(f"{name}={value}" for name, value in pairs)),
    st.sampled_from(["", " 5", " 1700000000000000000", " -3", " 9223372036854775808", " x"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(_plain_lines, min_size=1, max_size=8), st.booleans())
def test_the_fast_path_agrees_with_the_exact_scanner(lines: list[str], trailing_newline: bool) -> None:
    body = "\n".join(lines) + ("\n" if trailing_newline else "")
    expected: list[Point] = []
    try:
        for number, line in enumerate(lines, 1):
            point = ExactLine(line, number).point(1, RECEIVED_NS)
            assert point is not None
            expected.append(point)
    except LineProtocolError:
        with pytest.raises(LineProtocolError):
            parse(body)
        return
    assert parse(body) == expected
