"""Decoding OTLP ``KeyValue`` lists into plain dicts, once per span.

Hot path: every span the processor receives goes through ``decode_attributes``
exactly once; the dialect readers then only do dict lookups. Guarded by
``tests/processor/test_dialect_speed.py`` (decode + normalize of a typical GenAI
span must stay well under the 20 µs a 50k spans/s/core budget allows).

``WhichOneof`` plus one ``getattr`` is the fastest way through the protobuf
``AnyValue`` oneof with the upb backend (faster than ``HasField`` probing or
``ListFields``); arrays and key-value lists are decoded recursively, which the
protobuf parser has already bounded in depth (100 levels).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

_ARRAY = "array_value"
_KVLIST = "kvlist_value"


def decode_value(value: Any) -> object:
    """One OTLP ``AnyValue`` as a Python value: str, bool, int, float, bytes, list, dict, or None (unset)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == _ARRAY:
        return [decode_value(v) for v in value.array_value.values]
    if kind == _KVLIST:
        return {kv.key: decode_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def decode_attributes(key_values: Iterable[Any]) -> dict[str, object]:
    """An OTLP ``repeated KeyValue`` (span, resource or scope attributes) as a dict; a repeated key keeps its last value."""
    out: dict[str, object] = {}
    for kv in key_values:
        value = kv.value
        kind = value.WhichOneof("value")
        if kind is None:
            out[kv.key] = None
        elif kind == _ARRAY:
            out[kv.key] = [decode_value(v) for v in value.array_value.values]
        elif kind == _KVLIST:
            out[kv.key] = {item.key: decode_value(item.value) for item in value.kvlist_value.values}
        else:
            out[kv.key] = getattr(value, kind)
    return out
