"""``instrument()`` / ``uninstrument()``: the one call agent code makes.

Idempotent and thread-safe (one lock). ``instrument()``:

1. pins the tracer provider our spans go to (``tracer_provider=``, else the global one);
   when the global one is still OpenTelemetry's no-op proxy, sets up an SDK provider from
   the ``OTEL_*`` environment (``sdk/setup.py``); an app-configured provider is never replaced;
2. adds the attribution span processor (``sdk/attribution.py``) to that SDK provider, once;
3. installs the provider wrappers (``llm_otel.sdk.openai``, ``llm_otel.sdk.anthropic``) for
   whichever client library is importable; a missing library or wrapper is skipped.

``uninstrument()`` undoes 3 and 2. A provider set up in 1 stays the global one
(OpenTelemetry allows setting it only once per process) but loses our processor.

Never raises: a step that fails is logged at warning level and the others go on; the
application keeps working, only less instrumented.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import os
import sys
import threading
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from llm_otel.sdk import attribution, call, content, quota, setup

log = logging.getLogger("llm_otel")

#: Provider wrappers, by the name the instrumentors and ``instrument(providers=...)`` use.
WRAPPERS: dict[str, str] = {"openai": "llm_otel.sdk.openai", "anthropic": "llm_otel.sdk.anthropic"}
#: The client library each wrapper patches. A library the app has not imported yet is NOT
#: imported by ``instrument()`` (anthropic alone takes ~1 s to import): its wrapper is
#: installed by a post-import hook when the app imports it.
LIBRARIES: dict[str, str] = {"openai": "openai", "anthropic": "anthropic"}


@dataclass(frozen=True)
class Options:
    """Settings provider wrappers read (``options()``); set by the latest ``instrument()`` call."""

    include_usage: bool = True  # openai chat streams: send stream_options.include_usage
    quota_url: str | None = None  # the processor's GET /v1/quotas, polled in the background (sdk/quota.py)


_lock = threading.RLock()
_options = Options()
_installed: dict[str, Any] = {}  # wrapper name -> wrapper module
_deferred: set[str] = set()  # wrappers waiting for their library to be imported
_hooked: set[tuple[str, str]] = set()  # (wrapper, library) with a post-import hook (wrapt cannot unregister)
_stamped: list[TracerProvider] = []  # providers we added the attribution processor to
_created: TracerProvider | None = None  # the provider we set up from the environment, if any
_core_ready = False


def options() -> Options:
    """The current instrumentation options. Never raises."""
    return _options


def created_provider() -> TracerProvider | None:
    """The TracerProvider ``instrument()`` set up from the environment, or ``None`` if the app had one."""
    return _created


def instrument(
    *,
    tracer_provider: trace.TracerProvider | None = None,
    include_usage: bool = True,
    capture_content: bool | None = None,
    quota_url: str | None = None,
    providers: tuple[str, ...] | None = None,
) -> None:
    """Instruments openai and anthropic (whichever is importable). Idempotent and thread-safe.

    ``tracer_provider``: where our spans go (default: the global provider; set up from
    ``OTEL_*`` when the app configured none). ``include_usage``: ask OpenAI chat streams for
    their usage chunk (hidden from the app when it did not ask). ``capture_content``:
    override ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` (``None``: the env decides).
    ``providers``: limit to some of ``("openai", "anthropic")``. ``quota_url``: the processor's
    quota endpoint (default ``LLM_OTEL_QUOTA_URL``); its state is refreshed in the background
    and a spent hard quota raises ``QuotaExceeded`` before the request is sent (docs/sdk.md#quotas).
    Calling again updates the options and installs wrappers not installed yet.
    """
    global _options
    with _lock:
        if quota_url is None:
            quota_url = os.environ.get(quota.ENV_URL) or None
        _options = Options(include_usage=bool(include_usage), quota_url=quota_url)
        quota.configure(quota_url)  # never raises
        content.set_capture_content(capture_content)
        content.refresh()
        ensure_core(tracer_provider)
        for name in providers if providers is not None else tuple(WRAPPERS):
            install_wrapper(name, refresh=True)


def uninstrument() -> None:
    """Restores every patched callable and removes our span processor. Idempotent; never raises."""
    global _options
    with _lock:
        _deferred.clear()  # libraries imported from now on stay uninstrumented
        for name in list(_installed):
            uninstall_wrapper(name)
        release_core()
        _options = Options()
        content.set_capture_content(None)


def is_instrumented(name: str | None = None) -> bool:
    """Whether wrapper ``name`` (or any wrapper, when ``None``) is installed."""
    return (name in _installed) if name is not None else bool(_installed)


def is_pending(name: str | None = None) -> bool:
    """Whether wrapper ``name`` (or any, when ``None``) waits for the app to import its library."""
    return (name in _deferred) if name is not None else bool(_deferred)


def ensure_core(tracer_provider: trace.TracerProvider | None = None) -> None:
    """Steps 1 and 2 of ``instrument()``: tracer provider and attribution processor. Idempotent."""
    global _created, _core_ready
    with _lock:
        try:
            if tracer_provider is None and not _core_ready and _created is None:
                _created = setup.install_global_provider()
            call.set_tracer_provider(tracer_provider)
            target = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
            if isinstance(target, TracerProvider) and attribution.add_to(target):
                _stamped.append(target)
            if quota.refresher() is None and os.environ.get(quota.ENV_URL):  # e.g. via opentelemetry-instrument
                quota.configure(os.environ[quota.ENV_URL])  # never raises
            _core_ready = True
        except Exception:
            log.warning("llm-otel could not set up tracing; LLM calls go on untraced", exc_info=True)


def release_core() -> None:
    """Undoes step 2 (our processor leaves every provider we added it to). Idempotent."""
    global _core_ready
    with _lock:
        for provider in _stamped:
            try:
                attribution.remove_from(provider)
            except Exception:
                log.debug("llm-otel could not remove its span processor", exc_info=True)
        _stamped.clear()
        quota.configure(None)  # stops the quota refresher; never raises
        _core_ready = False
        try:
            call.set_tracer_provider(None)  # back to the global provider, lazily
        except Exception:
            log.debug("llm-otel could not reset its tracer", exc_info=True)


def install_wrapper(name: str, *, refresh: bool = False) -> bool:
    """Installs one provider wrapper if its client library is importable. True if installed now or before.

    ``refresh``: call an installed wrapper's (idempotent) ``install`` again so it sees new options.
    """
    with _lock:
        if name in _installed:
            if refresh:
                try:
                    _call_install(_installed[name])
                except Exception:
                    log.warning("llm-otel could not update the options of %s", name, exc_info=True)
            return True
        module_name = WRAPPERS.get(name)
        if module_name is None:
            log.warning("llm-otel: unknown provider %r; known: %s", name, ", ".join(WRAPPERS))
            return False
        library = LIBRARIES.get(name)
        if library is not None and library not in sys.modules:
            return _defer(name, library)
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            log.debug("llm-otel: wrapper %s is not importable", module_name, exc_info=True)
            return False
        try:
            if not module.available():
                return False
            _call_install(module)
        except Exception:
            log.warning("llm-otel could not instrument %s; its calls go on untraced", name, exc_info=True)
            try:
                module.uninstall()
            except Exception:
                log.debug("llm-otel could not undo a partial install of %s", name, exc_info=True)
            return False
        _installed[name] = module
        return True


def uninstall_wrapper(name: str) -> None:
    """Restores what one wrapper patched. Idempotent; never raises."""
    with _lock:
        _deferred.discard(name)
        module = _installed.pop(name, None)
        if module is None:
            return
        try:
            module.uninstall()
        except Exception:
            log.warning("llm-otel could not fully uninstrument %s", name, exc_info=True)


def _defer(name: str, library: str) -> bool:
    """Installs ``name`` when ``library`` is imported; False (and nothing) if it is not installed at all."""
    try:
        if importlib.util.find_spec(library) is None:
            return False
    except (ImportError, ValueError):
        return False
    _deferred.add(name)
    if (name, library) not in _hooked:
        import wrapt

        _hooked.add((name, library))
        wrapt.register_post_import_hook(lambda _module: _on_library_imported(name), library)
    return False


def _on_library_imported(name: str) -> None:
    """Post-import hook: installs a deferred wrapper. Never raises into the app's import."""
    try:
        with _lock:
            if name in _deferred:
                _deferred.discard(name)
                install_wrapper(name)
    except Exception:
        log.warning("llm-otel could not instrument %s on import", name, exc_info=True)


def _call_install(module: Any) -> None:
    """Calls ``module.install`` with the options its signature accepts."""
    install = module.install
    try:
        params = inspect.signature(install).parameters
    except (TypeError, ValueError):
        params = {}  # type: ignore[assignment]
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs: dict[str, Any] = {}
    for key, value in (("include_usage", _options.include_usage), ("quota_url", _options.quota_url)):
        if accepts_any or key in params:
            kwargs[key] = value
    install(**kwargs)
