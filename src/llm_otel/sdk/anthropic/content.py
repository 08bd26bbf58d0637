"""Message content of Anthropic calls on spans, only when the user opted in (``sdk.content``).

The GenAI conventions' JSON forms (``gen_ai.input.messages``, ``gen_ai.output.messages``,
``gen_ai.system_instructions``), serialized to JSON strings since span attributes cannot
nest, in the shapes the OpenAI side writes (``sdk/openai/_content.py``): Anthropic content
blocks become parts: ``text``; ``tool_use`` -> ``tool_call`` (id, name, arguments);
``tool_result`` -> ``tool_call_response`` (id, response); ``thinking`` -> ``reasoning``;
anything else (images, documents, server tools, redacted thinking) -> its type alone, no
payload. Called under the wrapper's guard; may raise (the caller records nothing then).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llm_otel import semconv
from llm_otel.sdk.content import dumps as _dumps
from llm_otel.sdk.content import field as _get


def _part(block: Any) -> dict[str, Any]:
    if isinstance(block, str):
        return {"type": "text", "content": block}
    kind = _get(block, "type")
    if kind == "text":
        return {"type": "text", "content": _get(block, "text")}
    if kind == "tool_use":
        return {"type": "tool_call", "id": _get(block, "id"), "name": _get(block, "name"),
                "arguments": _get(block, "input")}  # fmt: skip
    if kind == "tool_result":
        return {"type": "tool_call_response", "id": _get(block, "tool_use_id"),
                "response": _parts(_get(block, "content"))}  # fmt: skip
    if kind == "thinking":
        return {"type": "reasoning", "content": _get(block, "thinking")}
    return {"type": str(kind or "unknown")}


def _parts(content: Any) -> list[dict[str, Any]]:
    """A message's ``content``: a string, or a list of content blocks (dicts or SDK objects)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    if isinstance(content, (list, tuple)):
        return [_part(block) for block in content]
    return []


def input_attributes(body: Mapping[str, Any]) -> dict[str, str]:
    """``gen_ai.input.messages`` and ``gen_ai.system_instructions`` of a Messages request body.

    Only lists and tuples are read (a one-shot iterable the SDK has not consumed yet is left alone).
    """
    out: dict[str, str] = {}
    messages = body.get("messages")
    if isinstance(messages, (list, tuple)) and messages:
        out[semconv.GEN_AI_INPUT_MESSAGES] = _dumps(
            [{"role": _get(m, "role"), "parts": _parts(_get(m, "content"))} for m in messages]
        )
    system = _parts(body.get("system"))
    if system:
        out[semconv.GEN_AI_SYSTEM_INSTRUCTIONS] = _dumps(system)
    return out


def output_attributes(message: Any) -> dict[str, str]:
    """``gen_ai.output.messages`` of a complete Message (an SDK object or its dict form)."""
    content = _get(message, "content")
    if content is None:
        return {}
    out = [{"role": _get(message, "role") or "assistant", "parts": _parts(content),
            "finish_reason": _get(message, "stop_reason")}]  # fmt: skip
    return {semconv.GEN_AI_OUTPUT_MESSAGES: _dumps(out)}
