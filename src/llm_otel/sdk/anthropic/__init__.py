"""llm-otel's instrumentation of the ``anthropic`` SDK (2.x, on httpx2).

One usage-bearing span per API call, whatever else is enabled. Policy (see
``docs/sdk-anthropic.md`` for the reasoning and the measurements):

* **We take the SDK's native span over** for every call we instrument. anthropic
  2.x starts its own CLIENT span per call once a global TracerProvider is set. A hook
  on ``start_api_call_span`` makes the SDK take its "no span" path for our calls, and
  our span stands in: we send its trace context on the outgoing request where the SDK
  would have (once per call, before the request is built and signed) and record
  ``anthropic.request.id``. Why not complete the native span instead: it costs ~210 us
  per call (7.5x a bare span; our budget is 1.5x), it records ``gen_ai.usage.*`` by
  rules that are not our contract (no TTL-split attributes of ours, no advisor
  iterations, no ``llm_otel.stream.complete``), and it exists only while the
  application keeps native tracing on. Native tracing off (``ANTHROPIC_OPEN_TELEMETRY=false``
  or ``open_telemetry=False``): ours is the only span as well.
* **Another GenAI instrumentation wrapping the call** (OpenLLMetry's
  ``opentelemetry-instrumentation-anthropic``, the official
  ``opentelemetry-instrumentation-genai-anthropic``) keeps its span; we add no span
  of ours for that call (``coexist.py``).

Modules: ``wrappers`` (the hooks), ``request`` (request attributes), ``stream``
(ending the span with the response body), ``usage`` (Anthropic usage -> ``Usage``),
``coexist`` (other instrumentations).
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from typing import Any

import wrapt

from llm_otel.sdk.anthropic import wrappers

log = logging.getLogger("llm_otel")

_lock = threading.Lock()

# (module, attribute path, wrapper): the three patches.
_PATCHES: tuple[tuple[str, str, Any], ...] = (
    ("anthropic._base_client", "SyncAPIClient.request", wrappers.request_wrapper),
    ("anthropic._base_client", "AsyncAPIClient.request", wrappers.async_request_wrapper),
    ("anthropic._base_client", "start_api_call_span", wrappers.native_span_hook),
)


def available() -> bool:
    """Whether an anthropic SDK this instrumentation knows (2.x, request-level hook) is importable."""
    if importlib.util.find_spec("anthropic") is None:
        return False
    try:
        from anthropic import _base_client

        return (
            hasattr(_base_client, "start_api_call_span")
            and hasattr(_base_client.SyncAPIClient, "request")
            and hasattr(_base_client.AsyncAPIClient, "request")
        )
    except Exception:
        return False


def _resolve(module: str, path: str) -> tuple[Any, str]:
    owner: Any = importlib.import_module(module)
    *parents, name = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    return owner, name


def _is_ours(value: Any, wrapper: Any) -> bool:
    """Whether ``value`` is our wrapper, possibly under wrappers others put on top later."""
    for _ in range(8):
        if isinstance(value, wrapt.FunctionWrapper) and getattr(value, "_self_wrapper", None) is wrapper:
            return True
        value = getattr(value, "__wrapped__", None)
        if value is None:
            return False
    return False


def install(**_: Any) -> None:
    """Patches the anthropic SDK. Idempotent; raises if it cannot (``instrument()`` catches)."""
    with _lock:
        if wrappers.state.enabled:
            return
        from anthropic._response import BaseAPIResponse
        from anthropic._streaming import AsyncStream, Stream
        from httpx2 import Response

        wrappers.state.stream_types = (Stream, AsyncStream)
        wrappers.state.raw_types = (BaseAPIResponse,)
        wrappers.state.response_type = Response
        for module, path, wrapper in _PATCHES:
            owner, name = _resolve(module, path)
            current = owner.__dict__.get(name) if isinstance(owner, type) else getattr(owner, name, None)
            if not _is_ours(current, wrapper):
                wrapt.wrap_function_wrapper(owner, name, wrapper)
        wrappers.state.enabled = True


def uninstall() -> None:
    """Restores the patched callables. Idempotent; never raises.

    A patch that another library has since wrapped again stays in place, disabled (it
    then passes every call straight through), so their wrapper keeps working.
    """
    with _lock:
        wrappers.state.enabled = False
        for module, path, wrapper in _PATCHES:
            try:
                owner, name = _resolve(module, path)
                current = owner.__dict__.get(name) if isinstance(owner, type) else getattr(owner, name, None)
                on_top = isinstance(current, wrapt.FunctionWrapper)
                if on_top and getattr(current, "_self_wrapper", None) is wrapper:
                    setattr(owner, name, current.__wrapped__)  # type: ignore[union-attr]
            except Exception:
                log.debug("llm-otel could not restore %s.%s", module, path, exc_info=True)


__all__ = ["available", "install", "uninstall"]
