"""Proxies for ``openai.Stream`` / ``openai.AsyncStream`` that see every chunk on its way to the app.

The proxy (``wrapt.ObjectProxy``) keeps the whole stream API: ``isinstance(s, Stream)``,
``.response``, ``close()``, context managers, ``__next__``; the helper streams
(``chat.completions.stream()``, ``responses.stream()``) wrap it as their raw stream and
work unchanged. Iteration goes through one generator per stream (``_read`` /
``_aread``) that feeds ``StreamState`` and yields the chunk: per chunk that is one
generator step plus ``StreamState.feed_*`` (no allocation; ``benchmarks/sdk_overhead.py``).

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
from llm_otel.sdk.openai._state import StreamState

log = logging.getLogger("llm_otel")


def _read(inner: Iterator[Any], state: StreamState, hide_usage: bool) -> Iterator[Any]:
    feed = state.feeder()
    try:
        for chunk in inner:
            feed(chunk)
            if hide_usage:
                if chunk.usage is not None and not chunk.choices:
                    continue
                _unset_usage(chunk)
            yield chunk
    except GeneratorExit:
        state.abandoned()
        raise
    except BaseException as exc:
        state.failed(exc)
        raise
    state.end_of_stream()


async def _aread(inner: AsyncIterator[Any], state: StreamState, hide_usage: bool) -> AsyncIterator[Any]:
    feed = state.feeder()
    try:
        async for chunk in inner:
            feed(chunk)
            if hide_usage:
                if chunk.usage is not None and not chunk.choices:
                    continue
                _unset_usage(chunk)
            yield chunk
    except GeneratorExit:
        state.abandoned()
        raise
    except BaseException as exc:
        state.failed(exc)
        raise
    state.end_of_stream()


def _unset_usage(chunk: Any) -> None:
    fields = getattr(chunk, "__pydantic_fields_set__", None)
    if fields is not None:
        fields.discard("usage")


class TracedStream(wrapt.ObjectProxy):
    """An ``openai.Stream`` whose chunks and end are observed."""

    def __init__(self, stream: Any, state: StreamState, hide_usage: bool) -> None:
        super().__init__(stream)
        inner = getattr(stream, "_iterator", None)
        if inner is None:
            inner = iter(stream)
        reader = _read(inner, state, hide_usage)
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

    def __reduce_ex__(self, protocol: Any) -> Any:  # pragma: no cover - streams are not picklable anyway
        return self.__wrapped__.__reduce_ex__(protocol)


class TracedAsyncStream(wrapt.ObjectProxy):
    """An ``openai.AsyncStream`` whose chunks and end are observed."""

    def __init__(self, stream: Any, state: StreamState, hide_usage: bool) -> None:
        super().__init__(stream)
        inner = getattr(stream, "_iterator", None)
        if inner is None:
            inner = stream.__aiter__()
        reader = _aread(inner, state, hide_usage)
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
        return stream
