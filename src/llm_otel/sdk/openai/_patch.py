"""The wrappers around ``SyncAPIClient.request`` / ``AsyncAPIClient.request`` (openai 3.x).

Every resource method (``chat.completions.create/parse/stream``, ``responses.*``,
``embeddings.create``, ``completions.create``, their ``with_raw_response`` and
``with_streaming_response`` variants, Azure and provider clients) ends in
``client.request(cast_to, options, stream=..., stream_cls=...)``, called as
``self.request`` at call time, so one wrapper per base class covers them all,
including resources created before ``install()``. Only POSTs to the inference
endpoints (``_request.ENDPOINTS``) get a span; everything else passes straight through.

Failure isolation: the only exception llm-otel raises into the app is
``BudgetExceeded`` (before the request is sent). Whatever the client raises is
re-raised unchanged; whatever our code raises is logged at debug level and the
app's call returns exactly what it would have returned uninstrumented.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.context import Context

from llm_otel import semconv
from llm_otel.errors import BudgetExceeded
from llm_otel.sdk import context
from llm_otel.sdk.call import LLMCall, start_call
from llm_otel.sdk.openai import _content, _recorded
from llm_otel.sdk.openai._coexist import AdoptedSpan, DeferredCall, foreign_span, inside_late_span_wrapper
from llm_otel.sdk.openai._raw import observe_raw
from llm_otel.sdk.openai._request import RequestPlan, plan_request
from llm_otel.sdk.openai._response import outcome_for
from llm_otel.sdk.openai._state import StreamState
from llm_otel.sdk.openai._streams import trace_stream

log = logging.getLogger("llm_otel")

try:
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY as _SUPPRESS_KEY
except ImportError:  # pragma: no cover - very old opentelemetry-api
    _SUPPRESS_KEY = "suppress_instrumentation"


_NOT_TRACED: Any = object()


def _context() -> Any:
    """The current OpenTelemetry context, read once per call (span start, sampler and span
    processors get it passed in); ``_NOT_TRACED`` inside ``suppress_instrumentation()``,
    ``None`` if it cannot be read (the SDK then reads it itself). Never raises."""
    try:
        ctx = otel_context.get_current()
        return _NOT_TRACED if ctx.get(_SUPPRESS_KEY) else ctx
    except Exception:
        return None


def _start(plan: RequestPlan, ctx: Context | None) -> LLMCall | None:
    """Our call span, or the adopted foreign span. Never raises."""
    try:
        span = foreign_span(ctx)
        if span is not None:
            attrs = plan.attributes
            attrs[semconv.GEN_AI_OPERATION_NAME] = plan.operation
            attrs[semconv.GEN_AI_PROVIDER_NAME] = plan.provider
            if plan.model:
                attrs[semconv.GEN_AI_REQUEST_MODEL] = plan.model
            adopted = AdoptedSpan(span)
            adopted.set_attributes(attrs)
            return LLMCall(adopted, plan.provider, plan.model)  # type: ignore[arg-type]
        if inside_late_span_wrapper():
            # Its usage span may come after we return: decided when the call finishes.
            return DeferredCall(plan.operation, plan.provider, plan.model, plan.attributes, plan.stream, plan.raw)
        return start_call(plan.operation, plan.provider, plan.model, plan.attributes, ctx)
    except Exception:
        log.debug("llm-otel could not start an openai call span", exc_info=True)
        return None


def _check_budget() -> None:
    """Raises ``BudgetExceeded``; any other failure of the check is swallowed."""
    try:
        context.check_budget()
    except BudgetExceeded:
        raise
    except Exception:
        log.debug("llm-otel budget check failed; the call goes on", exc_info=True)


def _args_with(args: tuple[Any, ...], kwargs: dict[str, Any], options: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if len(args) > 1:
        return (args[0], options, *args[2:]), kwargs
    return args, {**kwargs, "options": options}


def _options_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return args[1] if len(args) > 1 else kwargs.get("options")


def _failed(call: LLMCall | None, exc: BaseException) -> None:
    if call is not None:
        try:
            call.finish(error=exc)
        except Exception:
            log.debug("llm-otel could not record a failed openai call", exc_info=True)


_TERMINAL = frozenset({"completed", "incomplete", "failed", "cancelled"})


def _retrieved(plan: RequestPlan, result: Any, ctx: Context | None, start_ns: int) -> Any:
    """A retrieved Response: one span, started when the request went out, if it brings usage that no
    span of this process carries yet (a background response read in a terminal state). Never raises."""
    try:
        out = outcome_for("responses", result)
        status = out.finish_reasons[0] if out.finish_reasons else None
        if out.usage is None or status not in _TERMINAL or not out.response_id:
            return result
        if not _recorded.claim(out.response_id):
            return result
        call = start_call(plan.operation, plan.provider, out.response_model, plan.attributes, ctx, start_ns)
        if call is not None:
            _recorded.finish(call, out, claim_id=False)  # claimed above, before the span started
    except Exception:
        log.debug("llm-otel could not record a retrieved openai response", exc_info=True)
    return result


def _observe(call: LLMCall | None, plan: RequestPlan, result: Any, is_async: bool) -> Any:
    """What the app gets back: ``result`` itself, or its stream proxied. Never raises."""
    try:
        if plan.raw:
            if call is not None:
                observe_raw(call, plan.kind, plan.stream, result)
            return result
        if plan.stream:
            return trace_stream(result, StreamState(call, plan.kind), plan.hide_usage_chunk, is_async)
        if call is not None:
            out = outcome_for(plan.kind, result)
            extra = None
            if _content.enabled():
                try:
                    extra = _content.output_attributes(plan.kind, result)
                except Exception:
                    log.debug("llm-otel could not record openai output messages", exc_info=True)
            _recorded.finish(call, out, claim_id=plan.kind == "responses", attributes=extra)
    except Exception:
        log.debug("llm-otel could not read an openai response", exc_info=True)
        if call is not None:
            try:
                call.finish()
            except Exception:
                log.debug("llm-otel could not end a span", exc_info=True)
    return result


# False after uninstall(): a copy of our wrapper another instrumentation kept (OpenInference's
# uninstrument() puts back whatever it found, ours included) then passes straight through.
active = False


def sync_request(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Wrapper of ``SyncAPIClient.request``."""
    if not active:
        return wrapped(*args, **kwargs)
    ctx = _context()
    if ctx is _NOT_TRACED:
        return wrapped(*args, **kwargs)
    options = _options_of(args, kwargs)
    plan = plan_request(instance, options, bool(kwargs.get("stream", False))) if options is not None else None
    if plan is None:
        return wrapped(*args, **kwargs)
    if plan.retrieve:  # reading a response costs nothing: no budget check, a span only if it brings usage
        start_ns = time.time_ns()
        return _retrieved(plan, wrapped(*args, **kwargs), ctx, start_ns)
    _check_budget()
    call = _start(plan, ctx)
    if plan.options is not options:
        args, kwargs = _args_with(args, kwargs, plan.options)
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        _failed(call, exc)
        raise
    return _observe(call, plan, result, False)


async def async_request(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Wrapper of ``AsyncAPIClient.request``."""
    if not active:
        return await wrapped(*args, **kwargs)
    ctx = _context()
    if ctx is _NOT_TRACED:
        return await wrapped(*args, **kwargs)
    options = _options_of(args, kwargs)
    plan = plan_request(instance, options, bool(kwargs.get("stream", False))) if options is not None else None
    if plan is None:
        return await wrapped(*args, **kwargs)
    if plan.retrieve:  # reading a response costs nothing: no budget check, a span only if it brings usage
        start_ns = time.time_ns()
        return _retrieved(plan, await wrapped(*args, **kwargs), ctx, start_ns)
    _check_budget()
    call = _start(plan, ctx)
    if plan.options is not options:
        args, kwargs = _args_with(args, kwargs, plan.options)
    try:
        result = await wrapped(*args, **kwargs)
    except BaseException as exc:
        _failed(call, exc)
        raise
    return _observe(call, plan, result, True)
