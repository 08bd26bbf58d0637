"""The span of one LLM API call, from request to the end of its response (or stream).

Provider wrappers (``sdk/openai*.py``, ``sdk/anthropic*.py``) call ``start_call`` before
the request and ``LLMCall.finish`` exactly when the response is complete, failed, or
the stream was closed or abandoned. Everything here is on the user's call path, so
every public function says what it guarantees on failure.

Hot path (guarded by ``benchmarks/sdk_overhead.py``, "core: ... our wrapper alone"): the
span starts with the sampling-relevant attributes only (operation, provider, request
model, server address and port: what samplers and ``on_start`` processors may look at),
which the SDK validates one by one; every other request attribute waits in the
``LLMCall`` and goes onto the span with the outcome, in one locked write that skips
re-validation of values that are already what the SDK would store. The caller's current
context is passed in, so the SDK, the sampler and the span processors do not look it up
again.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Span as SDKSpan
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from llm_otel import semconv
from llm_otel.pricing.usage import IterationUsage, Usage
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
    """One API call's CLIENT span. ``finish`` ends it exactly once; later calls do nothing.

    ``pending``: request attributes not given at span start; ``finish`` writes them with the outcome.
    """

    __slots__ = ("_done", "pending", "provider", "request_model", "span", "task")

    def __init__(
        self,
        span: Span,
        provider: str,
        request_model: str | None,
        pending: dict[str, AttributeValue] | None = None,
    ) -> None:
        self.span = span
        self.provider = provider
        self.request_model = request_model
        self.pending = pending
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
            # The pending request attributes first, then the outcome (one dict, written once).
            attrs = self.pending
            self.pending = None
            if attrs is None:
                attrs = {}
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


def _usage_setters() -> tuple[Any, ...] | None:
    """The slot setters of ``Usage``'s fields, in ``new_usage``'s argument order; ``None`` (use the
    constructor) unless ``Usage`` is still exactly the frozen, slotted dataclass ``new_usage`` was
    written for, with no ``__post_init__``."""
    try:
        names = tuple(f.name for f in dataclasses.fields(Usage))
        if names != _USAGE_FIELDS or "__post_init__" in vars(Usage):
            return None
        setters = tuple(vars(Usage)[name].__set__ for name in names)
        probe = object.__new__(Usage)
        for setter, value in zip(setters, (1, 2, 3, 4, 5, 6, 7, 8, 9, (), True), strict=True):
            setter(probe, value)
        if probe != Usage(1, 2, 3, 4, 5, 6, 7, 8, 9, (), True):
            return None
        return setters
    except Exception:
        return None


_USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_write_30m_tokens",
    "cache_write_12h_tokens",
    "reasoning_tokens",
    "iterations",
    "estimated",
)
_SETTERS = _usage_setters()


def new_usage(
    input_tokens: int | None,
    output_tokens: int | None,
    cache_read_tokens: int | None,
    cache_write_tokens: int | None,
    cache_write_5m_tokens: int | None = None,
    cache_write_1h_tokens: int | None = None,
    cache_write_30m_tokens: int | None = None,
    cache_write_12h_tokens: int | None = None,
    reasoning_tokens: int | None = None,
    iterations: tuple[IterationUsage, ...] = (),
) -> Usage:
    """``Usage(...)`` (with ``estimated=False``), built faster. Hot path: once per call.

    A frozen dataclass's ``__init__`` sets each of its 11 fields through
    ``object.__setattr__``, a few us per call; this sets the slots directly (same object,
    ``==`` the constructor's), and falls back to the constructor if ``Usage`` changed shape.
    """
    setters = _SETTERS
    if setters is None:
        return Usage(
            input_tokens,
            output_tokens,
            cache_read_tokens,
            cache_write_tokens,
            cache_write_5m_tokens,
            cache_write_1h_tokens,
            cache_write_30m_tokens,
            cache_write_12h_tokens,
            reasoning_tokens,
            iterations,
        )
    usage = _new_object(Usage)
    s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10 = setters
    s0(usage, input_tokens)
    s1(usage, output_tokens)
    s2(usage, cache_read_tokens)
    s3(usage, cache_write_tokens)
    s4(usage, cache_write_5m_tokens)
    s5(usage, cache_write_1h_tokens)
    s6(usage, cache_write_30m_tokens)
    s7(usage, cache_write_12h_tokens)
    s8(usage, reasoning_tokens)
    s9(usage, iterations)
    s10(usage, False)
    return usage


_new_object = object.__new__


_PLAIN = (str, int, float, bool)
_SDK_SPAN_TYPES: set[type] = set()  # concrete span classes seen to be SDK spans (``isinstance`` on an ABC is slow)


def _is_sdk_span(span: object) -> bool:
    cls = type(span)
    if cls in _SDK_SPAN_TYPES:
        return True
    if isinstance(span, SDKSpan):
        _SDK_SPAN_TYPES.add(cls)
        return True
    return False


def _plain(attrs: dict[str, AttributeValue], max_len: int | None) -> bool:
    """Every value is what the SDK would store as is (``str``, ``int``, ``float``, ``bool``, a tuple of
    ``str``), and no string is longer than ``max_len`` (``None``: no limit)."""
    for value in attrs.values():
        vtype = type(value)
        if vtype is str:
            if max_len is not None and len(value) > max_len:  # type: ignore[arg-type]
                return False
        elif vtype is tuple:
            for item in value:  # type: ignore[union-attr]
                if type(item) is not str or (max_len is not None and len(item) > max_len):
                    return False
        elif vtype not in _PLAIN:
            return False
    return True


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
    if _is_sdk_span(span):
        bounded = getattr(span, "_attributes", None)
        items = getattr(bounded, "_dict", None)
        if (
            type(items) is dict
            and bounded._immutable is False  # type: ignore[union-attr]
            and (bounded.maxlen is None or len(items) + len(attrs) <= bounded.maxlen)  # type: ignore[union-attr]
            and _plain(attrs, bounded.max_value_len)  # type: ignore[union-attr]
        ):
            with span._lock:  # type: ignore[attr-defined]
                if span._end_time is None:  # type: ignore[attr-defined]
                    with bounded._lock:  # type: ignore[union-attr]
                        items.update(attrs)
                    return
    span.set_attributes(attrs)


def start_call(
    operation: str,
    provider: str,
    request_model: str | None,
    attributes: dict[str, AttributeValue],
    parent: Context | None = None,
    start_time: int | None = None,
) -> LLMCall | None:
    """Starts the CLIENT span of one call, named ``"{operation} {model}"`` per the conventions.

    The span starts with the sampling-relevant attributes: operation, provider, model, and
    ``server.address``/``server.port`` taken out of ``attributes`` (request parameters,
    tool/message counts), whose rest ``LLMCall.finish`` writes with the outcome. ``parent``:
    the context to start in, the current one when ``None`` (pass it when already read).
    ``start_time``: epoch ns when the request went out, for a span started after its response.
    Never raises: a span that cannot start is ``None``, and the call goes on without one.
    """
    try:
        at_start: dict[str, AttributeValue] = {_OPERATION: operation, _PROVIDER: provider}
        if request_model:
            at_start[_REQUEST_MODEL] = request_model
        address = attributes.pop(_SERVER_ADDRESS, None)
        if address is not None:
            at_start[_SERVER_ADDRESS] = address
        port = attributes.pop(_SERVER_PORT, None)
        if port is not None:
            at_start[_SERVER_PORT] = port
        span = get_tracer().start_span(
            f"{operation} {request_model}" if request_model else operation,
            context=parent,
            kind=SpanKind.CLIENT,
            attributes=at_start,
            start_time=start_time,
        )
        return LLMCall(span, provider, request_model, attributes)
    except Exception:
        log.debug("llm-otel could not start a call span", exc_info=True)
        return None


_OPERATION = semconv.GEN_AI_OPERATION_NAME
_PROVIDER = semconv.GEN_AI_PROVIDER_NAME
_REQUEST_MODEL = semconv.GEN_AI_REQUEST_MODEL
_SERVER_ADDRESS = semconv.SERVER_ADDRESS
_SERVER_PORT = semconv.SERVER_PORT
