"""runlog._upload._otlp_proto: runlog values as OTLP AnyValue / KeyValue."""

from __future__ import annotations

import json

from runlog._upload._otlp_proto import INT64, SCOPE, any_value, key_value


def test_each_python_type_becomes_its_any_value_field() -> None:
    assert any_value(None).WhichOneof("value") is None
    assert any_value(True).bool_value is True and any_value(True).WhichOneof("value") == "bool_value"
    assert any_value(-3).int_value == -3
    assert any_value(0.25).double_value == 0.25
    assert any_value("é").string_value == "é"
    assert any_value(b"\x00\x01").bytes_value == b"\x00\x01"
    array = any_value([1, "a", [2.5]]).array_value.values
    assert [v.WhichOneof("value") for v in array] == ["int_value", "string_value", "array_value"]
    assert array[2].array_value.values[0].double_value == 2.5


def test_what_has_no_field_is_a_string() -> None:
    """An int beyond int64 keeps all its digits as a string; a dict is JSON (non-ASCII kept, odd values as repr)."""
    assert any_value(INT64[1]).int_value == INT64[1]
    assert any_value(INT64[1] + 1).string_value == str(INT64[1] + 1)
    assert any_value(INT64[0] - 1).string_value == str(INT64[0] - 1)
    assert json.loads(any_value({"a": "ü", "b": [1]}).string_value) == {"a": "ü", "b": [1]}
    assert "ü" in any_value({"a": "ü"}).string_value
    assert any_value({"s": {1, 2}}).string_value == json.dumps({"s": repr({1, 2})})


def test_key_value_and_the_scope_name() -> None:
    kv = key_value("runlog.seq", 7)
    assert (kv.key, kv.value.int_value) == ("runlog.seq", 7)
    assert SCOPE == "runlog"
