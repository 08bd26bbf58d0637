"""Coexistence with other Anthropic instrumentations that put ``gen_ai.usage.*`` on a span of their own.

Known: OpenLLMetry's ``opentelemetry-instrumentation-anthropic`` (module
``opentelemetry.instrumentation.anthropic``) and the official
``opentelemetry-instrumentation-genai-anthropic`` (``opentelemetry.instrumentation.genai.anthropic``).
Both wrap the resource methods (``Messages.create``/``stream``/``parse``), i.e. OUTSIDE the
base client's ``request()`` where llm-otel hooks in, so they have started their span
before we see the call and we cannot suppress it. Rule: the instrumentation that
wrapped the call owns its one usage-bearing span; llm-otel then adds no span of its
own (``ForeignCall``), still checks the budget, still counts the call in the task's
running totals, still suppresses the SDK's native span, and adds its ``llm_otel.*``
extras (TTL split, service tier, iterations, stream completeness, tool and message
counts, plus any ``gen_ai.usage.*`` the span lacks) to the foreign span when that span
is current (the official one makes it so; OpenLLMetry does not, so its spans get none).

Detection is per call and exact: a frame of one of those modules is among the callers
of ``request()`` (checked only when such a module is imported; a few frame hops), and
that instrumentation did make a span for the call (the official one's is current;
OpenLLMetry makes one unless its suppression context keys are set). A method they do
not wrap (OpenLLMetry does not wrap ``messages.parse``) still gets llm-otel's span.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span

from llm_otel import semconv
from llm_otel.pricing.usage import Usage
from llm_otel.sdk import context

log = logging.getLogger("llm_otel")

FOREIGN_MODULES: tuple[str, str] = (
    "opentelemetry.instrumentation.anthropic",
    "opentelemetry.instrumentation.genai.anthropic",
)
_PREFIXES = tuple(m + "." for m in FOREIGN_MODULES)
_MAX_FRAMES = 12
_OWN_PREFIX = "llm_otel."
_USAGE_PREFIX = "gen_ai.usage."


def foreign_caller() -> str | None:
    """The module of a known GenAI instrumentation that wraps the current call, or ``None``. Never raises."""
    try:
        modules = sys.modules
        # Hot path (per call): without those modules imported, two dict lookups and no frame is read.
        if FOREIGN_MODULES[0] not in modules and FOREIGN_MODULES[1] not in modules:
            return None
        frame: Any = sys._getframe(2)
        for _ in range(_MAX_FRAMES):
            if frame is None:
                return None
            name = frame.f_globals.get("__name__", "")
            if name in FOREIGN_MODULES or name.startswith(_PREFIXES):
                return str(name)
            frame = frame.f_back
    except Exception:
        log.debug("llm-otel could not inspect its callers", exc_info=True)
    return None


def foreign_span(module: str) -> Span | None:
    """The foreign instrumentation's span when it is the current one (the official one attaches it)."""
    span = trace.get_current_span()
    scope = getattr(span, "instrumentation_scope", None)
    name = getattr(scope, "name", None)
    if span.is_recording() and isinstance(name, str) and (name == module or module.startswith(name + ".")):
        return span
    return None


OFFICIAL_MODULE = "opentelemetry.instrumentation.genai.anthropic"
# Context keys with which OpenLLMetry skips its span (it then calls straight through).
_OPENLLMETRY_SUPPRESS_KEYS = ("suppress_language_model_instrumentation",)


def foreign_owner() -> tuple[bool, Span | None]:
    """Whether another instrumentation owns this call's usage-bearing span, and that span if it is current.

    The official instrumentation owns the call only if its recording span is current (it makes
    its span current; none means it made none). OpenLLMetry never makes its span current: it
    owns the call unless its suppression keys are set. Never raises.
    """
    module = foreign_caller()
    if module is None:
        return False, None
    try:
        if module == OFFICIAL_MODULE or module.startswith(OFFICIAL_MODULE + "."):
            span = foreign_span(OFFICIAL_MODULE)
            return span is not None, span
        from opentelemetry import context as otel_context

        if otel_context.get_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY) or any(
            otel_context.get_value(key) for key in _OPENLLMETRY_SUPPRESS_KEYS
        ):
            return False, None
        return True, None
    except Exception:
        log.debug("llm-otel could not tell whether another instrumentation owns a call", exc_info=True)
        return False, None


class ForeignCall:
    """A call whose usage-bearing span belongs to another instrumentation: totals, and our extras only."""

    __slots__ = ("_done", "provider", "request_model", "span")

    def __init__(self, span: Span | None, provider: str, request_model: str | None) -> None:
        self.span = span
        self.provider = provider
        self.request_model = request_model
        self._done = False

    def add_request_attributes(self, attributes: dict[str, Any]) -> None:
        self._set_own(attributes)

    def _set_own(self, attributes: dict[str, Any]) -> None:
        """Ours (``llm_otel.*``) always; ``gen_ai.usage.*`` only where the span has none yet (theirs win)."""
        span = self.span
        if span is None or not span.is_recording():
            return
        present = getattr(span, "attributes", None) or {}
        span.set_attributes(
            {
                k: v
                for k, v in attributes.items()
                if k.startswith(_OWN_PREFIX) or (k.startswith(_USAGE_PREFIX) and k not in present)
            }
        )

    def finish(
        self,
        usage: Usage | None = None,
        *,
        response_model: str | None = None,
        service_tier: str | None = None,
        stream_complete: bool | None = None,
        **_: Any,
    ) -> None:
        """Never raises."""
        if self._done:
            return
        self._done = True
        try:
            extras: dict[str, Any] = dict(usage.attributes()) if usage is not None else {}
            if service_tier:
                extras[semconv.SERVICE_TIER] = service_tier
            if stream_complete is not None:
                extras[semconv.STREAM_COMPLETE] = stream_complete
            self._set_own(extras)
        except Exception:
            log.debug("llm-otel could not annotate another instrumentation's span", exc_info=True)
        try:
            if usage is not None:
                context.on_call_finished(self.provider, response_model or self.request_model, usage)
        except Exception:
            log.debug("llm-otel could not update the task's totals", exc_info=True)
