"""The span processor that stamps task / agent / team (and prompt on LLM spans) on every span.

It runs in ``on_start`` for EVERY span the provider starts, ours or any other
instrumentation's (the anthropic SDK's native span included), so it is written for
speed: one contextvar read and one ``set_attributes`` with a dict built when the scope
was entered (``sdk/context.Frame``). Guarded by ``benchmarks/sdk_overhead.py``.

Outside any local task it falls back to W3C baggage (``llm_otel.task.id``/``.type``,
``llm_otel.team``), so a downstream service that extracts OTel propagation headers
attributes its spans to the upstream task.

Never raises: a failure is logged at debug level and the span goes on unstamped.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.util.types import AttributeValue

from llm_otel import semconv
from llm_otel.sdk.context import _frame

log = logging.getLogger("llm_otel")

_OP = semconv.GEN_AI_OPERATION_NAME
_BAGGAGE_KEY: str | None = getattr(baggage, "_BAGGAGE_KEY", None)
_NO_BAGGAGE: Mapping[str, object] = {}
_BAGGAGE_KEYS = (
    (semconv.BAGGAGE_TASK_ID, semconv.TASK_ID),
    (semconv.BAGGAGE_TASK_TYPE, semconv.TASK_TYPE),
    (semconv.BAGGAGE_TEAM, semconv.TEAM),
)


class AttributionSpanProcessor(SpanProcessor):
    """Stamps ``llm_otel.task.*``, ``llm_otel.team``, ``gen_ai.agent.*`` (and the prompt on LLM spans)."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        try:
            frame = _frame.get()
            if frame is None:
                remote = _baggage_attributes(parent_context)
                if remote:
                    _stamp(span, remote, max(map(len, remote.values())))
                return
            attrs = frame.span_attrs
            if frame.llm_attrs is not attrs:
                # A prompt is set: it belongs on LLM spans only.
                started_with = span.attributes
                if started_with and _OP in started_with:
                    attrs = frame.llm_attrs
            if attrs:
                _stamp(span, attrs, frame.longest)
        except Exception:
            log.debug("llm-otel could not attribute a span", exc_info=True)

    def on_end(self, span: ReadableSpan) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _stamp(span: Span, attrs: Mapping[str, AttributeValue], longest: int) -> None:
    """``span.set_attributes(attrs)``, fast. Hot path: guarded by ``benchmarks/sdk_overhead.py`` ("core").

    The SDK's ``set_attributes`` re-validates every value (ABC ``isinstance`` checks), which
    costs several times more than the rest of ``on_start``. Our values were validated once,
    when the scope was entered (strings and numbers, at most ``longest`` characters), so for
    an SDK span whose attribute limits they fit in, they go straight into its attribute dict,
    under its lock. Anything else (another SDK version, limits that would truncate or evict)
    takes the public path.
    """
    try:
        bounded = span._attributes
        items = bounded._dict  # type: ignore[union-attr]
        if (
            type(items) is dict
            and bounded._immutable is False  # type: ignore[union-attr]
            and (bounded.max_value_len is None or bounded.max_value_len >= longest)  # type: ignore[union-attr]
            and (bounded.maxlen is None or len(items) + len(attrs) <= bounded.maxlen)  # type: ignore[union-attr]
        ):
            with bounded._lock:  # type: ignore[union-attr]
                items.update(attrs)
            return
    except AttributeError:
        pass
    span.set_attributes(attrs)


def _read_baggage(parent_context: Context | None) -> Mapping[str, object]:
    """The baggage of ``parent_context`` (current context when ``None``), without copying it.

    Hot path (every span outside a task): ``baggage.get_all`` wraps the dict in a new
    ``MappingProxyType`` per call; reading the context value directly avoids that when the
    API still keeps baggage under ``_BAGGAGE_KEY`` (else the public call).
    """
    if _BAGGAGE_KEY is None:
        return baggage.get_all(parent_context)
    entries = otel_context.get_value(_BAGGAGE_KEY, parent_context)
    return entries if isinstance(entries, dict) else _NO_BAGGAGE


def _baggage_attributes(parent_context: Context | None) -> dict[str, str] | None:
    """Task attributes from the W3C baggage of ``parent_context`` (the current context when ``None``)."""
    entries = _read_baggage(parent_context)
    if not entries or semconv.BAGGAGE_TASK_ID not in entries:
        return None
    out: dict[str, str] = {}
    for key, attr in _BAGGAGE_KEYS:
        value = entries.get(key)
        if value is not None:
            out[attr] = str(value)
    return out


def add_to(provider: TracerProvider) -> bool:
    """Adds one ``AttributionSpanProcessor`` to ``provider`` unless it already has one; True if added.

    It goes FIRST in the provider's processor chain when the SDK allows it, so that
    processors added before it (exporters that copy attributes in ``on_start``) see the stamps.
    """
    if has_attribution(provider):
        return False
    processor = AttributionSpanProcessor()
    multi = getattr(provider, "_active_span_processor", None)
    lock = getattr(multi, "_lock", None)
    procs = getattr(multi, "_span_processors", None)
    if multi is not None and lock is not None and isinstance(procs, tuple):
        with lock:
            multi._span_processors = (processor, *multi._span_processors)
        return True
    provider.add_span_processor(processor)
    return True


def has_attribution(provider: TracerProvider) -> bool:
    multi = getattr(provider, "_active_span_processor", None)
    procs = getattr(multi, "_span_processors", ())
    return any(isinstance(p, AttributionSpanProcessor) for p in procs)


def remove_from(provider: TracerProvider) -> None:
    """Removes our processor(s) from ``provider`` (used by ``uninstrument`` for providers we did not create)."""
    multi = getattr(provider, "_active_span_processor", None)
    lock = getattr(multi, "_lock", None)
    procs = getattr(multi, "_span_processors", None)
    if multi is None or lock is None or not isinstance(procs, tuple):
        return
    with lock:
        multi._span_processors = tuple(
            p for p in multi._span_processors if not isinstance(p, AttributionSpanProcessor)
        )
