"""``BaseInstrumentor`` faces of llm-otel, for ``opentelemetry-instrument`` and OTel distros.

Declared as ``opentelemetry_instrumentor`` entry points in pyproject.toml, so
``opentelemetry-instrument python app.py`` instruments openai and anthropic without code
changes. Each one runs the same core as ``llm_otel.instrument()`` (tracer provider from
the environment if none is configured, attribution processor) and installs one wrapper;
using both ``instrument()`` and the instrumentors installs each wrapper once.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from llm_otel.sdk import instrument as _core


class _LLMOtelInstrumentor(BaseInstrumentor):
    _wrapper: str = ""

    def _instrument(self, **kwargs: Any) -> None:
        with _core._lock:
            _core.ensure_core(kwargs.get("tracer_provider"))
            _core.install_wrapper(self._wrapper)

    def _uninstrument(self, **kwargs: Any) -> None:
        with _core._lock:
            _core.uninstall_wrapper(self._wrapper)
            if not _core.is_instrumented() and not _core.is_pending():
                _core.release_core()


class OpenAIInstrumentor(_LLMOtelInstrumentor):
    """llm-otel's openai instrumentation (chat, responses, embeddings, completions; Azure too)."""

    _wrapper = "openai"

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("openai >= 3",)


class AnthropicInstrumentor(_LLMOtelInstrumentor):
    """llm-otel's anthropic instrumentation (messages, beta messages; Bedrock and Vertex too)."""

    _wrapper = "anthropic"

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("anthropic >= 2",)
