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
``_TAKEOVER`` to the span whose context the request should carry, and the hook then
returns a non-recording span with that context instead of starting one. The SDK goes
on exactly as with its own span (trace context injected after Bedrock signs,
HTTP-client spans parented to it) but records nothing, so there is one usage-bearing
span (ours) and the native cost (~210 us per call) is not paid. A client with native
tracing off never calls the hook.

Failure isolation: the only exception raised from here into user code is
``BudgetExceeded`` (before anything is sent); everything else is caught, and the
user's call then goes on as if uninstrumented.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, Span

from llm_otel import semconv
from llm_otel.errors import BudgetExceeded
from llm_otel.sdk import context
from llm_otel.sdk.anthropic.coexist import ForeignCall, foreign_owner
from llm_otel.sdk.anthropic.request import MESSAGES_CREATE_SPAN_NAME, request_attributes
from llm_otel.sdk.anthropic.stream import BodyRecorder, CallSink, attach, error_type, finish_message
from llm_otel.sdk.call import start_call

log = logging.getLogger("llm_otel")

_TAKEOVER: ContextVar[Span | None] = ContextVar("llm_otel_anthropic_takeover", default=None)


class _State:
    enabled = False
    stream_types: tuple[Any, ...] = ()
    raw_types: tuple[Any, ...] = ()
    response_type: Any = None


state = _State()


def native_span_hook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Stands in for ``start_api_call_span``: for a call we instrument, a non-recording span. Never raises."""
    span = _TAKEOVER.get()
    if span is None:
        return wrapped(*args, **kwargs)
    _TAKEOVER.set(None)  # consumed: a nested call (from a middleware) gets its own native span
    try:
        ctx = span.get_span_context()
        return NonRecordingSpan(ctx) if ctx.is_valid else None
    except Exception:
        return None


def _reset(token: Any) -> None:
    try:
        _TAKEOVER.reset(token)
    except Exception:
        _TAKEOVER.set(None)


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


def _begin(client: Any, options: Any, stream: bool) -> tuple[CallSink | None, Span | None]:
    """Starts our span (or adopts a foreign one). Returns the call and the span whose context to send."""
    try:
        provider = getattr(client, "_gen_ai_provider_name", None) or semconv.PROVIDER_ANTHROPIC
        model, attrs = request_attributes(client, options, stream)
        owned, span = foreign_owner()
        if owned:
            call = ForeignCall(span, provider, model)
            call.add_request_attributes(attrs)
            return call, span or trace.get_current_span()
        ours = start_call(semconv.OP_CHAT, provider, model, attrs)
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
        recorder = BodyRecorder(call, sse=sse, request_id=headers.get("request-id"))
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
    call, carried = _begin(instance, _options_of(args, kwargs), bool(kwargs.get("stream")))
    if call is None:
        return wrapped(*args, **kwargs)
    token = _TAKEOVER.set(carried or trace.INVALID_SPAN)
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
    call, carried = _begin(instance, _options_of(args, kwargs), bool(kwargs.get("stream")))
    if call is None:
        return await wrapped(*args, **kwargs)
    token = _TAKEOVER.set(carried or trace.INVALID_SPAN)
    try:
        result = await wrapped(*args, **kwargs)
    except BaseException as err:
        _reset(token)
        _fail(call, err)
        raise
    _reset(token)
    _complete(call, result)
    return result
