"""Anthropic ``usage`` (a model or a decoded dict) -> our ``Usage``, for whole Messages and for streams.

Rules (``../shared/corpus/README.md``): input is INCLUSIVE (``input_tokens +
cache_read_input_tokens + cache_creation_input_tokens``); the cache-write total is
kept exact and the 5m/1h split as reported, even where the two do not add up
(server tools); reasoning is ``output_tokens_details.thinking_tokens``. Entries of
``usage.iterations`` whose tokens the top-level usage leaves out (``compaction``,
``advisor_message``) become ``IterationUsage``; ``message`` and ``fallback_message``
entries are already counted at the top level.

Streams: ``message_start`` gives the first usage, then every non-null field of each
``message_delta.usage`` overwrites it (those counts are cumulative totals); the 5m/1h
split comes from ``message_start`` only. ``message_start`` carries a placeholder
``output_tokens`` (1): it is never reported as final.

Every function here is pure and may raise on a malformed body; callers on the user's
call path catch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llm_otel.pricing.usage import IterationUsage, Usage
from llm_otel.sdk.call import new_usage

# Iteration types whose tokens are billed on top of the top-level usage, with the kind we record.
EXTRA_ITERATION_KINDS: dict[str, str] = {"compaction": "compaction", "advisor_message": "advisor"}


def get(value: Any, key: str) -> Any:
    """``value[key]`` for a dict, ``value.key`` for a model (extra fields included), else ``None``."""
    if value is None:
        return None
    if isinstance(value, dict):
        return value.get(key)
    return getattr(value, key, None)


def fields(value: Any) -> dict[str, Any]:
    """The fields of a dict or a pydantic model (extra fields included) as a dict; ``{}`` for anything else.

    Hot path (per call): one dict for the attribute reads that follow, instead of a getattr each.
    """
    if isinstance(value, dict):
        return value
    own = getattr(value, "__dict__", None)
    if not isinstance(own, dict):
        return {}
    extra = getattr(value, "__pydantic_extra__", None)
    return {**own, **extra} if extra else own


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _inclusive(inp: int | None, cache_read: int | None, cache_write: int | None) -> int | None:
    if inp is None and cache_read is None and cache_write is None:
        return None
    return (inp or 0) + (cache_read or 0) + (cache_write or 0)


def normalize_iterations(entries: Any) -> tuple[IterationUsage, ...]:
    """The billed-extra entries of ``usage.iterations`` (compaction, advisor), in order."""
    if not isinstance(entries, (list, tuple)):
        return ()
    out: list[IterationUsage] = []
    for entry in entries:
        kind = EXTRA_ITERATION_KINDS.get(get(entry, "type"))
        if kind is None:
            continue
        cache_read = _int(get(entry, "cache_read_input_tokens")) or 0
        cache_write = _int(get(entry, "cache_creation_input_tokens")) or 0
        model = get(entry, "model")
        out.append(
            IterationUsage(
                kind=kind,
                model=model if isinstance(model, str) else None,
                input_tokens=(_int(get(entry, "input_tokens")) or 0) + cache_read + cache_write,
                output_tokens=_int(get(entry, "output_tokens")) or 0,
                cache_read_tokens=cache_read,
                cache_write_tokens=cache_write,
            )
        )
    return tuple(out)


def normalize_anthropic_usage(usage: Any) -> Usage | None:
    """The ``Usage`` of one complete Message's ``usage`` (model or dict); ``None`` when it has none."""
    if usage is None:
        return None
    u = fields(usage)
    inp = _int(u.get("input_tokens"))
    cache_read = _int(u.get("cache_read_input_tokens"))
    cache_write = _int(u.get("cache_creation_input_tokens"))
    split = u.get("cache_creation")
    split_fields = fields(split) if split is not None else {}
    details = u.get("output_tokens_details")
    iterations = u.get("iterations")
    return new_usage(
        _inclusive(inp, cache_read, cache_write),
        _int(u.get("output_tokens")),
        cache_read,
        cache_write,
        cache_write_5m_tokens=_int(split_fields.get("ephemeral_5m_input_tokens")),
        cache_write_1h_tokens=_int(split_fields.get("ephemeral_1h_input_tokens")),
        reasoning_tokens=_int(get(details, "thinking_tokens")) if details is not None else None,
        iterations=normalize_iterations(iterations) if iterations else (),
    )


def service_tier(usage: Any) -> str | None:
    tier = get(usage, "service_tier")
    return tier if isinstance(tier, str) else None


def stream_usage(start: Any, deltas: Sequence[Any]) -> tuple[Usage | None, str | None]:
    """Usage and service tier of a stream from its ``message_start`` usage and ``message_delta`` usages.

    With no ``message_delta`` the output (and reasoning, iterations) is unknown and left out:
    ``message_start`` only has a placeholder for it. Input and cache counts are kept.
    """
    if start is None and not deltas:
        return None, None
    inp = _int(get(start, "input_tokens"))
    cache_read = _int(get(start, "cache_read_input_tokens"))
    cache_write = _int(get(start, "cache_creation_input_tokens"))
    split = get(start, "cache_creation")
    tier = service_tier(start)
    output: int | None = None
    reasoning: int | None = None
    iterations: Any = None
    if deltas:  # final from here on; start's own values are the base the deltas overwrite
        output = _int(get(start, "output_tokens"))
        reasoning = _int(get(get(start, "output_tokens_details"), "thinking_tokens"))
        iterations = get(start, "iterations")
    for delta in deltas:
        value = _int(get(delta, "input_tokens"))
        if value is not None:
            inp = value
        value = _int(get(delta, "cache_read_input_tokens"))
        if value is not None:
            cache_read = value
        value = _int(get(delta, "cache_creation_input_tokens"))
        if value is not None:
            cache_write = value
        value = _int(get(delta, "output_tokens"))
        if value is not None:
            output = value
        value = _int(get(get(delta, "output_tokens_details"), "thinking_tokens"))
        if value is not None:
            reasoning = value
        entries = get(delta, "iterations")
        if entries is not None:
            iterations = entries
        tier = service_tier(delta) or tier
    usage = Usage(
        input_tokens=_inclusive(inp, cache_read, cache_write),
        output_tokens=output,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        cache_write_5m_tokens=_int(get(split, "ephemeral_5m_input_tokens")),
        cache_write_1h_tokens=_int(get(split, "ephemeral_1h_input_tokens")),
        reasoning_tokens=reasoning,
        iterations=normalize_iterations(iterations),
    )
    return usage, tier
