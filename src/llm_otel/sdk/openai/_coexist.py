"""Living alongside other OpenAI instrumentations: exactly one usage-bearing span per call.

Two shapes of other instrumentation wrap the resource methods (``Completions.create``
...), outside llm-otel's wrapper on ``client.request``:

- Span around the call (official ``opentelemetry-instrumentation-genai-openai``,
  OpenLLMetry's chat/completions/embeddings wrappers, OpenInference): their span is
  the current span when our wrapper runs. We ADOPT it: our request attributes go on
  it at once, our usage and response attributes when the call finishes, and the
  owner's later writes to those keys are dropped, so for every key both write, ours
  (exact, per ``../shared/corpus/README.md``) is the final value. Its owner ends it.
- Span started after the call returns (OpenLLMetry's Responses API wrapper): there is
  nothing to adopt while we run, and a span of ours would be a second usage-bearing
  span. We detect that wrapper on the call stack and defer (``DeferredCall``): when
  it will emit its span (a ``completed`` response, a non-raw stream, an error) we
  start none, else we emit ours, backdated to the call's start. The call counts in
  the task's totals either way. Its span carries OpenLLMetry's dialect.

Everything here runs under the wrapper's guard and never raises into the app.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from types import FrameType
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind

from llm_otel import semconv
from llm_otel.sdk.call import LLMCall, get_tracer

log = logging.getLogger("llm_otel")

# Instrumentation scopes whose current span is a usage-bearing span of this very call.
FOREIGN_SCOPES: tuple[str, ...] = (
    "opentelemetry.instrumentation.genai.openai",  # official (opentelemetry-instrumentation-genai-openai)
    "opentelemetry.instrumentation.openai_v2",  # official, older name
    "opentelemetry.instrumentation.openai",  # OpenLLMetry (opentelemetry-instrumentation-openai), v0/v1
    "opentelemetry.util.genai",  # util-genai TelemetryHandler spans
    "openinference.instrumentation.openai",
)

# Wrappers that start their span after the wrapped call returned: (module, function names).
_LATE_SPAN_WRAPPERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "opentelemetry.instrumentation.openai.v1.responses_wrappers",
        ("responses_get_or_create_wrapper", "async_responses_get_or_create_wrapper"),
    ),
)
_MAX_FRAMES = 40


class AdoptedSpan:
    """Another instrumentation's span of this call, seen through ``LLMCall``: its owner ends it.

    Keys we set are ours from then on: the owner's later writes to them are dropped
    (``set_attribute(s)`` on that span instance are filtered), so our exact values
    stand whatever order the two instrumentations write in. Keys only the owner
    writes (its own dialect) are left alone.
    """

    __slots__ = ("_attributes", "_span")

    def __init__(self, span: Span) -> None:
        span = _unproxied(span)  # OpenInference hands out a wrapt proxy of the SDK span
        self._span = span
        self._attributes: dict[str, Any] = {}
        _filter_owner_writes(span, self._attributes)

    def set_attributes(self, attributes: Any) -> None:
        self._attributes.update(attributes)
        type(self._span).set_attributes(self._span, attributes)

    def set_status(self, *args: Any, **kwargs: Any) -> None:
        self._span.set_status(*args, **kwargs)

    def end(self, *args: Any, **kwargs: Any) -> None:
        return None  # the owner ends it


def _unproxied(span: Any) -> Any:
    for _ in range(5):
        inner = getattr(span, "__wrapped__", None)
        if inner is None:
            break
        span = inner
    return span


def _filter_owner_writes(span: Any, owned: dict[str, Any]) -> None:
    """Drops the owner's writes to keys in ``owned`` (outlives our call: the owner may write later)."""
    cls = type(span)

    def set_attributes(attributes: Any) -> None:
        if owned and attributes:
            try:
                attributes = {k: v for k, v in attributes.items() if k not in owned}
            except Exception:
                log.debug("llm-otel could not filter an adopted span's attributes", exc_info=True)
        cls.set_attributes(span, attributes)

    def set_attribute(key: str, value: Any) -> None:
        if key in owned:
            return
        cls.set_attribute(span, key, value)

    def end(*args: Any, **kwargs: Any) -> None:
        for name in ("set_attributes", "set_attribute", "end"):  # back to the class: no cycle left
            with contextlib.suppress(Exception):
                delattr(span, name)
        cls.end(span, *args, **kwargs)

    try:
        span.set_attributes = set_attributes
        span.set_attribute = set_attribute
        span.end = end
    except Exception:
        log.debug("llm-otel could not hook an adopted span", exc_info=True)


def foreign_span(ctx: Context | None = None) -> Span | None:
    """The current span (of ``ctx``, or of the current context), if it is another GenAI
    instrumentation's span of this very call."""
    span = trace.get_current_span(ctx)
    if not span.is_recording():
        return None
    scope = getattr(span, "instrumentation_scope", None)
    name = getattr(scope, "name", None) or ""
    return span if name.startswith(FOREIGN_SCOPES) else None


def inside_late_span_wrapper() -> bool:
    """True when a wrapper that starts its usage span after the call returns is on the call stack.

    Costs a dict lookup unless such an instrumentation is imported (we never import it).
    """
    modules = sys.modules
    for name, functions in _LATE_SPAN_WRAPPERS:
        if name in modules:
            return _on_stack(name, functions)
    return False


def _on_stack(module_name: str, functions: tuple[str, ...]) -> bool:
    frame: FrameType | None = sys._getframe(2)
    depth = 0
    while frame is not None and depth < _MAX_FRAMES:
        if frame.f_code.co_name in functions and frame.f_globals.get("__name__") == module_name:
            return True
        frame = frame.f_back
        depth += 1
    return False


class DeferredCall(LLMCall):
    """A call inside a late-span wrapper: whether we emit a span is known only when it finishes.

    OpenLLMetry's Responses wrapper emits its usage span after the call for a
    ``completed`` response and for a (non-raw) stream, and none for other statuses or
    for a raw stream: then the span is ours, started at the call's start time. Either
    way the call counts in the task's totals.
    """

    __slots__ = ("_attributes", "_operation", "_raw", "_start_ns", "_stream")

    def __init__(
        self,
        operation: str,
        provider: str,
        model: str | None,
        attributes: dict[str, Any],
        stream: bool,
        raw: bool,
    ) -> None:
        super().__init__(trace.INVALID_SPAN, provider, model)
        self._operation = operation
        self._attributes = attributes
        self._stream = stream
        self._raw = raw
        self._start_ns = time.time_ns()

    def _theirs(self, finish_reasons: Any, error: Any) -> bool:
        if error is not None:
            return True  # their except branch records the failure
        if self._stream:
            return not self._raw
        return list(finish_reasons or ()) == ["completed"]

    def finish(self, usage: Any = None, **kwargs: Any) -> None:
        if not self.done:
            try:
                if not self._theirs(kwargs.get("finish_reasons"), kwargs.get("error")):
                    self.span = _start_span(
                        self._operation, self.provider, self.request_model, self._attributes, self._start_ns
                    )
            except Exception:
                log.debug("llm-otel could not start a deferred span", exc_info=True)
        super().finish(usage, **kwargs)


def _start_span(operation: str, provider: str, model: str | None, attributes: dict[str, Any], start_ns: int) -> Span:
    attributes[semconv.GEN_AI_OPERATION_NAME] = operation
    attributes[semconv.GEN_AI_PROVIDER_NAME] = provider
    if model:
        attributes[semconv.GEN_AI_REQUEST_MODEL] = model
    return get_tracer().start_span(
        f"{operation} {model}" if model else operation,
        kind=SpanKind.CLIENT,
        attributes=attributes,
        start_time=start_ns,
    )
