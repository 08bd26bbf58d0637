"""Proxies for ``openai.Stream`` / ``openai.AsyncStream`` that see every chunk on its way to the app.

The proxy (``wrapt.ObjectProxy``) keeps the whole stream API: ``isinstance(s, Stream)``,
``.response``, ``close()``, context managers, ``__next__``; the helper streams
(``chat.completions.stream()``, ``responses.stream()``) wrap it as their raw stream and
work unchanged. Iteration goes through one generator per stream (``_read_chunks``,
``_read_events`` and their async twins) that reads what it needs and yields the chunk:
per chunk one generator step and a few attribute reads, no allocation.

When llm-otel added ``stream_options.include_usage`` (the app did not ask for it),
the usage-only chunk is not yielded and ``usage`` is dropped from every chunk's set
fields, so ``chunk.to_dict()`` is what the app would have got without us.

The generators are module functions, not methods: the proxy -> generator reference
must not come back (no cycle), so an abandoned stream is collected promptly. Its span
ends in the generator (``GeneratorExit``) or, if it never started, by a
``weakref.finalize`` on the generator: the generator, not the proxy, is what lives as
long as the app iterates (``for c in client.chat.completions.create(stream=True)``
drops the proxy right after ``iter()``).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

import wrapt

from llm_otel.sdk.openai._hooks import on_response_close
from llm_otel.sdk.openai._state import EVENTS_OF_INTEREST, StreamState

log = logging.getLogger("llm_otel")


# The four readers below are the per-chunk hot path: state lives in locals, ``StreamState`` is
# called only for the chunks that carry something (first id, finish reason, usage, terminal
# event). Added cost per chunk is measured by ``benchmarks/sdk_overhead.py`` (target <= 1 us).
# A failure in our part is logged once and the chunks keep flowing unchanged.


def _read_chunks(inner: Iterator[Any], state: StreamState, hide_usage: bool) -> Iterator[Any]:
    need_id = True
    broken = False
    try:
        for chunk in inner:
            if not broken:
                try:
                    if need_id:
                        need_id = not state.first_chunk(chunk)
                    usage = chunk.usage
                    choices = chunk.choices
                    for choice in choices:
                        if choice.finish_reason is not None:
                            state.finish_reason(choice)
                    if usage is not None:
                        state.usage_chunk(chunk, usage, choices)
                except Exception:
                    broken = True
                    state.broke()
            if hide_usage:
                try:
                    if broken:
                        usage = chunk.usage
                        choices = chunk.choices
                    if usage is not None and not choices:
                        continue
                    chunk.__pydantic_fields_set__.discard("usage")
                except Exception:
                    pass
            yield chunk
    except GeneratorExit:
        state.abandoned()
        raise
    except BaseException as exc:
        state.failed(exc)
        raise
    state.end_of_stream()


async def _aread_chunks(inner: AsyncIterator[Any], state: StreamState, hide_usage: bool) -> AsyncIterator[Any]:
    need_id = True
    broken = False
    try:
        async for chunk in inner:
            if not broken:
                try:
                    if need_id:
                        need_id = not state.first_chunk(chunk)
                    usage = chunk.usage
                    choices = chunk.choices
                    for choice in choices:
                        if choice.finish_reason is not None:
                            state.finish_reason(choice)
                    if usage is not None:
                        state.usage_chunk(chunk, usage, choices)
                except Exception:
                    broken = True
                    state.broke()
            if hide_usage:
                try:
                    if broken:
                        usage = chunk.usage
                        choices = chunk.choices
                    if usage is not None and not choices:
                        continue
                    chunk.__pydantic_fields_set__.discard("usage")
                except Exception:
                    pass
            yield chunk
    except GeneratorExit:
        state.abandoned()
        raise
    except BaseException as exc:
        state.failed(exc)
        raise
    state.end_of_stream()


def _read_events(inner: Iterator[Any], state: StreamState, hide_usage: bool) -> Iterator[Any]:
    broken = False
    try:
        for event in inner:
            if not broken:
                try:
                    if event.type in EVENTS_OF_INTEREST:
                        state.feed_event(event)
                except Exception:
                    broken = True
                    state.broke()
            yield event
    except GeneratorExit:
        state.abandoned()
        raise
    except BaseException as exc:
        state.failed(exc)
        raise
    state.end_of_stream()


async def _aread_events(inner: AsyncIterator[Any], state: StreamState, hide_usage: bool) -> AsyncIterator[Any]:
    broken = False
    try:
        async for event in inner:
            if not broken:
                try:
                    if event.type in EVENTS_OF_INTEREST:
                        state.feed_event(event)
                except Exception:
                    broken = True
                    state.broke()
            yield event
    except GeneratorExit:
        state.abandoned()
        raise
    except BaseException as exc:
        state.failed(exc)
        raise
    state.end_of_stream()


class TracedStream(wrapt.ObjectProxy):
    """An ``openai.Stream`` whose chunks and end are observed."""

    def __init__(self, stream: Any, state: StreamState, hide_usage: bool) -> None:
        super().__init__(stream)
        inner = getattr(stream, "_iterator", None)
        if inner is None:
            inner = iter(stream)
        reader = (_read_events if state.events else _read_chunks)(inner, state, hide_usage)
        state.set_reader(reader)
        self._self_reader = reader
        # On the reader, not the proxy: `for c in client...create(stream=True)` drops the proxy at once.
        weakref.finalize(reader, state.abandoned)

    def __iter__(self) -> Iterator[Any]:
        return self._self_reader

    def __next__(self) -> Any:
        return self._self_reader.__next__()

    def __enter__(self) -> TracedStream:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.__wrapped__.close()


class TracedAsyncStream(wrapt.ObjectProxy):
    """An ``openai.AsyncStream`` whose chunks and end are observed."""

    def __init__(self, stream: Any, state: StreamState, hide_usage: bool) -> None:
        super().__init__(stream)
        inner = getattr(stream, "_iterator", None)
        if inner is None:
            inner = stream.__aiter__()
        reader = (_aread_events if state.events else _aread_chunks)(inner, state, hide_usage)
        state.set_reader(reader)
        self._self_reader = reader
        # On the reader, not the proxy: `for c in client...create(stream=True)` drops the proxy at once.
        weakref.finalize(reader, state.abandoned)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._self_reader

    async def __anext__(self) -> Any:
        return await self._self_reader.__anext__()

    async def __aenter__(self) -> TracedAsyncStream:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.__wrapped__.close()


def trace_stream(stream: Any, state: StreamState, hide_usage: bool, is_async: bool) -> Any:
    """The app's stream, proxied, with its response's close hooked. Never raises (returns ``stream``)."""
    try:
        response = getattr(stream, "response", None)
        if response is not None:
            on_response_close(response, state.closed)
        if is_async:
            return TracedAsyncStream(stream, state, hide_usage)
        return TracedStream(stream, state, hide_usage)
    except Exception:
        log.debug("llm-otel could not observe an openai stream", exc_info=True)
        state.end(False)  # not observable: end the span now rather than never
        return stream
