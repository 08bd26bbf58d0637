"""The dialect readers on spans built to each instrumentation's attribute shape.

Shapes are those read from the instrumentations' source (see docs/dialects.md and each
reader's docstring): current and older attribute names, the spans that must never be
priced (agent, workflow, chain, count-tokens), and the spans that must be rejected.
``test_dialect_instrumented.py`` checks the same readers on spans the instrumentations
really produced.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from llm_otel import semconv
from llm_otel.pricing import Usage, price
from llm_otel.processor.dialects import (
    MAX_TOKENS_PER_CALL,
    MalformedSpan,
    decode_attributes,
    normalize,
)
from llm_otel.processor.record import CallRecord, TaskSpanRecord
from replay import corpus

TRACE_ID = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
SPAN_ID = bytes.fromhex("b7ad6b7169203331")
PARENT_ID = bytes.fromhex("00f067aa0ba902b7")
START = 1_780_000_000_000_000_000
RESOURCE = {"service.name": "checkout-agent"}


def any_value(value: object) -> AnyValue:
    if value is None:
        return AnyValue()
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        out = AnyValue()
        out.array_value.values.extend(any_value(v) for v in value)
        return out
    if isinstance(value, dict):
        out = AnyValue()
        out.kvlist_value.values.extend(KeyValue(key=k, value=any_value(v)) for k, v in value.items())
        return out
    raise TypeError(value)


def make_span(
    attrs: Mapping[str, object],
    *,
    name: str = "chat gpt-4o",
    kind: int = Span.SPAN_KIND_CLIENT,
    trace_id: bytes = TRACE_ID,
    span_id: bytes = SPAN_ID,
    parent: bytes = PARENT_ID,
    start: int = START,
    end: int = START + 1_500_000_000,
    error: bool = False,
) -> Span:
    span = Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        kind=kind,  # type: ignore[arg-type]
        start_time_unix_nano=start,
        end_time_unix_nano=end,
    )
    span.attributes.extend(KeyValue(key=k, value=any_value(v)) for k, v in attrs.items())
    if error:
        span.status.code = Status.STATUS_CODE_ERROR
    return span


def call(attrs: Mapping[str, object], scope: str, **kw: Any) -> CallRecord:
    record = normalize(make_span(attrs, **kw), RESOURCE, scope)
    assert isinstance(record, CallRecord)
    return record


# --- llm-otel's own spans ---------------------------------------------------------------
OWN_CHAT = {
    semconv.GEN_AI_OPERATION_NAME: "chat",
    semconv.GEN_AI_PROVIDER_NAME: "anthropic",
    semconv.GEN_AI_REQUEST_MODEL: "claude-sonnet-4-0",
    semconv.GEN_AI_RESPONSE_MODEL: "claude-sonnet-4-20250514",
    semconv.GEN_AI_RESPONSE_ID: "msg_014HVdCNpfaGPb4WodKLm3p8",
    semconv.GEN_AI_USAGE_INPUT_TOKENS: 5198,
    semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 350,
    semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 4597,
    semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 598,
    semconv.USAGE_CACHE_WRITE_5M: 598,
    semconv.USAGE_CACHE_WRITE_1H: 0,
    semconv.SERVICE_TIER: "standard",
    semconv.STREAM_COMPLETE: True,
    semconv.TASK_ID: "pol-123",
    semconv.TASK_TYPE: "policy-review",
    semconv.TEAM: "secops",
    semconv.GEN_AI_AGENT_NAME: "reviewer",
    semconv.PROMPT_TEMPLATE: "review",
    semconv.PROMPT_VERSION: "3",
    semconv.REQUEST_TOOLS_COUNT: 2,
    semconv.REQUEST_TOOLS_BYTES: 812,
    semconv.REQUEST_MESSAGES_COUNT: 5,
}


def test_own_chat_span_becomes_a_call_record_with_every_bucket_and_attribution() -> None:
    record = call(OWN_CHAT, "llm_otel")
    assert record.dialect == "llm_otel"
    assert (record.trace_id, record.span_id, record.parent_span_id) == (TRACE_ID.hex(), SPAN_ID.hex(), PARENT_ID.hex())
    assert record.usage == Usage(
        input_tokens=5198,
        output_tokens=350,
        cache_read_tokens=4597,
        cache_write_tokens=598,
        cache_write_5m_tokens=598,
        cache_write_1h_tokens=0,
    )
    assert (record.provider, record.operation, record.model) == ("anthropic", "chat", "claude-sonnet-4-20250514")
    assert (record.task_id, record.task_type, record.team, record.agent_name) == (
        "pol-123",
        "policy-review",
        "secops",
        "reviewer",
    )
    assert (record.prompt_template, record.prompt_version) == ("review", "3")
    assert (record.tools_count, record.tools_bytes, record.messages_count) == (2, 812, 5)
    assert (record.service_tier, record.stream_complete, record.service_name) == ("standard", True, "checkout-agent")
    assert record.error_type is None and record.flags == ()


def test_own_span_iteration_attributes_become_iteration_usage() -> None:
    attrs = dict(OWN_CHAT)
    attrs[semconv.iteration_attribute("advisor", "model")] = "claude-opus-4-1"
    attrs[semconv.iteration_attribute("advisor", "input_tokens")] = 900
    attrs[semconv.iteration_attribute("advisor", "output_tokens")] = 40
    attrs[semconv.iteration_attribute("advisor", "cache_read.input_tokens")] = 100
    attrs[semconv.iteration_attribute("compaction", "input_tokens")] = 3000
    record = call(attrs, "llm_otel")
    kinds = {it.kind: it for it in record.usage.iterations}
    assert kinds["advisor"].model == "claude-opus-4-1"
    assert (kinds["advisor"].input_tokens, kinds["advisor"].output_tokens, kinds["advisor"].cache_read_tokens) == (
        900,
        40,
        100,
    )
    assert kinds["compaction"].input_tokens == 3000


def test_own_task_span_becomes_a_task_span_record_never_a_call() -> None:
    attrs = {
        semconv.TASK_ID: "pol-123",
        semconv.TASK_TYPE: "policy-review",
        semconv.TEAM: "secops",
        semconv.TASK_STATUS: "ok",
        semconv.TASK_BUDGET_USD: 2.0,
        # a task span carrying sums must still never be priced
        semconv.GEN_AI_USAGE_INPUT_TOKENS: 10_000,
    }
    record = normalize(
        make_span(attrs, name="llm_otel.task policy-review", kind=Span.SPAN_KIND_INTERNAL), RESOURCE, "llm_otel"
    )
    assert record == TaskSpanRecord(
        trace_id=TRACE_ID.hex(),
        span_id=SPAN_ID.hex(),
        task_id="pol-123",
        task_type="policy-review",
        team="secops",
        status="ok",
        start_ns=START,
        end_ns=START + 1_500_000_000,
        budget_usd=2.0,
    )


def test_task_span_that_failed_without_a_status_attribute_is_an_error() -> None:
    attrs = {semconv.TASK_ID: "t-1"}
    record = normalize(make_span(attrs, name="llm_otel.task triage", error=True), RESOURCE, "llm_otel")
    assert isinstance(record, TaskSpanRecord)
    assert (record.status, record.task_type) == ("error", "triage")


def test_task_span_without_a_task_id_is_rejected() -> None:
    with pytest.raises(MalformedSpan, match=r"llm_otel\.task\.id"):
        normalize(make_span({semconv.TASK_STATUS: "ok"}, name="llm_otel.task x"), RESOURCE, "llm_otel")


def test_own_agent_scope_span_is_not_a_call() -> None:
    attrs = {
        semconv.GEN_AI_OPERATION_NAME: "invoke_agent",
        semconv.GEN_AI_USAGE_INPUT_TOKENS: 9999,
        semconv.TASK_ID: "t-1",
    }
    assert normalize(make_span(attrs, name="invoke_agent reviewer"), RESOURCE, "llm_otel") is None


def test_a_failed_call_without_usage_is_still_a_call_with_its_error_type() -> None:
    attrs = {
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.GEN_AI_PROVIDER_NAME: "openai",
        semconv.GEN_AI_REQUEST_MODEL: "gpt-4o",
        semconv.ERROR_TYPE: "rate_limit_error",
    }
    record = call(attrs, "llm_otel", error=True)
    assert record.error_type == "rate_limit_error"
    assert record.usage == Usage()


def test_task_attribution_falls_back_to_the_resource() -> None:
    attrs = {k: v for k, v in OWN_CHAT.items() if not k.startswith("llm_otel.t")}
    record = normalize(make_span(attrs), {semconv.TASK_ID: "r-1", semconv.TEAM: "ops"}, "llm_otel")
    assert isinstance(record, CallRecord)
    assert (record.task_id, record.team) == ("r-1", "ops")


# --- anthropic SDK native spans --------------------------------------------------------
NATIVE = {
    "gen_ai.provider.name": "anthropic",
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "claude-sonnet-4-20250514",
    "gen_ai.response.model": "claude-sonnet-4-20250514",
    "gen_ai.response.id": "msg_01E2NzSzVjyyMLU5k3fo6d8t",
    "gen_ai.usage.input_tokens": 2073,
    "gen_ai.usage.output_tokens": 100,
    "gen_ai.usage.cache_read.input_tokens": 0,
    "gen_ai.usage.cache_write.input_tokens": 2056,
    "anthropic.usage.cache_creation.ephemeral_5m_input_tokens": 0,
    "anthropic.usage.cache_creation.ephemeral_1h_input_tokens": 2056,
    "anthropic.response.service_tier": "standard",
    "http.response.status_code": 200,
}


def test_anthropic_native_messages_span_keeps_its_inclusive_input_and_ttl_split() -> None:
    record = call(NATIVE, "com.anthropic.sdk.python", name="anthropic.messages.create")
    assert record.dialect == "anthropic_native"
    assert (record.usage.input_tokens, record.usage.cache_write_1h_tokens) == (2073, 2056)
    assert record.service_tier == "standard" and record.flags == ()


def test_anthropic_native_platform_scope_reports_its_platform_provider() -> None:
    attrs = dict(NATIVE, **{"gen_ai.provider.name": "aws.bedrock"})
    record = call(attrs, "com.anthropic.sdk.python.bedrock", name="anthropic.messages.create")
    assert record.provider == "aws.bedrock"


def test_anthropic_native_compaction_usage_becomes_an_iteration() -> None:
    attrs = dict(
        NATIVE, **{"anthropic.usage.compaction.input_tokens": 5000, "anthropic.usage.compaction.output_tokens": 700}
    )
    record = call(attrs, "com.anthropic.sdk.python", name="anthropic.messages.create")
    assert [(it.kind, it.input_tokens, it.output_tokens) for it in record.usage.iterations] == [
        ("compaction", 5000, 700)
    ]


@pytest.mark.parametrize(
    "name", ["anthropic.messages.count_tokens", "anthropic.sessions.create", "anthropic.environment.work"]
)
def test_anthropic_native_spans_other_than_messages_create_are_not_calls(name: str) -> None:
    attrs = {"gen_ai.provider.name": "anthropic", "anthropic.message.count_tokens.input_tokens": 1200}
    assert normalize(make_span(attrs, name=name), RESOURCE, "com.anthropic.sdk.python") is None


# --- official OpenTelemetry GenAI instrumentations ----------------------------------------
def test_otel_genai_current_names() -> None:
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-5.6-sol",
        "gen_ai.response.model": "gpt-5.6-sol",
        "gen_ai.response.id": "chatcmpl-1",
        "gen_ai.usage.input_tokens": 1220,
        "gen_ai.usage.output_tokens": 100,
        "gen_ai.usage.cache_write.input_tokens": 1217,
        "gen_ai.usage.reasoning.output_tokens": 100,
        "openai.response.service_tier": "flex",
    }
    record = call(attrs, "opentelemetry.instrumentation.genai.openai")
    assert record.dialect == "otel_genai"
    assert record.usage == Usage(input_tokens=1220, output_tokens=100, cache_write_tokens=1217, reasoning_tokens=100)
    assert record.service_tier == "flex"


def test_otel_genai_older_names_gen_ai_system_and_prompt_tokens() -> None:
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.prompt_tokens": 40,
        "gen_ai.usage.completion_tokens": 7,
        "gen_ai.usage.cache_creation.input_tokens": 8,
        "gen_ai.openai.response.service_tier": "default",
    }
    record = call(attrs, "opentelemetry.instrumentation.openai_v2")
    assert (record.provider, record.usage.input_tokens, record.usage.output_tokens) == ("openai", 40, 7)
    assert record.usage.cache_write_tokens == 8 and record.service_tier == "default"


@pytest.mark.parametrize("operation", ["invoke_agent", "create_agent", "execute_tool", "invoke_workflow"])
def test_otel_genai_aggregating_spans_are_never_priced(operation: str) -> None:
    attrs = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": "openai",
        "gen_ai.usage.input_tokens": 90_000,
        "gen_ai.usage.output_tokens": 4_000,
    }
    assert normalize(make_span(attrs), RESOURCE, "opentelemetry.util.genai.handler") is None


def test_embeddings_span_is_a_call() -> None:
    attrs = {
        "gen_ai.operation.name": "embeddings",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "text-embedding-3-small",
        "gen_ai.usage.input_tokens": 4,
    }
    assert call(attrs, "opentelemetry.instrumentation.genai.openai").operation == "embeddings"


# --- OpenLLMetry ------------------------------------------------------------------------
def test_openllmetry_current_anthropic_names_are_read_as_inclusive() -> None:
    attrs = {
        "gen_ai.provider.name": "anthropic",
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "claude-sonnet-4-0",
        "gen_ai.response.model": "claude-sonnet-4-20250514",
        "gen_ai.usage.input_tokens": 5198,
        "gen_ai.usage.output_tokens": 350,
        "gen_ai.usage.total_tokens": 5548,
        "gen_ai.usage.cache_read.input_tokens": 4597,
        "gen_ai.usage.cache_creation.input_tokens": 598,
    }
    record = call(attrs, "opentelemetry.instrumentation.anthropic", name="anthropic.chat")
    assert record.dialect == "openllmetry"
    assert record.usage == Usage(input_tokens=5198, output_tokens=350, cache_read_tokens=4597, cache_write_tokens=598)
    assert record.flags == ()


def test_openllmetry_2024_names_gen_ai_prompt_tokens_and_underscore_cache_names() -> None:
    attrs = {
        "gen_ai.system": "Anthropic",
        "llm.request.type": "chat",
        "gen_ai.request.model": "claude-3-5-sonnet",
        "gen_ai.usage.prompt_tokens": 1169,
        "gen_ai.usage.completion_tokens": 224,
        "gen_ai.usage.cache_read_input_tokens": 1165,
        "gen_ai.usage.cache_creation_input_tokens": 0,
        "llm.usage.total_tokens": 1393,
    }
    record = call(attrs, "opentelemetry.instrumentation.anthropic", name="anthropic.chat")
    assert (record.provider, record.operation) == ("anthropic", "chat")
    assert record.usage == Usage(input_tokens=1169, output_tokens=224, cache_read_tokens=1165, cache_write_tokens=0)


def test_openllmetry_2023_llm_usage_names() -> None:
    attrs = {
        "llm.request.type": "completion",
        "llm.request.model": "gpt-3.5-turbo-instruct",
        "llm.usage.prompt_tokens": 12,
        "llm.usage.completion_tokens": 30,
        "llm.usage.total_tokens": 42,
    }
    record = call(attrs, "opentelemetry.instrumentation.openai.v0", name="openai.completion")
    assert (record.operation, record.provider, record.request_model) == (
        "text_completion",
        "openai",
        "gpt-3.5-turbo-instruct",
    )
    assert (record.usage.input_tokens, record.usage.output_tokens) == (12, 30)


@pytest.mark.parametrize("kind", ["workflow", "task", "agent", "tool"])
def test_openllmetry_decorator_spans_are_never_priced(kind: str) -> None:
    attrs = {
        "traceloop.span.kind": kind,
        "traceloop.entity.name": "plan",
        "gen_ai.operation.name": "chat",
        "gen_ai.usage.input_tokens": 50_000,
    }
    assert normalize(make_span(attrs), RESOURCE, "traceloop.tracer") is None


def test_an_old_exclusive_input_below_the_cache_is_made_inclusive_and_flagged_as_inferred() -> None:
    attrs = {
        "llm.request.type": "chat",
        "gen_ai.system": "Anthropic",
        "gen_ai.usage.prompt_tokens": 4,
        "gen_ai.usage.completion_tokens": 10,
        "gen_ai.usage.cache_read_input_tokens": 1167,
    }
    record = call(attrs, "opentelemetry.instrumentation.anthropic")
    assert record.usage.input_tokens == 1171
    assert record.flags == ("input_exclusive_of_cache_inferred",)


# --- OpenInference ----------------------------------------------------------------------
OI_LLM = {
    "openinference.span.kind": "LLM",
    "llm.provider": "anthropic",
    "llm.system": "anthropic",
    "llm.request.model_name": "claude-sonnet-4-0",
    "llm.model_name": "claude-sonnet-4-20250514",
    "llm.response.model_name": "claude-sonnet-4-20250514",
    "llm.token_count.prompt": 5198,
    "llm.token_count.completion": 350,
    "llm.token_count.prompt_details.cache_read": 4597,
    "llm.token_count.prompt_details.cache_write": 598,
    "llm.token_count.total": 5548,
    "input.value": "__REDACTED__",
}


def test_openinference_llm_span_is_a_call_with_inclusive_prompt() -> None:
    record = call(
        OI_LLM, "openinference.instrumentation.anthropic", name="messages.create", kind=Span.SPAN_KIND_INTERNAL
    )
    assert record.dialect == "openinference"
    assert record.usage == Usage(input_tokens=5198, output_tokens=350, cache_read_tokens=4597, cache_write_tokens=598)
    assert (record.request_model, record.response_model, record.response_id) == (
        "claude-sonnet-4-0",
        "claude-sonnet-4-20250514",
        None,
    )


@pytest.mark.parametrize("kind", ["CHAIN", "AGENT", "TOOL", "RETRIEVER", "RERANKER", "GUARDRAIL", "UNKNOWN"])
def test_openinference_non_llm_spans_are_never_priced_even_with_token_counts(kind: str) -> None:
    attrs = dict(OI_LLM, **{"openinference.span.kind": kind})
    assert normalize(make_span(attrs), RESOURCE, "openinference.instrumentation.langchain") is None


def test_openinference_older_cache_input_name_and_provider_aliases() -> None:
    attrs = {
        "openinference.span.kind": "LLM",
        "llm.provider": "azure",
        "llm.model_name": "gpt-4o",
        "llm.token_count.prompt": 2006,
        "llm.token_count.completion": 300,
        "llm.token_count.prompt_details.cache_input": 1920,
    }
    record = call(attrs, "openinference.instrumentation.openai")
    assert (record.provider, record.usage.cache_read_tokens) == ("azure.ai.openai", 1920)


def test_openinference_embedding_span_uses_the_embedding_model() -> None:
    attrs = {
        "openinference.span.kind": "EMBEDDING",
        "embedding.model_name": "text-embedding-3-small",
        "llm.token_count.prompt": 4,
        "llm.token_count.total": 4,
    }
    record = call(attrs, "openinference.instrumentation.openai")
    assert (record.operation, record.model, record.provider) == ("embeddings", "text-embedding-3-small", "openai")


def test_openinference_span_under_an_unknown_scope_is_found_by_its_span_kind() -> None:
    assert call(OI_LLM, "my.company.tracer").dialect == "openinference"


# --- OpenLIT (shape from openlit 1.45.0 source) ------------------------------------------
def openlit_anthropic_attrs(exchange: Mapping[str, Any]) -> dict[str, object]:
    """The attributes openlit 1.45.0 puts on the span of a non-streamed Anthropic call.

    ``instrumentation/anthropic/utils.py`` ``process_chat_response``/``common_chat_logic``:
    input is ``usage.input_tokens`` as Anthropic reports it (exclusive of cache), the cache
    counts go under ``gen_ai.usage.cache_read.input_tokens`` and
    ``gen_ai.usage.cache_creation.input_tokens``; ``__helpers.common_span_attributes`` adds
    ``telemetry.sdk.name = "openlit"``.
    """
    body = json.loads(exchange["response_body"])
    usage = body["usage"]
    return {
        "telemetry.sdk.name": "openlit",
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": exchange["request"]["model"],
        "gen_ai.response.model": body["model"],
        "gen_ai.response.id": body["id"],
        "gen_ai.usage.input_tokens": usage["input_tokens"],
        "gen_ai.usage.output_tokens": usage["output_tokens"],
        "gen_ai.client.token.usage": usage["input_tokens"] + usage["output_tokens"],
        "gen_ai.usage.cost": 0.0,
        "gen_ai.usage.cache_read.input_tokens": usage.get("cache_read_input_tokens") or 0,
        "gen_ai.usage.cache_creation.input_tokens": usage.get("cache_creation_input_tokens") or 0,
        "service.name": "dialects",
    }


def _cached_anthropic_json_exchanges() -> list[dict[str, Any]]:
    out = []
    for ex in corpus.exchanges("anthropic"):
        e = ex["expected"]
        if (
            ex["path"] == "/v1/messages"
            and not ex["stream"]
            and not ex["query"]
            and (e["cache_read_input_tokens"] or e["cache_write_input_tokens"])
        ):
            out.append(ex)
    return out[:12]


@pytest.mark.parametrize("exchange", _cached_anthropic_json_exchanges(), ids=lambda ex: ex["id"].rsplit("/", 1)[-1])
def test_openlit_anthropic_span_costs_what_the_response_says(exchange: dict[str, Any]) -> None:
    record = call(openlit_anthropic_attrs(exchange), "openlit.instrumentation.anthropic")
    e = exchange["expected"]
    assert record.dialect == "openlit"
    assert (record.usage.input_tokens, record.usage.cache_read_tokens, record.usage.cache_write_tokens) == (
        e["input_tokens"],
        e["cache_read_input_tokens"] or 0,
        e["cache_write_input_tokens"] or 0,
    )
    assert "input_exclusive_of_cache" in record.flags
    expected = Usage(
        input_tokens=e["input_tokens"],
        output_tokens=e["output_tokens"],
        cache_read_tokens=e["cache_read_input_tokens"],
        cache_write_tokens=e["cache_write_input_tokens"],
    )
    if (e["cache_write_1h"] or 0) == 0:  # OpenLIT has no TTL split: a 1h write cannot cost the same
        theirs = price(record.usage, provider="anthropic", model=record.model, at=record.start_ns)
        ours = price(expected, provider="anthropic", model=e["response_model"], at=record.start_ns)
        assert theirs.total == ours.total


def test_openlit_anthropic_without_cache_is_left_alone() -> None:
    attrs = {
        "telemetry.sdk.name": "openlit",
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.usage.input_tokens": 20,
        "gen_ai.usage.output_tokens": 5,
        "gen_ai.usage.cache_read.input_tokens": 0,
        "gen_ai.usage.cache_creation.input_tokens": 0,
    }
    record = call(attrs, "openlit.instrumentation.anthropic")
    assert (record.usage.input_tokens, record.flags) == (20, ())


def test_openlit_openai_input_is_already_inclusive() -> None:
    attrs = {
        "telemetry.sdk.name": "openlit",
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.usage.input_tokens": 1149,
        "gen_ai.usage.output_tokens": 353,
        "gen_ai.usage.cache_read.input_tokens": 1024,
        "gen_ai.usage.cache_creation.input_tokens": 0,
    }
    record = call(attrs, "openlit.instrumentation.openai")
    assert (record.usage.input_tokens, record.flags) == (1149, ())


def test_openlit_span_under_another_scope_is_found_by_its_sdk_name() -> None:
    attrs = {
        "telemetry.sdk.name": "openlit",
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "anthropic",
        "gen_ai.usage.input_tokens": 3,
        "gen_ai.usage.output_tokens": 5,
        "gen_ai.usage.cache_read.input_tokens": 100,
    }
    record = call(attrs, "some.wrapper")
    assert (record.dialect, record.usage.input_tokens) == ("openlit", 103)


@pytest.mark.parametrize(
    "operation",
    ["invoke_agent", "invoke_workflow", "execute_tool", "create_agent", "execute_task", "retrieval", "vectordb"],
)
def test_openlit_framework_spans_are_never_priced(operation: str) -> None:
    attrs = {
        "telemetry.sdk.name": "openlit",
        "gen_ai.operation.name": operation,
        "gen_ai.usage.input_tokens": 70_000,
        "gen_ai.usage.output_tokens": 900,
    }
    assert normalize(make_span(attrs), RESOURCE, "openlit.instrumentation.crewai") is None


# --- spans that are not LLM calls ---------------------------------------------------------
def test_http_span_inside_a_task_is_not_a_call() -> None:
    attrs = {
        "http.request.method": "POST",
        "url.full": "https://api.openai.com/v1/chat/completions",
        semconv.TASK_ID: "t-1",
        semconv.TASK_TYPE: "triage",
    }
    assert normalize(make_span(attrs, name="POST"), RESOURCE, "opentelemetry.instrumentation.httpx") is None


# --- spans that must be rejected ------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("trace_id", b"\x01" * 15, "trace id"),
        ("trace_id", bytes(16), "trace id"),
        ("span_id", b"\x01" * 9, "span id"),
        ("span_id", bytes(8), "span id"),
        ("parent", b"\x01" * 4, "parent span id"),
        ("start", 0, "no start time"),
        ("end", START - 1, "ends before it starts"),
    ],
)
def test_span_with_a_broken_envelope_is_rejected_with_its_reason(field: str, value: object, message: str) -> None:
    span = make_span(OWN_CHAT, **{field: value})  # type: ignore[arg-type]
    with pytest.raises(MalformedSpan, match=message):
        normalize(span, RESOURCE, "llm_otel")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "between 0 and"),
        (MAX_TOKENS_PER_CALL + 1, "between 0 and"),
        (12.5, "must be an integer"),
        ("1200", "must be an integer"),
        (True, "must be an integer"),
        ([1, 2], "must be an integer"),
    ],
)
def test_impossible_token_count_is_rejected_naming_the_attribute(value: object, message: str) -> None:
    attrs = dict(OWN_CHAT, **{semconv.GEN_AI_USAGE_OUTPUT_TOKENS: value})
    with pytest.raises(MalformedSpan, match=message) as err:
        normalize(make_span(attrs), RESOURCE, "llm_otel")
    assert err.value.attribute == semconv.GEN_AI_USAGE_OUTPUT_TOKENS


@pytest.mark.parametrize(
    "scope",
    [
        "openinference.instrumentation.openai",
        "openlit.instrumentation.openai",
        "opentelemetry.instrumentation.openai.v1",
        "com.anthropic.sdk.python",
    ],
)
def test_every_dialect_rejects_negative_token_counts(scope: str) -> None:
    attrs = {
        "openinference.span.kind": "LLM",
        "telemetry.sdk.name": "openlit",
        "gen_ai.operation.name": "chat",
        "gen_ai.is_streaming": False,
        "gen_ai.usage.input_tokens": -5,
        "llm.token_count.prompt": -5,
    }
    with pytest.raises(MalformedSpan):
        normalize(make_span(attrs, name="anthropic.messages.create"), RESOURCE, scope)


def test_integral_double_token_count_from_a_json_sender_is_accepted() -> None:
    attrs = dict(OWN_CHAT, **{semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 350.0})
    assert call(attrs, "llm_otel").usage.output_tokens == 350


def test_operation_name_of_the_wrong_type_is_not_a_call() -> None:
    attrs = dict(OWN_CHAT, **{semconv.GEN_AI_OPERATION_NAME: ["chat"]})
    assert normalize(make_span(attrs), RESOURCE, "llm_otel") is None


# --- the attribute decoder ------------------------------------------------------------------
def test_decoder_returns_every_otlp_value_type() -> None:
    attrs = {
        "s": "x",
        "b": True,
        "i": 7,
        "d": 1.5,
        "raw": b"\x00\x01",
        "arr": ["a", "b"],
        "kv": {"k": 1, "nested": [1, {"z": False}]},
    }
    span = make_span(attrs)
    span.attributes.add(key="unset")
    assert decode_attributes(span.attributes) == {**attrs, "unset": None}


def test_decoder_keeps_the_last_of_a_repeated_key() -> None:
    span = make_span({"k": 1})
    span.attributes.add(key="k", value=AnyValue(int_value=2))
    assert decode_attributes(span.attributes) == {"k": 2}


# --- any attribute values: a record, None, or MalformedSpan; never another exception -------
_KEYS = sorted(
    {
        *OWN_CHAT,
        *NATIVE,
        *OI_LLM,
        "telemetry.sdk.name",
        "traceloop.span.kind",
        "llm.request.type",
        "gen_ai.system",
        "gen_ai.usage.prompt_tokens",
        "llm.usage.prompt_tokens",
        "gen_ai.is_streaming",
        "gen_ai.usage.cache_creation.input_tokens",
        "llm.token_count.prompt_details.cache_input",
        "embedding.model_name",
        semconv.TASK_STATUS,
        semconv.TASK_BUDGET_USD,
        semconv.iteration_attribute("advisor", "input_tokens"),
        semconv.iteration_attribute("x", "model"),
    }
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.binary(max_size=4),
    st.sampled_from(["chat", "LLM", "openlit", "anthropic", "invoke_agent", "embeddings", "CHAIN"]),
)
_VALUES = st.one_of(
    _SCALARS, st.lists(_SCALARS, max_size=3), st.dictionaries(st.text(max_size=4), _SCALARS, max_size=2)
)
_SCOPES = st.sampled_from(
    [
        "llm_otel",
        "com.anthropic.sdk.python",
        "openinference.instrumentation.openai",
        "openlit.instrumentation.anthropic",
        "opentelemetry.instrumentation.openai.v1",
        "opentelemetry.util.genai.handler",
        "anything",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    attrs=st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=12),
    scope=_SCOPES,
    name=st.sampled_from(["chat x", "anthropic.messages.create", "llm_otel.task t", "POST"]),
)
def test_any_attribute_values_give_a_record_none_or_malformed_span(
    attrs: dict[str, object], scope: str, name: str
) -> None:
    span = Span.FromString(make_span({}, name=name).SerializeToString())
    span.attributes.extend(KeyValue(key=k, value=any_value(v)) for k, v in attrs.items())
    try:
        record = normalize(span, RESOURCE, scope)
    except MalformedSpan as err:
        assert err.reason
        return
    assert record is None or isinstance(record, (CallRecord, TaskSpanRecord))
    if isinstance(record, CallRecord):
        for count in (record.usage.input_tokens, record.usage.output_tokens, record.usage.cache_read_tokens):
            assert count is None or 0 <= count <= MAX_TOKENS_PER_CALL


@pytest.mark.parametrize("budget", ["2 dollars", -1.0, float("nan"), float("inf"), True])
def test_task_span_with_an_impossible_budget_is_rejected(budget: object) -> None:
    attrs = {semconv.TASK_ID: "t-1", semconv.TASK_STATUS: "ok", semconv.TASK_BUDGET_USD: budget}
    with pytest.raises(MalformedSpan, match="budget_usd"):
        normalize(make_span(attrs, name="llm_otel.task x"), RESOURCE, "llm_otel")


def test_a_foreign_span_enriched_by_llm_otel_keeps_the_ttl_split_llm_otel_added() -> None:
    # The shape of a real genai-anthropic 1.3b0 span with llm_otel.instrument() alongside
    # (llm-otel adds no span of its own then, only its extras on this one).
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-20250514",
        "gen_ai.response.model": "claude-sonnet-4-20250514",
        "gen_ai.response.id": "msg_01E2NzSzVjyyMLU5k3fo6d8t",
        "gen_ai.usage.input_tokens": 2073,
        "gen_ai.usage.output_tokens": 100,
        "gen_ai.usage.cache_read.input_tokens": 0,
        "gen_ai.usage.cache_write.input_tokens": 2056,
        semconv.USAGE_CACHE_WRITE_5M: 0,
        semconv.USAGE_CACHE_WRITE_1H: 2056,
        semconv.SERVICE_TIER: "standard",
        semconv.STREAM_COMPLETE: True,
    }
    record = call(attrs, "opentelemetry.instrumentation.genai.anthropic")
    assert record.dialect == "otel_genai"
    assert (record.usage.cache_write_5m_tokens, record.usage.cache_write_1h_tokens) == (0, 2056)
    assert (record.service_tier, record.stream_complete) == ("standard", True)
    own = call({**OWN_CHAT, **attrs}, "llm_otel")
    at = record.start_ns
    assert (
        price(record.usage, provider="anthropic", model=record.model, at=at).total
        == price(own.usage, provider="anthropic", model=own.model, at=at).total
    )


def test_own_dialect_reads_back_exactly_the_usage_the_sdk_writes_for_every_recorded_exchange() -> None:
    """Usage.attributes() is what llm-otel's spans carry; the reader must give back the same Usage."""
    seen = 0
    for ex in corpus.exchanges():
        e = ex["expected"]
        usage = Usage(
            input_tokens=e["input_tokens"],
            output_tokens=e["output_tokens"],
            cache_read_tokens=e["cache_read_input_tokens"],
            cache_write_tokens=e["cache_write_input_tokens"],
            cache_write_5m_tokens=e["cache_write_5m"],
            cache_write_1h_tokens=e["cache_write_1h"],
            cache_write_30m_tokens=e["cache_write_30m"],
            cache_write_12h_tokens=e["cache_write_12h"],
            reasoning_tokens=e["reasoning_output_tokens"],
        )
        attrs = {
            semconv.GEN_AI_OPERATION_NAME: "chat",
            semconv.GEN_AI_PROVIDER_NAME: ex["provider"],
            semconv.GEN_AI_RESPONSE_MODEL: e["response_model"] or "m",
            **usage.attributes(),
        }
        record = call(attrs, "llm_otel")
        assert record.usage == usage, ex["id"]
        assert record.flags == (), ex["id"]
        seen += 1
    assert seen > 2000
