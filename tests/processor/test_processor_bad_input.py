"""Bad input over OTLP/HTTP to a running collector: it stays up, answers a clear 4xx, counts nothing
from rejected data, and keeps the good spans of the same request."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from collector_proc import Collector, sample_values
from google.protobuf import json_format
from google.rpc import status_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from spans_pb import call_span, kv, request


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    tmp = tmp_path_factory.mktemp("bad")
    c = Collector(
        f"sqlite:///{tmp}/ledger.db",
        "--max-label-values", "50",
        log_path=tmp / "collector.log",
    ).start()  # fmt: skip
    yield c
    c.stop()


def post(c: Collector, body: bytes, ctype: str = "application/x-protobuf", **headers: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", c.ports["otlp_http"], timeout=30)
    try:
        conn.request("POST", "/v1/traces", body=body, headers={"Content-Type": ctype, **headers})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def calls_total(c: Collector) -> float:
    """Sum of llm_calls_total over its series (a quick line scan: the fuzz tests call it per example)."""
    text = c.scrape_text(openmetrics=False)
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("llm_calls_total{"))


def status_message(body: bytes) -> str:
    return str(status_pb2.Status.FromString(body).message)


def test_random_bytes_are_answered_400_with_a_message(collector: Collector) -> None:
    status, body = post(collector, os.urandom(256) + b"\xff\xff\xff\xff")
    assert status == 400
    assert "protobuf" in status_message(body)


def test_a_truncated_protobuf_is_answered_400(collector: Collector) -> None:
    whole = request(call_span(), call_span()).SerializeToString()
    status, _ = post(collector, whole[: len(whole) - 7])
    assert status == 400


def test_invalid_json_is_answered_400_with_a_json_status(collector: Collector) -> None:
    status, body = post(collector, b'{"resourceSpans": [', "application/json")
    assert status == 400
    assert "not valid JSON" in json.loads(body)["message"]


def test_json_nested_a_hundred_thousand_levels_deep_is_answered_400(collector: Collector) -> None:
    status, _ = post(collector, b"[" * 100_000 + b"]" * 100_000, "application/json")
    assert status == 400


def _field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field, encoded by hand (upb refuses to build what is too deep)."""
    tag, n, size = bytes([number << 3 | 2]), len(payload), b""
    while True:
        byte, n = n & 0x7F, n >> 7
        size += bytes([byte | (0x80 if n else 0)])
        if not n:
            return tag + size + payload


def test_protobuf_attributes_nested_too_deep_are_answered_400(collector: Collector) -> None:
    value = _field(1, b"bottom")  # AnyValue.string_value
    for _ in range(200):  # AnyValue.kvlist_value -> KeyValueList.values -> KeyValue{key, value}
        value = _field(6, _field(1, _field(1, b"k") + _field(2, value)))
    span = call_span().SerializeToString() + _field(9, _field(1, b"deep") + _field(2, value))
    body = _field(1, _field(2, _field(2, span)))  # request.resource_spans.scope_spans.spans
    status, _ = post(collector, body)
    assert status == 400


def test_a_gzip_bomb_is_answered_413_and_the_collector_stays_up(collector: Collector) -> None:
    z = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = b"\0" * (1024 * 1024)
    bomb = b"".join(z.compress(chunk) for _ in range(100)) + z.flush()  # 100 MiB inflated, ~450 KiB sent
    status, body = post(collector, bomb, **{"Content-Encoding": "gzip"})
    assert status == 413
    assert "inflates" in status_message(body)
    assert post(collector, request(call_span()).SerializeToString())[0] == 200


def test_gzip_compressed_protobuf_is_accepted(collector: Collector) -> None:
    body = gzip.compress(request(call_span()).SerializeToString())
    assert post(collector, body, **{"Content-Encoding": "gzip"})[0] == 200


def test_json_hex_ids_of_the_wrong_length_reject_that_span_and_keep_the_rest(collector: Collector) -> None:
    before = calls_total(collector)
    good, bad = call_span(), call_span()
    doc = json.loads(json_format.MessageToJson(request(good, bad)))
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[0]["traceId"], spans[0]["spanId"] = good.trace_id.hex(), good.span_id.hex()
    spans[1]["traceId"], spans[1]["spanId"] = "abcd" * 3, bad.span_id.hex()  # 6 bytes, not 16
    status, body = post(collector, json.dumps(doc).encode(), "application/json")
    assert status == 200
    partial = json.loads(body)["partialSuccess"]
    assert partial["rejectedSpans"] == "1"
    assert "trace id" in partial["errorMessage"]
    assert calls_total(collector) == before + 1


def test_json_hex_ids_are_read_as_hex_not_base64(collector: Collector, tmp_path: Path) -> None:
    span = call_span(team="hex-check")
    doc = json.loads(json_format.MessageToJson(request(span)))
    s = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    s["traceId"], s["spanId"] = span.trace_id.hex(), span.span_id.hex()
    assert post(collector, json.dumps(doc).encode(), "application/json")[0] == 200
    # The same span again as protobuf is the same (trace id, span id): a duplicate, not a second call.
    before = collector.scrape().get("llm_otel_processor_spans_duplicate_total", 0)
    assert post(collector, request(span).SerializeToString())[0] == 200
    assert collector.scrape()["llm_otel_processor_spans_duplicate_total"] == before + 1


def test_negative_and_absurd_token_counts_reject_those_spans_and_keep_the_good_one(collector: Collector) -> None:
    before = calls_total(collector)
    req = request(call_span(input_tokens=-5), call_span(output_tokens=10**15), call_span())
    status, body = post(collector, req.SerializeToString())
    assert status == 200
    partial = ExportTraceServiceResponse.FromString(body).partial_success
    assert partial.rejected_spans == 2
    assert "token count" in partial.error_message
    assert calls_total(collector) == before + 1


def test_an_unknown_model_is_counted_as_an_unpriced_call_with_no_cost(collector: Collector) -> None:
    assert (
        post(collector, request(call_span(model="no-such-model-xyz", team="unknown-model")).SerializeToString())[0]
        == 200
    )
    text = collector.scrape_text()
    unpriced = [v for s, v in sample_values(text, "llm_unpriced_calls_total") if s["model"] == "no-such-model-xyz"]
    assert unpriced == [1.0]
    cost = [v for s, v in sample_values(text, "llm_cost_usd_total") if s["model"] == "no-such-model-xyz"]
    assert sum(cost) == 0


def test_thousands_of_team_names_are_capped_to_other_and_counted(collector: Collector) -> None:
    spans = [call_span(team=f"team-{i}") for i in range(2000)]
    assert post(collector, request(*spans).SerializeToString())[0] == 200
    text = collector.scrape_text()
    teams = {s["team"] for s, _ in sample_values(text, "llm_calls_total")}
    assert len(teams) <= 51 and "other" in teams
    overflow = [v for s, v in sample_values(text, "llm_otel_processor_label_overflow_total") if s["label"] == "team"]
    assert overflow and overflow[0] >= 1900


def test_label_values_with_control_characters_are_sanitized(collector: Collector) -> None:
    assert post(collector, request(call_span(team="evil\nteam\x00", model="gpt-4o-mini")).SerializeToString())[0] == 200
    assert "evil_team_" in collector.scrape_text() or "other" in collector.scrape_text()


def test_wrong_content_type_is_answered_400(collector: Collector) -> None:
    assert post(collector, b"hello", "text/plain")[0] == 400


def test_a_declared_body_over_the_limit_is_answered_413_without_reading_it(collector: Collector) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", collector.ports["otlp_http"], timeout=10)
    conn.putrequest("POST", "/v1/traces")
    conn.putheader("Content-Type", "application/x-protobuf")
    conn.putheader("Content-Length", str(10 * 1024**3))
    conn.endheaders()
    assert conn.getresponse().status == 413
    conn.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=2048), json_body=st.booleans())
def test_fuzzed_bodies_never_crash_and_never_count(collector: Collector, body: bytes, json_body: bool) -> None:
    before = calls_total(collector)
    status, _ = post(collector, body, "application/json" if json_body else "application/x-protobuf")
    assert status in (200, 400)
    assert calls_total(collector) == before


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    value=st.one_of(
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.floats(allow_nan=True),
        st.text(max_size=30),
        st.booleans(),
    )
)
def test_fuzzed_token_counts_are_counted_only_when_valid(collector: Collector, value: object) -> None:
    before = calls_total(collector)
    span = call_span()
    del span.attributes[:]
    span.attributes.extend(
        [kv("gen_ai.operation.name", "chat"), kv("gen_ai.provider.name", "openai"),
         kv("gen_ai.request.model", "gpt-4o-mini"), kv("gen_ai.usage.input_tokens", value)]
    )  # fmt: skip
    status, body = post(collector, request(span).SerializeToString())
    assert status == 200
    rejected = ExportTraceServiceResponse.FromString(body).partial_success.rejected_spans
    valid = (type(value) is int and 0 <= value <= 100_000_000) or (
        type(value) is float and value.is_integer() and 0 <= value <= 100_000_000
    )
    assert calls_total(collector) == before + (1 if valid else 0)
    assert rejected == (0 if valid else 1) or (isinstance(value, str) and rejected == 1)


_json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(), st.text(max_size=40)
)
_json_values = st.recursive(
    _json_scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=12), kids, max_size=4)),
    max_leaves=20,
)
_hex_ids = st.one_of(st.text(alphabet="0123456789abcdef", max_size=40), _json_scalars)
_attr_keys = st.sampled_from(["gen_ai.operation.name", "gen_ai.usage.input_tokens", "llm_otel.team"])
_value_kinds = st.sampled_from(["stringValue", "intValue", "doubleValue", "kvlistValue"])
_attributes = st.lists(
    st.fixed_dictionaries({"key": _attr_keys, "value": st.dictionaries(_value_kinds, _json_values, max_size=2)}),
    max_size=4,
)
_times = st.one_of(st.text(max_size=25), st.integers(), st.none())


@st.composite
def _otlp_json_docs(draw: st.DrawFn) -> dict[str, object]:
    """OTLP/JSON-shaped documents whose every field may be right, wrong-typed, out of range or missing."""
    span = {
        "traceId": draw(_hex_ids),
        "spanId": draw(_hex_ids),
        "name": draw(_json_scalars),
        "startTimeUnixNano": draw(_times),
        "endTimeUnixNano": draw(_times),
        "attributes": draw(_attributes),
    }
    extra = draw(st.dictionaries(st.sampled_from(["kind", "status", "links", "events"]), _json_values, max_size=2))
    scope_spans = [{"scope": {"name": "llm_otel"}, "spans": [span | extra]}]
    return {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": scope_spans}]}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=_otlp_json_docs())
def test_fuzzed_otlp_json_documents_get_a_clear_answer_and_the_collector_stays_up(
    collector: Collector, doc: dict[str, object]
) -> None:
    status, body = post(collector, json.dumps(doc).encode(), "application/json")
    assert status in (200, 400), body
    if status == 400:
        assert json.loads(body)["message"]
