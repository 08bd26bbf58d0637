"""The wrappers: ``request()`` of the SDK's sync and async base clients, and the native span hook.

Every Messages call of the SDK (``messages.create`` with or without ``stream``,
``messages.stream()``, ``messages.parse``, the ``beta.messages`` ones, their
``with_raw_response``/``with_streaming_response`` forms, on ``Anthropic``,
``AnthropicBedrock``, ``AnthropicVertex`` and the async clients) reaches
``SyncAPIClient.request``/``AsyncAPIClient.request`` once, with
``options.span_name == "anthropic.messages.create"``; that is the one hook. Retries
happen inside it, so one API call is one span. ``count_tokens`` and every other
endpoint pass straight through (a token count is not spend).

Native span: ``request()`` starts the SDK's own span through the module global
``anthropic._base_client.start_api_call_span``. While our wrapper runs it sets
``_TAKEOVER``, and the hook then returns ``None``: the SDK's "no span" path, so none
of the native machinery runs (its ~210 us per call is not paid) and our span is the
only usage-bearing one. What the native span did that users rely on, we do: trace
context goes out with the request (``_propagate``: only where the SDK would have
propagated, once per call, before the request is built and signed), and
``anthropic.request.id`` is recorded from the response header. A client with native
tracing off never calls the hook.

Failure isolation: the only exception raised from here into user code is
``BudgetExceeded`` (before anything is sent); everything else is caught, and the
user's call then goes on as if uninstrumented.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.trace import Span

from llm_otel import semconv
from llm_otel.errors import BudgetExceeded
from llm_otel.sdk import context
from llm_otel.sdk.anthropic.coexist import ForeignCall, foreign_owner
from llm_otel.sdk.anthropic.request import MESSAGES_CREATE_SPAN_NAME, request_attributes
from llm_otel.sdk.anthropic.stream import CallSink, attach, error_type, finish_message, new_recorder
from llm_otel.sdk.call import start_call

log = logging.getLogger("llm_otel")

_TAKEOVER: ContextVar[bool] = ContextVar("llm_otel_anthropic_takeover", default=False)
_BAGGAGE_KEY: str | None = getattr(baggage, "_BAGGAGE_KEY", None)


class _State:
    enabled = False
    stream_types: tuple[Any, ...] = ()
    raw_types: tuple[Any, ...] = ()
    response_type: Any = None


state = _State()


def native_span_hook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Stands in for ``start_api_call_span``: no native span for a call we instrument. Never raises."""
    if not _TAKEOVER.get():
        return wrapped(*args, **kwargs)
    _TAKEOVER.set(False)  # consumed: a nested call (from a middleware) gets its own native span
    return None


def _reset(token: Any) -> None:
    try:
        _TAKEOVER.reset(token)
    except Exception:
        _TAKEOVER.set(False)


def _propagate(client: Any, options: Any, span: Span, ctx: Context | None) -> None:
    """Sends ``span``'s trace context with the request where the SDK's own span would have. Never raises.

    The SDK propagates only while its tracing is on and its ``propagation`` option is; so do we.
    The headers go into this call's options before the SDK builds the request (once per call,
    with the registered propagators); nothing replaces them later, so a Bedrock signature stays valid.
    ``ctx``: the caller's current context (``None``: read it here), the one ``span`` started in.
    """
    try:
        if client._tracer is None or not client._open_telemetry.get("propagation", True):
            return
        carrier = trace_headers(span, ctx)
        if carrier:
            headers = options.headers
            # ``type() is dict`` first: an ABC ``isinstance`` costs ~0.4 us.
            mapping = type(headers) is dict or isinstance(headers, Mapping)
            options.headers = {**headers, **carrier} if mapping else carrier
    except Exception:
        log.debug("llm-otel could not send the trace context of an anthropic call", exc_info=True)


_default_propagators: tuple[Any, Any, Any] | None = None  # (global textmap, its TraceContext, its W3C baggage)
_propagate_module: Any = None  # opentelemetry.propagate, imported on first use (its import loads the propagators)


def trace_headers(span: Span, ctx: Context | None) -> dict[str, str]:
    """What the registered propagators inject for ``span`` as the current span of ``ctx``. May raise.

    Hot path (once per call, native tracing on; ``benchmarks/sdk_overhead.py``): with the default
    propagators (``tracecontext,baggage``, exactly those two classes) the ``traceparent`` and
    ``tracestate`` headers are written here as ``TraceContextTextMapPropagator.inject`` writes them,
    and the baggage propagator runs only when the context has baggage, which saves building a
    context around the span and the composite's dispatch. Any other propagator setup: ``inject``.
    """
    global _default_propagators, _propagate_module
    if ctx is None:
        ctx = otel_context.get_current()
    propagate = _propagate_module
    if propagate is None:
        from opentelemetry import propagate

        _propagate_module = propagate
    textmap = propagate.get_global_textmap()
    known = _default_propagators
    if known is None or known[0] is not textmap:
        known = _default_propagators = _split_default(textmap)
    carrier: dict[str, str] = {}
    if known[1] is None or _BAGGAGE_KEY is None:
        propagate.inject(carrier, context=trace.set_span_in_context(span, ctx))
        return carrier
    span_context = span.get_span_context()
    if span_context != trace.INVALID_SPAN_CONTEXT:
        # The format of TraceContextTextMapPropagator.inject (format_trace_id is "032x", format_span_id "016x").
        trace_id, span_id, flags = span_context.trace_id, span_context.span_id, span_context.trace_flags
        carrier["traceparent"] = f"00-{trace_id:032x}-{span_id:016x}-{flags:02x}"
        if span_context.trace_state:
            carrier["tracestate"] = span_context.trace_state.to_header()
    if ctx.get(_BAGGAGE_KEY):
        known[2].inject(carrier, context=ctx)
    return carrier


def _split_default(textmap: Any) -> tuple[Any, Any, Any]:
    """``(textmap, TraceContext propagator, baggage propagator)`` when ``textmap`` is the default
    composite of exactly those two, else ``(textmap, None, None)``."""
    from opentelemetry.baggage.propagation import W3CBaggagePropagator
    from opentelemetry.propagators.composite import CompositePropagator
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    propagators = getattr(textmap, "_propagators", None)
    if (
        type(textmap) is CompositePropagator
        and _BAGGAGE_KEY is not None
        and isinstance(propagators, (list, tuple))
        and len(propagators) == 2
        and type(propagators[0]) is TraceContextTextMapPropagator
        and type(propagators[1]) is W3CBaggagePropagator
        and TraceContextTextMapPropagator._TRACEPARENT_HEADER_NAME == "traceparent"
        and TraceContextTextMapPropagator._TRACESTATE_HEADER_NAME == "tracestate"
    ):
        return textmap, propagators[0], propagators[1]
    return textmap, None, None


def _options_of(args: Any, kwargs: Any) -> Any:
    return args[1] if len(args) > 1 else kwargs.get("options")


def _check_budget() -> None:
    """``BudgetExceeded`` passes through; any other failure of the check is ours and is swallowed."""
    try:
        context.check_budget()
    except BudgetExceeded:
        raise
    except Exception:
        log.debug("llm-otel could not check the task's budget", exc_info=True)


def _current_context() -> Context | None:
    """The current context, read once per call and passed on (``None`` if it cannot be read). Never raises."""
    try:
        return otel_context.get_current()
    except Exception:
        return None


def _begin(client: Any, options: Any, stream: bool, ctx: Context | None) -> tuple[CallSink | None, Span | None]:
    """Starts our span (or adopts a foreign one) in ``ctx``. Returns the call and the span whose context to send."""
    try:
        provider = getattr(client, "_gen_ai_provider_name", None) or semconv.PROVIDER_ANTHROPIC
        model, attrs = request_attributes(client, options, stream)
        owned, span = foreign_owner()
        if owned:
            call = ForeignCall(span, provider, model)
            call.add_request_attributes(attrs)
            return call, span or trace.get_current_span(ctx)
        ours = start_call(semconv.OP_CHAT, provider, model, attrs, ctx)
        if ours is None:
            return None, None
        return ours, ours.span
    except Exception:
        log.debug("llm-otel could not start an anthropic call", exc_info=True)
        return None, None


def _fail(call: CallSink, err: BaseException) -> None:
    """The call raised: record the error (a cancellation is no error). Never raises."""
    try:
        if not isinstance(err, Exception):
            call.finish()
            return
        attributes = None
        response = getattr(err, "response", None)
        rid = response.headers.get("request-id") if response is not None else None
        if rid:
            attributes = {"anthropic.request.id": rid}
        call.finish(error=err, error_type=error_type(err), attributes=attributes)
    except Exception:
        log.debug("llm-otel could not record a failed call", exc_info=True)
        call.finish()


def _complete(call: CallSink, result: Any) -> None:
    """Records what the call returned, now or when its body ends. Never raises."""
    try:
        if isinstance(result, state.stream_types):
            attach(result.response, call, buffer=False)
            return
        http = None
        if isinstance(result, state.raw_types):
            http = result.http_response
        elif state.response_type is not None and isinstance(result, state.response_type):
            http = result
        if http is None:
            finish_message(call, result, getattr(result, "_request_id", None))
            return
        if not http.is_closed:
            attach(http, call, buffer=True)
            return
        headers = http.headers
        sse = "event-stream" in (headers.get("content-type") or "")
        recorder = new_recorder(call, sse=sse, request_id=headers.get("request-id"))
        recorder.body_end("read", None, http.content)
    except Exception:
        log.debug("llm-otel could not record an anthropic response", exc_info=True)
        call.finish()


def request_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Wraps ``SyncAPIClient.request``."""
    if not state.enabled:
        return wrapped(*args, **kwargs)
    try:
        instrumented = _options_of(args, kwargs).span_name == MESSAGES_CREATE_SPAN_NAME
    except Exception:
        instrumented = False
    if not instrumented:
        return wrapped(*args, **kwargs)
    _check_budget()
    options = _options_of(args, kwargs)
    ctx = _current_context()
    call, carried = _begin(instance, options, bool(kwargs.get("stream")), ctx)
    if call is None:
        return wrapped(*args, **kwargs)
    if carried is not None:
        _propagate(instance, options, carried, ctx)
    token = _TAKEOVER.set(True)
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as err:
        _reset(token)
        _fail(call, err)
        raise
    _reset(token)
    _complete(call, result)
    return result


async def async_request_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Wraps ``AsyncAPIClient.request``."""
    if not state.enabled:
        return await wrapped(*args, **kwargs)
    try:
        instrumented = _options_of(args, kwargs).span_name == MESSAGES_CREATE_SPAN_NAME
    except Exception:
        instrumented = False
    if not instrumented:
        return await wrapped(*args, **kwargs)
    _check_budget()
    options = _options_of(args, kwargs)
    ctx = _current_context()
    call, carried = _begin(instance, options, bool(kwargs.get("stream")), ctx)
    if call is None:
        return await wrapped(*args, **kwargs)
    if carried is not None:
        _propagate(instance, options, carried, ctx)
    token = _TAKEOVER.set(True)
    try:
        result = await wrapped(*args, **kwargs)
    except BaseException as err:
        _reset(token)
        _fail(call, err)
        raise
    _reset(token)
    _complete(call, result)
    return result
