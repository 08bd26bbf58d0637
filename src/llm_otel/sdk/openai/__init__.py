"""OpenAI instrumentation (openai 3.x on httpx2): one exact GenAI span per inference call.

``install()`` wraps ``openai._base_client.SyncAPIClient.request`` and
``AsyncAPIClient.request`` with ``wrapt`` (``_patch.py``); ``uninstall()`` restores them.
Both are idempotent; ``llm_otel.instrument()`` calls them under its lock.

Modules: ``_patch`` (the wrappers), ``_request`` (endpoint, provider, request
attributes, the include_usage rewrite), ``_response`` (usage and response fields),
``_state`` / ``_streams`` / ``_hooks`` (stream proxies and their end), ``_raw``
(with_raw_response / with_streaming_response), ``_coexist`` (other instrumentations),
``_content`` (opt-in message content).

Providers: ``azure.ai.openai`` for ``AzureOpenAI`` clients (or an Azure host),
``aws.bedrock`` / ``gcp.vertex_ai`` for the client's Bedrock / Vertex providers,
``anthropic`` for the Anthropic OpenAI-compatible endpoint (``api.anthropic.com``),
else ``openai``.

Chat / Completions streams: llm-otel sends ``stream_options.include_usage=true`` unless
disabled (``install(include_usage=False)``, ``llm_otel.instrument(include_usage=False)``
or ``LLM_OTEL_OPENAI_INCLUDE_USAGE=false``); when the app did not ask for it, the
usage-only chunk is hidden, so the app iterates exactly the chunks it would have got.
Raw variants (``with_raw_response`` / ``with_streaming_response``) are not rewritten:
the app may read the bytes itself.

Coexistence policy (exactly one usage-bearing span per call; details in ``_coexist``
and docs/sdk-openai.md): the official ``opentelemetry-instrumentation-genai-openai``
(formerly ``-openai-v2``), OpenLLMetry's ``opentelemetry-instrumentation-openai`` and
OpenInference wrap the call outside ours. When the current span at request time is one
of theirs (``_coexist.FOREIGN_SCOPES``), llm-otel does not start a second span: it
ADOPTS that span (writes its exact attributes there; the owner's later writes to the
same keys are dropped; the owner ends it). OpenLLMetry's Responses wrapper starts its
span only after the call: llm-otel then emits a span only when that wrapper will not.
OpenInference's wrapper on ``OpenAI.request``, if set up first, is re-pointed at ours.
The call counts in the task's totals and budget in every case.
``suppress_instrumentation()`` turns llm-otel off for the calls inside it.

Content: prompt and completion content only when the user opts in
(``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``, see ``llm_otel.sdk.content``;
``_content``); otherwise counts and sizes only.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from llm_otel.sdk.openai._request import set_include_usage

log = logging.getLogger("llm_otel")

_lock = threading.Lock()
_installed: list[tuple[Any, str, Any]] = []  # (class, attribute, original) for uninstall
_rewired: list[tuple[Any, Any]] = []  # (another wrapper, what it wrapped before) for uninstall


def available() -> bool:
    """Whether the ``openai`` client library (3.x) is importable."""
    try:
        import openai._base_client  # noqa: F401
    except Exception:
        return False
    return True


def _subclasses(cls: type) -> list[type]:
    out: list[type] = []
    stack: list[type] = list(cls.__subclasses__())
    while stack:
        sub = stack.pop()
        out.append(sub)
        stack.extend(sub.__subclasses__())
    return out


def _rewire_other_wrappers(base: type, original: Any, ours: Any) -> None:
    """Puts our wrapper inside wrappers other instrumentations set on subclasses before us.

    OpenInference wraps ``OpenAI.request`` (the subclass); wrapped before ``install()``,
    that wrapper calls the original base method and would bypass ours. Pointing its
    ``__wrapped__`` at our wrapper runs ours inside its span, which we then adopt. Its
    ``uninstrument()`` leaves a copy of the base method on the subclass: that gets our
    wrapper too.
    """
    import wrapt

    for sub in _subclasses(base):
        attr = sub.__dict__.get("request")
        try:
            if attr is original:  # a copy of the base method (left by another's uninstrument)
                wrapt.wrap_function_wrapper(sub, "request", ours._self_wrapper)
                _installed.append((sub, "request", original))
            elif isinstance(attr, wrapt.FunctionWrapper) and attr.__wrapped__ is original:
                attr.__wrapped__ = ours
                _rewired.append((attr, original))
        except Exception:
            log.debug("llm-otel could not rewire %s.request", sub.__name__, exc_info=True)


def _unwire_other_wrappers(base: type, original: Any, ours: Any) -> None:
    """After uninstall: wrappers set on subclasses after us (around ours) go back to the original."""
    import wrapt

    for sub in _subclasses(base):
        attr = sub.__dict__.get("request")
        if isinstance(attr, wrapt.FunctionWrapper) and attr.__wrapped__ is ours:
            try:
                attr.__wrapped__ = original
            except Exception:
                log.debug("llm-otel could not unwire %s.request", sub.__name__, exc_info=True)


def install(include_usage: bool | None = None) -> None:
    """Wraps the openai clients' request methods. Idempotent; ``include_usage`` updates the option."""
    import wrapt
    from openai._base_client import AsyncAPIClient, SyncAPIClient

    from llm_otel.sdk.openai import _patch
    from llm_otel.sdk.openai._patch import async_request, sync_request

    with _lock:
        set_include_usage(include_usage)
        _patch.active = True
        if _installed:
            return
        for cls, wrapper in ((SyncAPIClient, sync_request), (AsyncAPIClient, async_request)):
            original = cls.__dict__["request"]
            wrapt.wrap_function_wrapper(cls, "request", wrapper)
            _installed.append((cls, "request", original))
            _rewire_other_wrappers(cls, original, cls.__dict__["request"])


def uninstall() -> None:
    """Restores every callable ``install()`` wrapped. Idempotent."""
    from llm_otel.sdk.openai import _patch

    with _lock:
        _patch.active = False
        while _rewired:
            other, original = _rewired.pop()
            try:
                other.__wrapped__ = original
            except Exception:
                log.debug("llm-otel could not restore another instrumentation's wrapper", exc_info=True)
        while _installed:
            cls, name, original = _installed.pop()
            ours = cls.__dict__.get(name)
            try:
                setattr(cls, name, original)
                _unwire_other_wrappers(cls, original, ours)
            except Exception:
                log.debug("llm-otel could not restore openai %s.%s", cls.__name__, name, exc_info=True)
        set_include_usage(None)


def installed() -> bool:
    """Whether ``install()`` is in effect."""
    return bool(_installed)


__all__ = ["available", "install", "installed", "uninstall"]
