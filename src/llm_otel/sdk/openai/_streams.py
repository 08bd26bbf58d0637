"""Proxies for ``openai.Stream`` / ``openai.AsyncStream`` that see every chunk on its way to the app.

The proxy (``wrapt.ObjectProxy``) keeps the whole stream API: ``isinstance(s, Stream)``,
``.response``, ``close()``, context managers, ``__next__``; the helper streams
(``chat.completions.stream()``, ``responses.stream()``) wrap it as their raw stream and
work unchanged. Iteration goes through one generator per stream (``_read`` or its async
twin ``_aread``, which own the stream's end) and one observer (chat/completions chunks or
Responses events) that reads what it needs: per chunk one generator step, one method call
and a few attribute reads, no allocation.

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

from llm_otel.sdk.openai import _content
from llm_otel.sdk.openai._hooks import on_response_close
from llm_otel.sdk.openai._state import EVENTS_OF_INTEREST, StreamState

log = logging.getLogger("llm_otel")


# The four readers below are the per-chunk hot path: state lives in locals, ``StreamState`` is
# called only for the chunks that carry something (first id, finish reason, usage, terminal
# event). Added cost per chunk is measured by ``benchmarks/sdk_overhead.py`` (target <= 1 us).
# A failure in our part is logged once and the chunks keep flowing unchanged.


class _ChunkObserver:
    """Reads what a Chat Completions / Completions chunk tells the span; hides the usage-only chunk."""

    __slots__ = ("broken", "hide_usage", "need_id", "state")

    def __init__(self, state: StreamState, hide_usage: bool) -> None:
        self.state = state
        self.hide_usage = hide_usage
        self.need_id = True
        self.broken = False

    def keep(self, chunk: Any) -> bool:
        """Observes ``chunk``; False for the usage-only chunk the application did not ask for."""
        usage = choices = None
        if not self.broken:
            try:
                if self.need_id:
                    self.need_id = not self.state.first_chunk(chunk)
                usage = chunk.usage
                choices = chunk.choices
                for choice in choices:
                    if choice.finish_reason is not None:
                        self.state.finish_reason(choice)
                if usage is not None:
                    self.state.usage_chunk(chunk, usage, choices)
            except Exception:
                self.broken = True
                self.state.broke()
        if self.hide_usage:
            try:
                if self.broken:
                    usage = chunk.usage
                    choices = chunk.choices
                if usage is not None and not choices:
                    return False
                chunk.__pydantic_fields_set__.discard("usage")
            except Exception:
                pass
        return True


class _ContentChunkObserver(_ChunkObserver):
    """``_ChunkObserver`` that also collects the streamed text and tool calls per choice, for
    ``gen_ai.output.messages``. Used only when content capture is on (the default path is as above)."""

    __slots__ = ()

    def keep(self, chunk: Any) -> bool:
        kept = super().keep(chunk)
        try:
            collected = self.state.collected
            if collected is None:
                collected = self.state.collected = {}
            for choice in chunk.choices or ():
                entry = collected.setdefault(choice.index or 0, {"text": [], "tools": {}})
                delta = getattr(choice, "delta", None)
                text = getattr(delta, "content", None) if delta is not None else getattr(choice, "text", None)
                if text:
                    entry["text"].append(text)
                for call in (getattr(delta, "tool_calls", None) or ()) if delta is not None else ():
                    tool = entry["tools"].setdefault(call.index or 0, {"id": None, "name": None, "arguments": []})
                    tool["id"] = call.id or tool["id"]
                    function = call.function
                    if function is not None:
                        tool["name"] = function.name or tool["name"]
                        if function.arguments:
                            tool["arguments"].append(function.arguments)
        except Exception:
            log.debug("llm-otel could not collect streamed content", exc_info=True)
        return kept


class _EventObserver:
    """Feeds the Responses events that carry the outcome to the span's state."""

    __slots__ = ("broken", "state")

    def __init__(self, state: StreamState, hide_usage: bool) -> None:
        self.state = state
        self.broken = False

    def keep(self, event: Any) -> bool:
        if not self.broken:
            try:
                if event.type in EVENTS_OF_INTEREST:
                    self.state.feed_event(event)
            except Exception:
                self.broken = True
                self.state.broke()
        return True


def _observer(state: StreamState, hide_usage: bool) -> _ChunkObserver | _EventObserver:
    if state.events:
        return _EventObserver(state, hide_usage)
    return (_ContentChunkObserver if _content.enabled() else _ChunkObserver)(state, hide_usage)


def _read(inner: Iterator[Any], state: StreamState, hide_usage: bool) -> Iterator[Any]:
    keep = _observer(state, hide_usage).keep
    try:
        for item in inner:
            if keep(item):
                yield item
    except GeneratorExit:
        state.abandoned()
        raise
    except BaseException as exc:
        state.failed(exc)
        raise
    state.end_of_stream()


async def _aread(inner: AsyncIterator[Any], state: StreamState, hide_usage: bool) -> AsyncIterator[Any]:
    keep = _observer(state, hide_usage).keep
    try:
        async for item in inner:
            if keep(item):
                yield item
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
        state.end(False)  # not observable: end the span now rather than never
        return stream
