"""Which dialect reader a span goes to: by instrumentation scope first, by marker attributes after.

Hot path (every span the processor receives). The scope decides for our own spans, the
anthropic SDK's, OpenInference's and OpenLIT's, and the decision is cached per scope name,
so a span costs one envelope check, one attribute decode and one dict lookup before its
reader runs. Scopes that do not decide (``opentelemetry.instrumentation.*`` is used by
both OpenLLMetry and the official contrib packages, and any other scope may carry GenAI
attributes) are told apart by attributes only one of them writes. No regexes.
Guarded by ``tests/processor/test_dialect_speed.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from llm_otel import semconv
from llm_otel.processor.dialects import (
    anthropic_native,
    common,
    openinference,
    openlit,
    openllmetry,
    otel_genai,
    own,
)
from llm_otel.processor.dialects.attributes import decode_attributes
from llm_otel.processor.record import AvoidedRecord, CallRecord, TaskSpanRecord

Record = CallRecord | TaskSpanRecord | AvoidedRecord
Reader = Callable[[Any, Mapping[str, object], Mapping[str, object]], Record | None]

_MAX_CACHED_SCOPES: Final = 4096  # scope names come from senders: bound what they can make us keep


def read_by_markers(span: Any, attrs: Mapping[str, object], resource: Mapping[str, object]) -> Record | None:
    """The reader for a scope that does not say which dialect it writes."""
    if openinference.SPAN_KIND in attrs:
        return openinference.read(span, attrs, resource)
    if openlit.is_openlit(attrs):
        return openlit.read(span, attrs, resource)
    if openllmetry.has_markers(attrs):
        return openllmetry.read(span, attrs, resource)
    if semconv.GEN_AI_OPERATION_NAME in attrs:
        return otel_genai.read(span, attrs, resource)
    return None


def reader_for_scope(scope_name: str) -> Reader:
    """The reader for spans of one instrumentation scope (uncached; see ``_reader``)."""
    if scope_name == semconv.INSTRUMENTATION_SCOPE or scope_name.startswith(semconv.INSTRUMENTATION_SCOPE + "."):
        return own.read
    if scope_name == anthropic_native.SCOPE or scope_name.startswith(anthropic_native.SCOPE + "."):
        return anthropic_native.read
    if scope_name.startswith("openinference."):
        return openinference.read
    if scope_name == openlit.SCOPE_PREFIX or scope_name.startswith(openlit.SCOPE_PREFIX + "."):
        return openlit.read
    return read_by_markers


_readers: dict[str, Reader] = {}


def _reader(scope_name: str) -> Reader:
    reader = _readers.get(scope_name)
    if reader is None:
        reader = reader_for_scope(scope_name)
        if len(_readers) < _MAX_CACHED_SCOPES:
            _readers[scope_name] = reader
    return reader


def normalize(span: Any, resource_attributes: Mapping[str, object], scope_name: str) -> Record | None:
    """One OTLP span as a ``CallRecord`` (a leaf LLM call), a ``TaskSpanRecord``, an ``AvoidedRecord``
    (a call ``skip_unchanged`` skipped), or None (anything else).

    None for HTTP/DB spans, count-tokens calls, and agent/workflow/chain spans that carry
    sums of their children (they must never be priced). Raises ``MalformedSpan`` for a span
    that must be rejected (bad ids, times, or token counts); the caller keeps the others.
    """
    common.check_envelope(span)
    return _reader(scope_name)(span, decode_attributes(span.attributes), resource_attributes)


def normalize_decoded(
    span: Any, attributes: Mapping[str, object], resource_attributes: Mapping[str, object], scope_name: str
) -> Record | None:
    """``normalize`` for a caller that has decoded the span's attributes already (with ``decode_attributes``)."""
    common.check_envelope(span)
    return _reader(scope_name)(span, attributes, resource_attributes)
