"""What every dialect reader shares: span envelope checks, token-count validation, provider
and operation names, and the assembly of a ``CallRecord``.

Hot path (every span): plain dict lookups and type checks, no regexes, no allocation
beyond the record itself. Guarded by ``tests/processor/test_dialect_speed.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from llm_otel import semconv
from llm_otel.pricing._construct import fast_constructor
from llm_otel.pricing.usage import IterationUsage, Usage
from llm_otel.processor.errors import MalformedSpan
from llm_otel.processor.record import CallRecord

MAX_TOKENS_PER_CALL: Final = 100_000_000
"""Largest token count one call may report in one bucket. No model has a context window
within two orders of magnitude of it, so anything above is a bug or an attack, never spend."""

# Operations that are one inference request, billed by the provider: the only spans priced.
# Aggregating spans (invoke_agent, invoke_workflow, execute_tool, create_agent, ...) are NOT
# here: they may carry the SUM of their children's usage, and pricing them would count it twice.
LEAF_OPERATIONS: Final[Mapping[str, str]] = {
    semconv.OP_CHAT: semconv.OP_CHAT,
    semconv.OP_TEXT_COMPLETION: semconv.OP_TEXT_COMPLETION,
    semconv.OP_EMBEDDINGS: semconv.OP_EMBEDDINGS,
    semconv.OP_GENERATE_CONTENT: semconv.OP_GENERATE_CONTENT,
    # older names (semantic conventions before 1.28, OpenLLMetry's llm.request.type)
    "completion": semconv.OP_TEXT_COMPLETION,
    "embedding": semconv.OP_EMBEDDINGS,
    "responses": semconv.OP_CHAT,
}

# Provider names other instrumentations use, as gen_ai.provider.name values.
PROVIDER_ALIASES: Final[Mapping[str, str]] = {
    "az.ai.openai": semconv.PROVIDER_AZURE_OPENAI,
    "azure": semconv.PROVIDER_AZURE_OPENAI,  # OpenInference llm.provider
    "azure_openai": semconv.PROVIDER_AZURE_OPENAI,
    "aws": semconv.PROVIDER_AWS_BEDROCK,  # OpenInference llm.provider
    "bedrock": semconv.PROVIDER_AWS_BEDROCK,
    "aws_bedrock": semconv.PROVIDER_AWS_BEDROCK,
    "vertex_ai": semconv.PROVIDER_GCP_VERTEX_AI,
    "vertexai": semconv.PROVIDER_GCP_VERTEX_AI,
    "google": "gcp.gemini",  # OpenInference llm.provider: Google AI Studio / Gemini API
    "gemini": "gcp.gemini",
    "mistralai": "mistral_ai",
    "xai": "x_ai",
}

UNKNOWN_PROVIDER: Final = "unknown"

# Hot path (one Usage per call span): the frozen dataclass __init__ sets 11 fields through
# object.__setattr__; this builds the same object ~4x faster (see pricing/_construct.py).
_usage = fast_constructor(Usage)

_ITER_PREFIX: Final = semconv.USAGE_ITERATIONS_PREFIX
# Longest suffix first: ".cache_read.input_tokens" also ends with ".input_tokens".
_ITER_BUCKETS: Final = {
    ".cache_read.input_tokens": "cache_read_tokens",
    ".cache_write.input_tokens": "cache_write_tokens",
    ".input_tokens": "input_tokens",
    ".output_tokens": "output_tokens",
}


def leaf_operation(value: object) -> str | None:
    """The canonical operation of a leaf inference call, or None (aggregating, unknown, not a string)."""
    return LEAF_OPERATIONS.get(value) if type(value) is str else None


_ZERO_TRACE_ID: Final = bytes(16)
_ZERO_SPAN_ID: Final = bytes(8)
_STATUS_ERROR: Final = 2  # opentelemetry.proto.trace.v1.Status.STATUS_CODE_ERROR
RESOURCE_SERVICE_NAME: Final = "service.name"


def check_envelope(span: Any) -> None:
    """Raises ``MalformedSpan`` for a span no stage may count: bad ids, missing or reversed times."""
    trace_id = span.trace_id
    if len(trace_id) != 16 or trace_id == _ZERO_TRACE_ID:
        raise MalformedSpan(f"trace id must be 16 bytes and not all zero, got {len(trace_id)} bytes")
    span_id = span.span_id
    if len(span_id) != 8 or span_id == _ZERO_SPAN_ID:
        raise MalformedSpan(f"span id must be 8 bytes and not all zero, got {len(span_id)} bytes")
    parent = span.parent_span_id
    if parent and len(parent) != 8:
        raise MalformedSpan(f"parent span id must be empty or 8 bytes, got {len(parent)} bytes")
    start = span.start_time_unix_nano
    if start == 0:
        raise MalformedSpan("span has no start time (start_time_unix_nano is 0)")
    if span.end_time_unix_nano < start:
        raise MalformedSpan(
            f"span ends before it starts (end {span.end_time_unix_nano} < start {start} ns since epoch)"
        )


def tokens(attrs: Mapping[str, object], key: str) -> int | None:
    """The token count under ``key``, or None when absent. Raises ``MalformedSpan`` when it cannot be true.

    Accepted: an int in [0, MAX_TOKENS_PER_CALL], or a float with an integral value (OTLP/JSON
    senders written in JavaScript may encode integers as doubles). Rejected: negative, above the
    bound, fractional, bool, string.
    """
    value = attrs.get(key)
    if value is None:
        return None
    if type(value) is int:
        if 0 <= value <= MAX_TOKENS_PER_CALL:
            return value
        raise MalformedSpan(
            f"{key} = {value}: a token count must be between 0 and {MAX_TOKENS_PER_CALL:,}", attribute=key
        )
    if type(value) is float and value.is_integer():
        return tokens({key: int(value)}, key)
    raise MalformedSpan(
        f"{key} must be an integer token count, got {type(value).__name__} {str(value)[:40]!r}", attribute=key
    )


def first_tokens(attrs: Mapping[str, object], keys: tuple[str, ...]) -> int | None:
    """The token count under the first of ``keys`` present (current name first, older names after)."""
    for key in keys:
        if key in attrs:
            value = tokens(attrs, key)
            if value is not None:
                return value
    return None


def as_text(value: object) -> str | None:
    """A string attribute value; an int or float is stringified (a task id sent as int is still an id)."""
    if value is None or value.__class__ is str:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def text(attrs: Mapping[str, object], key: str) -> str | None:
    """``as_text`` of the attribute under ``key``."""
    return as_text(attrs.get(key))


def provider_name(value: object) -> str | None:
    """A provider name as a ``gen_ai.provider.name`` value (lowercased; known aliases mapped)."""
    if not isinstance(value, str) or not value:
        return None
    name = value.strip().lower()
    return PROVIDER_ALIASES.get(name, name)


def provider_from_model(model: str | None) -> str:
    """Last resort for spans that name no provider: the family a model name belongs to."""
    if model:
        if model.startswith("claude"):
            return semconv.PROVIDER_ANTHROPIC
        if model.startswith(("gpt-", "o1", "o3", "o4", "text-embedding", "chatgpt", "davinci", "babbage")):
            return semconv.PROVIDER_OPENAI
    return UNKNOWN_PROVIDER


def make_usage(
    *,
    input_tokens: int | None,
    output_tokens: int | None,
    cache_read: int | None,
    cache_write: int | None,
    reasoning: int | None = None,
    cache_write_5m: int | None = None,
    cache_write_1h: int | None = None,
    cache_write_30m: int | None = None,
    cache_write_12h: int | None = None,
    iterations: tuple[IterationUsage, ...] = (),
    estimated: bool = False,
    input_exclusive: bool = False,
    flags: list[str],
) -> Usage:
    """A contract ``Usage`` (input inclusive of cache reads and writes), with what was repaired in ``flags``.

    ``input_exclusive``: the dialect is known to report input without cache tokens; they are
    added and, when there were any, ``input_exclusive_of_cache`` is flagged. Otherwise, input
    below cache reads + writes cannot be inclusive (an older or non-conforming instrumentation):
    it is repaired the same way and ``input_exclusive_of_cache_inferred`` is flagged.
    """
    cached = (cache_read or 0) + (cache_write or 0)
    if input_exclusive:
        if cached:
            input_tokens = (input_tokens or 0) + cached
            flags.append("input_exclusive_of_cache")
    elif cached and (input_tokens or 0) < cached:
        input_tokens = (input_tokens or 0) + cached
        flags.append("input_exclusive_of_cache_inferred")
    if input_tokens is not None and input_tokens > MAX_TOKENS_PER_CALL:
        raise MalformedSpan(
            f"input tokens with cache = {input_tokens}: above {MAX_TOKENS_PER_CALL:,} for one call",
            attribute=semconv.GEN_AI_USAGE_INPUT_TOKENS,
        )
    return _usage(  # Usage(...) in field order
        input_tokens,
        output_tokens,
        cache_read,
        cache_write,
        cache_write_5m,
        cache_write_1h,
        cache_write_30m,
        cache_write_12h,
        reasoning,
        iterations,
        estimated,
    )


def read_iterations(attrs: Mapping[str, object]) -> tuple[IterationUsage, ...]:
    """``llm_otel.usage.iterations.<kind>.<bucket>``: billed usage outside the top-level counts."""
    found: dict[str, dict[str, Any]] = {}
    for key in attrs:
        if not key.startswith(_ITER_PREFIX):
            continue
        rest = key[len(_ITER_PREFIX) :]
        if rest.endswith(".model"):
            found.setdefault(rest[: -len(".model")], {})["model"] = text(attrs, key)
            continue
        for suffix, field in _ITER_BUCKETS.items():
            if rest.endswith(suffix):
                count = tokens(attrs, key)
                found.setdefault(rest[: -len(suffix)], {})[field] = count or 0
                break
    if not found:
        return ()
    return tuple(IterationUsage(kind=kind, **fields) for kind, fields in sorted(found.items()) if kind)


# llm-otel's SDK adds these to another instrumentation's span when it stands aside for it
# (sdk/anthropic/coexist.py): any of them means the enrichment is there.
LLM_OTEL_EXTRAS: Final = (
    semconv.SERVICE_TIER,
    semconv.STREAM_COMPLETE,
    semconv.USAGE_CACHE_WRITE_5M,
    semconv.USAGE_CACHE_WRITE_1H,
    semconv.USAGE_CACHE_WRITE_30M,
    semconv.USAGE_CACHE_WRITE_12H,
    semconv.REQUEST_MESSAGES_COUNT,
    semconv.REQUEST_TOOLS_COUNT,
)


def has_llm_otel_extras(attrs: Mapping[str, object]) -> bool:
    """Whether llm-otel's SDK enriched this (foreign) span with its ``llm_otel.*`` usage extras."""
    return any(key in attrs for key in LLM_OTEL_EXTRAS)


def error_type(span: Any, attrs: Mapping[str, object]) -> str | None:
    """``error.type`` when set; else ``"error"`` for a span whose status is ERROR; else None (ok)."""
    etype = attrs.get(semconv.ERROR_TYPE)
    if etype is not None:
        return str(etype)
    if span.status.code == _STATUS_ERROR:
        return "error"
    return None


def call_record(
    span: Any,
    attrs: Mapping[str, object],
    resource: Mapping[str, object],
    *,
    dialect: str,
    provider: str,
    operation: str,
    request_model: str | None,
    response_model: str | None,
    response_id: str | None,
    usage: Usage,
    flags: list[str],
    service_tier: str | None = None,
    stream_complete: bool | None = None,
) -> CallRecord:
    """A ``CallRecord`` with the envelope and the attribution every dialect carries the same way.

    Task attribution (``llm_otel.task.*``, ``llm_otel.team``) is read from the span, then from the
    resource: the llm-otel SDK puts it on every span started inside a task, whatever its
    instrumentation, and a service may carry it in its resource.
    """
    get = attrs.get
    parent = span.parent_span_id
    task_id = as_text(get(semconv.TASK_ID))
    task_type = as_text(get(semconv.TASK_TYPE))
    team = as_text(get(semconv.TEAM))
    if task_id is None or task_type is None or team is None:
        task_id = task_id or text(resource, semconv.TASK_ID)
        task_type = task_type or text(resource, semconv.TASK_TYPE)
        team = team or text(resource, semconv.TEAM)
    return CallRecord(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        provider=provider,
        operation=operation,
        request_model=request_model,
        response_model=response_model,
        response_id=response_id,
        usage=usage,
        dialect=dialect,
        parent_span_id=parent.hex() if parent else None,
        service_tier=service_tier,
        error_type=error_type(span, attrs),
        stream_complete=stream_complete,
        task_id=task_id,
        task_type=task_type,
        team=team,
        agent_name=as_text(get(semconv.GEN_AI_AGENT_NAME)),
        agent_id=as_text(get(semconv.GEN_AI_AGENT_ID)),
        prompt_template=as_text(get(semconv.PROMPT_TEMPLATE)),
        prompt_version=as_text(get(semconv.PROMPT_VERSION)),
        tools_count=_count(get(semconv.REQUEST_TOOLS_COUNT)),
        tools_bytes=_count(get(semconv.REQUEST_TOOLS_BYTES)),
        messages_count=_count(get(semconv.REQUEST_MESSAGES_COUNT)),
        service_name=as_text(resource.get(RESOURCE_SERVICE_NAME)),
        flags=tuple(flags) if flags else (),
    )


def _count(value: object) -> int | None:
    return value if type(value) is int and value >= 0 else None
