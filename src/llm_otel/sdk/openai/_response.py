"""Usage and response fields of OpenAI responses, exactly as ``../shared/corpus/README.md`` maps them.

Works on the client's pydantic models; nested fields the installed client does not
declare (``cache_write_tokens``, ``cache_write_tokens_details``) arrive as extra
attributes or plain dicts, so every read goes through ``_get``. Called under the
wrapper's guard: these functions may raise, the caller swallows it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from llm_otel.pricing.usage import Usage
from llm_otel.sdk.call import new_usage

_NO_EXTRA: Any = object()


def _get(obj: Any, name: str) -> Any:
    """``obj.name`` or ``obj[name]``, ``None`` when absent. Hot path (per call).

    Pydantic models keep fields in ``__dict__`` and undeclared keys in
    ``__pydantic_extra__``: reading those directly avoids pydantic's raising
    ``__getattr__`` for absent keys (a few us each).
    """
    if obj is None:
        return None
    if type(obj) is dict:
        return obj.get(name)
    fields = getattr(obj, "__dict__", None)
    if fields is not None and name in fields:
        return fields[name]
    extra = getattr(obj, "__pydantic_extra__", _NO_EXTRA)
    if extra is not _NO_EXTRA:
        return extra.get(name) if extra else None
    return getattr(obj, name, None)


def _none(name: str) -> Any:
    return None


def _getter(obj: Any) -> Callable[[str], Any]:
    """``lambda name: _get(obj, name)``, but one dict's ``get`` for a dict or a pydantic model.

    Hot path (per call): an object read for several fields is looked at once, not per field.
    """
    if obj is None:
        return _none
    if type(obj) is dict:
        return obj.get
    own = getattr(obj, "__dict__", None)
    extra = getattr(obj, "__pydantic_extra__", _NO_EXTRA)
    if type(own) is dict and extra is not _NO_EXTRA:
        return {**extra, **own}.get if extra else own.get
    return partial(_get, obj)


def _int(value: Any) -> int | None:
    if type(value) is int:
        return value
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def usage_from_openai(usage: Any) -> Usage | None:
    """Usage of a Chat Completions / Completions / Embeddings / Responses ``usage`` object.

    Input is inclusive of cached tokens as OpenAI reports it; output includes reasoning.
    """
    if usage is None:
        return None
    get = _getter(usage)
    input_tokens = _int(get("prompt_tokens"))
    if input_tokens is not None or get("input_tokens") is None:
        in_details = _getter(get("prompt_tokens_details"))
        output_tokens = _int(get("completion_tokens"))
        out_details = get("completion_tokens_details")
    else:
        input_tokens = _int(get("input_tokens"))
        in_details = _getter(get("input_tokens_details"))
        output_tokens = _int(get("output_tokens"))
        out_details = get("output_tokens_details")
    write_details = in_details("cache_write_tokens_details")
    if write_details is None:
        write_30m = write_12h = None
    else:
        write_get = _getter(write_details)
        write_30m = _int(write_get("ttl_30m_tokens"))
        write_12h = _int(write_get("ttl_12h_tokens"))
    return new_usage(
        input_tokens,
        output_tokens,
        _int(in_details("cached_tokens")),
        _int(in_details("cache_write_tokens")),
        cache_write_30m_tokens=write_30m,
        cache_write_12h_tokens=write_12h,
        reasoning_tokens=_int(_get(out_details, "reasoning_tokens")),
    )


@dataclass(slots=True)
class Outcome:
    """What a finished call reports: the keyword arguments of ``LLMCall.finish``."""

    usage: Usage | None = None
    response_model: str | None = None
    response_id: str | None = None
    finish_reasons: list[str] | None = None
    service_tier: str | None = None
    error_type: str | None = None  # a response that says it failed (Responses ``status: failed``)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def outcome_from_choices(response: Any) -> Outcome:
    """Chat Completions / Completions response (``choices[].finish_reason`` in choice order)."""
    get = _getter(response)
    reasons: list[str] = []
    for choice in get("choices") or ():
        reason = _get(choice, "finish_reason")
        if isinstance(reason, str):
            reasons.append(reason)
    return Outcome(
        usage=usage_from_openai(get("usage")),
        response_model=_str(get("model")),
        response_id=_str(get("id")),
        finish_reasons=reasons or None,
        service_tier=_str(get("service_tier")),
    )


def outcome_from_embeddings(response: Any) -> Outcome:
    return Outcome(
        usage=usage_from_openai(_get(response, "usage")),
        response_model=_str(_get(response, "model")),
        response_id=_str(_get(response, "id")),
    )


def outcome_from_response(response: Any) -> Outcome:
    """Responses API ``Response`` object: finish reason is ``[status]``."""
    status = _str(_get(response, "status"))
    error_type = None
    if status == "failed":
        error_type = _str(_get(_get(response, "error"), "code")) or "response.failed"
    return Outcome(
        usage=usage_from_openai(_get(response, "usage")),
        response_model=_str(_get(response, "model")),
        response_id=_str(_get(response, "id")),
        finish_reasons=[status] if status else None,
        service_tier=_str(_get(response, "service_tier")),
        error_type=error_type,
    )


READERS = {
    "chat": outcome_from_choices,
    "completion": outcome_from_choices,
    "embeddings": outcome_from_embeddings,
    "responses": outcome_from_response,
}


def outcome_for(kind: str, response: Any) -> Outcome:
    """The outcome of a non-streamed response of endpoint ``kind``."""
    return READERS[kind](response)
