"""The span of one LLM API call, from request to the end of its response (or stream).

Provider wrappers (``sdk/openai*.py``, ``sdk/anthropic*.py``) call ``start_call`` before
the request and ``LLMCall.finish`` exactly when the response is complete, failed, or
the stream was closed or abandoned. Everything here is on the user's call path, so
every public function says what it guarantees on failure.

Hot path: one span start with all request attributes in one dict, one
``set_attributes`` at finish. Guarded by ``benchmarks/sdk_overhead.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from opentelemetry import trace
from opentelemetry.sdk.trace import Span as SDKSpan
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from llm_otel import semconv
from llm_otel.pricing.usage import Usage
from llm_otel.sdk import context

log = logging.getLogger("llm_otel")

_tracer: trace.Tracer | None = None


def set_tracer_provider(provider: trace.TracerProvider | None) -> None:
    """Pins the provider our spans go to (``None``: the global one, resolved lazily)."""
    global _tracer
    _tracer = trace.get_tracer(semconv.INSTRUMENTATION_SCOPE, _version(), tracer_provider=provider)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("llm-otel")
    except Exception:
        return "0"


def get_tracer() -> trace.Tracer:
    """Our tracer. Never raises."""
    global _tracer
    if _tracer is None:
        try:
            set_tracer_provider(None)
        except Exception:
            log.debug("llm-otel could not get a tracer", exc_info=True)
            _tracer = trace.NoOpTracer()
    assert _tracer is not None
    return _tracer


class LLMCall:
    """One API call's CLIENT span. ``finish`` ends it exactly once; later calls do nothing."""

    __slots__ = ("_done", "provider", "request_model", "span", "task")

    def __init__(self, span: Span, provider: str, request_model: str | None) -> None:
        self.span = span
        self.provider = provider
        self.request_model = request_model
        self._done = False
        # The task current when the call started: a stream may finish in another context (GC, thread).
        self.task = context.current_task()

    @property
    def done(self) -> bool:
        return self._done

    def finish(
        self,
        usage: Usage | None = None,
        *,
        response_model: str | None = None,
        response_id: str | None = None,
        finish_reasons: Sequence[str] | None = None,
        service_tier: str | None = None,
        stream_complete: bool | None = None,
        error: BaseException | None = None,
        error_type: str | None = None,
        attributes: Mapping[str, AttributeValue] | None = None,
    ) -> None:
        """Records the outcome and ends the span; the task's running totals see ``usage``.

        Never raises: a failure to record is logged at debug level and the span still ends.
        """
        if self._done:
            return
        self._done = True
        span = self.span
        try:
            attrs: dict[str, AttributeValue] = {}
            if usage is not None:
                attrs.update(usage.attributes())
            if response_model:
                attrs[semconv.GEN_AI_RESPONSE_MODEL] = response_model
            if response_id:
                attrs[semconv.GEN_AI_RESPONSE_ID] = response_id
            if finish_reasons:
                # A tuple: what the SDK would store for a list (and the fast path stores as is).
                attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = tuple(finish_reasons)
            if service_tier:
                attrs[semconv.SERVICE_TIER] = service_tier
            if stream_complete is not None:
                attrs[semconv.STREAM_COMPLETE] = stream_complete
            if attributes:
                attrs.update(attributes)
            if error is not None or error_type is not None:
                etype = error_type or type(error).__qualname__
                attrs[semconv.ERROR_TYPE] = etype
                set_plain_attributes(span, attrs)
                span.set_status(Status(StatusCode.ERROR, str(error) if error is not None else etype))
            else:
                set_plain_attributes(span, attrs)
        except Exception:
            log.debug("llm-otel could not record a call's outcome", exc_info=True)
        try:
            if usage is not None:
                context.on_call_finished(self.provider, response_model or self.request_model, usage, self.task)
        except Exception:
            log.debug("llm-otel could not update the task's totals", exc_info=True)
        try:
            span.end()
        except Exception:
            log.debug("llm-otel could not end a span", exc_info=True)


_PLAIN = (str, int, float, bool)


def set_plain_attributes(span: Span, attrs: dict[str, AttributeValue]) -> None:
    """``span.set_attributes(attrs)``, fast for the plain values a call's outcome has.

    Hot path (once per call; guarded by ``benchmarks/sdk_overhead.py``): the SDK's
    ``set_attributes`` re-validates every value (ABC ``isinstance`` checks per value), a
    third of a span's cost. When every value is already what the SDK would store (``str``,
    ``int``, ``float``, ``bool``, a tuple of ``str``), the span is a recording SDK span not
    yet ended, and its limits can neither truncate nor evict, the values go straight into its
    attribute dict under the same locks the SDK takes. Anything else takes the public path.
    May raise (the caller catches).
    """
    if isinstance(span, SDKSpan):
        longest = 0
        for value in attrs.values():
            vtype = type(value)
            if vtype is str:
                if len(value) > longest:  # type: ignore[arg-type]
                    longest = len(value)  # type: ignore[arg-type]
            elif vtype is tuple:
                for item in value:  # type: ignore[union-attr]
                    if type(item) is not str:
                        break
                    if len(item) > longest:
                        longest = len(item)
                else:
                    continue
                longest = -1
                break
            elif vtype not in _PLAIN:
                longest = -1
                break
        bounded = getattr(span, "_attributes", None)
        items = getattr(bounded, "_dict", None)
        if (
            longest >= 0
            and type(items) is dict
            and bounded._immutable is False  # type: ignore[union-attr]
            and (bounded.max_value_len is None or bounded.max_value_len >= longest)  # type: ignore[union-attr]
            and (bounded.maxlen is None or len(items) + len(attrs) <= bounded.maxlen)  # type: ignore[union-attr]
        ):
            with span._lock:
                if span._end_time is None:
                    with bounded._lock:  # type: ignore[union-attr]
                        items.update(attrs)
                    return
    span.set_attributes(attrs)


def start_call(
    operation: str,
    provider: str,
    request_model: str | None,
    attributes: dict[str, AttributeValue],
) -> LLMCall | None:
    """Starts the CLIENT span of one call, named ``"{operation} {model}"`` per the conventions.

    ``attributes`` (request parameters, server address, tool/message counts) is
    completed with operation, provider and model and handed to the span as is.
    Never raises: a span that cannot start is ``None``, and the call goes on without one.
    """
    try:
        attributes[semconv.GEN_AI_OPERATION_NAME] = operation
        attributes[semconv.GEN_AI_PROVIDER_NAME] = provider
        if request_model:
            attributes[semconv.GEN_AI_REQUEST_MODEL] = request_model
        span = get_tracer().start_span(
            f"{operation} {request_model}" if request_model else operation,
            kind=SpanKind.CLIENT,
            attributes=attributes,
        )
        return LLMCall(span, provider, request_model)
    except Exception:
        log.debug("llm-otel could not start a call span", exc_info=True)
        return None
