"""Whether prompt and completion content may be recorded: OFF unless the user opts in.

The switch is ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``, with the values the
GenAI instrumentations use (case-insensitive):

- ``true`` / ``false``: the original boolean form;
- ``span_only``, ``event_only``, ``span_and_event``, ``no_content``: the newer modes
  (opentelemetry-util-genai; ``NO_CONTENT`` is the default).

llm-otel records content only on spans (``gen_ai.input.messages`` etc.), so
``capture_content()`` is True for ``true``, ``span_only`` and ``span_and_event``, and
False for everything else, unknown values included (fail closed).
``instrument(capture_content=True|False)`` overrides the environment.

The environment is read on first use and again by every ``instrument()`` call
(``refresh()``), not per LLM call: wrappers ask on every call, and an environment
lookup there would cost more than the rest of the check.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, Final, Literal

ENV_VAR: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

ContentMode = Literal["no_content", "span_only", "event_only", "span_and_event"]

_MODES: Final[dict[str, ContentMode]] = {
    "true": "span_and_event",
    "false": "no_content",
    "no_content": "no_content",
    "span_only": "span_only",
    "event_only": "event_only",
    "span_and_event": "span_and_event",
}

_override: bool | None = None
_from_env: bool | None = None  # cached capture_mode() verdict; None: not read yet


def set_capture_content(value: bool | None) -> None:
    """Forces content capture on or off (``None``: back to the environment). Used by ``instrument()``."""
    global _override
    _override = None if value is None else bool(value)


def refresh() -> None:
    """Re-reads the environment variable (``instrument()`` calls this)."""
    global _from_env
    _from_env = None


def capture_mode() -> ContentMode:
    """The mode the environment asks for; unknown or unset values are ``no_content``."""
    raw = os.environ.get(ENV_VAR)
    if not raw:
        return "no_content"
    return _MODES.get(raw.strip().lower(), "no_content")


def capture_content() -> bool:
    """True when provider wrappers may put message content on spans. Never raises."""
    global _from_env
    if _override is not None:
        return _override
    if _from_env is None:
        try:
            _from_env = capture_mode() in ("span_only", "span_and_event")
        except Exception:
            _from_env = False
    return _from_env


# --- shared by the providers' content readers (sdk/openai/_content.py, sdk/anthropic/content.py) ---


def field(obj: Any, name: str) -> Any:
    """``obj[name]`` of a mapping (request bodies), ``obj.name`` of an SDK object; ``None`` when absent."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def dumps(value: Any) -> str:
    """A GenAI content attribute's JSON text (span attributes cannot nest); never fails on odd values."""
    return json.dumps(value, ensure_ascii=False, default=str)
