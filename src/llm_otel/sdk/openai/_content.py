"""Message content on spans, only when the user opted in (``llm_otel.sdk.content.capture_content()``).

Shapes follow the GenAI conventions' JSON forms (``gen_ai.input.messages``,
``gen_ai.output.messages``, ``gen_ai.system_instructions``), serialized to JSON
strings since span attributes cannot nest. Text parts are kept as text; anything
else (images, audio, tool calls) as its type and, for tool calls, name and
arguments. Chat Completions and Completions streams assemble the output from their chunks
(``_streams._ContentChunkObserver``, used only when capture is on, so the default per-chunk
path pays nothing). Called under the wrapper's guard; may raise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llm_otel import semconv
from llm_otel.sdk import content
from llm_otel.sdk.content import dumps as _dumps
from llm_otel.sdk.content import field as _get


def enabled() -> bool:
    return content.capture_content()


def _parts(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "text", "content": value}]
    parts: list[dict[str, Any]] = []
    if isinstance(value, (list, tuple)):
        for item in value:
            kind = _get(item, "type")
            text = _get(item, "text")
            if isinstance(text, str):
                parts.append({"type": "text", "content": text})
            elif isinstance(item, str):
                parts.append({"type": "text", "content": item})
            else:
                parts.append({"type": str(kind or "unknown")})
    return parts


def _tool_calls(message: Any) -> list[dict[str, Any]]:
    calls = []
    for call in _get(message, "tool_calls") or ():
        function = _get(call, "function")
        calls.append(
            {
                "type": "tool_call",
                "id": _get(call, "id"),
                "name": _get(function, "name"),
                "arguments": _get(function, "arguments"),
            }
        )
    return calls


def input_attributes(kind: str, body: Mapping[str, Any]) -> dict[str, str]:
    """``gen_ai.input.messages`` / ``gen_ai.system_instructions`` of a request."""
    messages: list[dict[str, Any]] = []
    system: list[dict[str, Any]] = []
    if kind == "chat":
        for message in body.get("messages") or ():
            role = _get(message, "role")
            parts = _parts(_get(message, "content")) + _tool_calls(message)
            if role in ("system", "developer"):
                system.extend(parts)
            else:
                messages.append({"role": role, "parts": parts})
    elif kind == "responses":
        instructions = body.get("instructions")
        if isinstance(instructions, str):
            system.append({"type": "text", "content": instructions})
        value = body.get("input")
        if isinstance(value, str):
            messages.append({"role": "user", "parts": _parts(value)})
        else:
            for item in value or ():
                role = _get(item, "role") or _get(item, "type")
                messages.append({"role": role, "parts": _parts(_get(item, "content"))})
    elif kind == "completion":
        prompt = body.get("prompt")
        prompts = [prompt] if isinstance(prompt, str) else prompt if isinstance(prompt, list) else []
        for item in prompts:
            if isinstance(item, str):
                messages.append({"role": "user", "parts": _parts(item)})
    out: dict[str, str] = {}
    if messages:
        out[semconv.GEN_AI_INPUT_MESSAGES] = _dumps(messages)
    if system:
        out[semconv.GEN_AI_SYSTEM_INSTRUCTIONS] = _dumps(system)
    return out


def output_attributes(kind: str, response: Any) -> dict[str, str]:
    """``gen_ai.output.messages`` of a complete (non-streamed, or final) response."""
    messages: list[dict[str, Any]] = []
    if kind in ("chat", "completion"):
        for choice in _get(response, "choices") or ():
            message = _get(choice, "message")
            if message is not None:
                parts = _parts(_get(message, "content")) + _tool_calls(message)
            else:
                parts = _parts(_get(choice, "text"))
            messages.append({"role": "assistant", "parts": parts, "finish_reason": _get(choice, "finish_reason")})
    elif kind == "responses":
        for item in _get(response, "output") or ():
            if _get(item, "type") == "message":
                parts = _parts(_get(item, "content"))
            elif _get(item, "type") == "function_call":
                parts = [
                    {
                        "type": "tool_call",
                        "id": _get(item, "call_id"),
                        "name": _get(item, "name"),
                        "arguments": _get(item, "arguments"),
                    }
                ]
            else:
                continue
            messages.append({"role": "assistant", "parts": parts, "finish_reason": _get(response, "status")})
    if not messages:
        return {}
    return {semconv.GEN_AI_OUTPUT_MESSAGES: _dumps(messages)}


def streamed_output_attributes(collected: Mapping[int, Any], finish_reasons: Mapping[int, str]) -> dict[str, str]:
    """``gen_ai.output.messages`` of a chunk stream, from what ``_ContentChunkObserver`` collected
    per choice (text pieces, tool-call pieces); a stream cut short gives what arrived."""
    messages: list[dict[str, Any]] = []
    for index in sorted(collected):
        entry = collected[index]
        parts: list[dict[str, Any]] = []
        text = "".join(entry["text"])
        if text:
            parts.append({"type": "text", "content": text})
        for t in sorted(entry["tools"]):
            tool = entry["tools"][t]
            parts.append({"type": "tool_call", "id": tool["id"], "name": tool["name"],
                          "arguments": "".join(tool["arguments"])})  # fmt: skip
        messages.append({"role": "assistant", "parts": parts, "finish_reason": finish_reasons.get(index)})
    if not messages:
        return {}
    return {semconv.GEN_AI_OUTPUT_MESSAGES: _dumps(messages)}
