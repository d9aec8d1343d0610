"""JSON columns are read with orjson, and with the standard reader for what only it accepts."""

from store.engine import _json_loads


def test_json_columns_read_standard_json_and_the_nan_json_dumps_writes():
    assert _json_loads('{"a": [1, 2.5, null]}') == {"a": [1, 2.5, None]}
    got = _json_loads('{"x": NaN, "y": Infinity}')
    assert got["x"] != got["x"] and got["y"] == float("inf")
