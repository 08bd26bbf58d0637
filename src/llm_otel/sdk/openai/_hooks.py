"""Hooks on the HTTP response's byte stream: the one place every close of a stream passes.

``Stream.close()``, the helper streams' ``close()`` (``chat.completions.stream()``,
``responses.stream()``), ``with`` blocks, ``APIResponse.close()`` and the end of the
body all end in ``httpx2.Response.close()``, which closes ``response.stream``.
Replacing that byte stream with a thin wrapper tells us about every close without
patching any helper class. Per network read the sync/async close hooks add nothing
(``__iter__`` hands out the inner iterator); the tee used for raw responses keeps a
copy of the bytes (only ``with_raw_response`` / ``with_streaming_response`` calls).

The wrappers hold no reference to the response (no reference cycle), only the
callback. Never raise from a callback: they are guarded here.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

log = logging.getLogger("llm_otel")


def _notify(callback: Callable[[], None]) -> None:
    try:
        callback()
    except Exception:
        log.debug("llm-otel stream close callback failed", exc_info=True)


_bases: list[tuple[type, type]] | None = None


def _byte_stream_bases() -> list[tuple[type, type]]:
    """The byte-stream base classes of httpx2 and (if installed) legacy httpx, looked up once."""
    global _bases
    if _bases is None:
        bases: list[tuple[type, type]] = []
        for module_name in ("httpx2", "httpx"):
            try:
                module = __import__(module_name)
                bases.append((module.SyncByteStream, module.AsyncByteStream))
            except Exception:
                continue
        _bases = bases
    return _bases


_classes: dict[tuple[type, str], type] = {}


def _hook_class(base: type, flavour: str) -> type:
    """A subclass of the client library's byte-stream base (its ``isinstance`` checks must pass)."""
    key = (base, flavour)
    cls = _classes.get(key)
    if cls is None:
        body = _FLAVOURS[flavour]
        cls = type(f"LLMOtel{flavour}", (body, base), {})
        _classes[key] = cls
    return cls


class _SyncCloseHook:
    def __init__(self, inner: Any, on_close: Callable[[], None]) -> None:
        self._inner = inner
        self._on_close = on_close

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._inner)

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            _notify(self._on_close)


class _AsyncCloseHook:
    def __init__(self, inner: Any, on_close: Callable[[], None]) -> None:
        self._inner = inner
        self._on_close = on_close

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._inner.__aiter__()

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            _notify(self._on_close)


class _SyncTee:
    """Copies the body as it is read; ``on_close(body, complete)`` when the response is closed."""

    def __init__(self, inner: Any, on_close: Callable[[bytes, bool], None]) -> None:
        self._inner = inner
        self._on_close = on_close
        self._buffer = bytearray()
        self._complete = False

    def __iter__(self) -> Iterator[bytes]:
        buffer = self._buffer
        for chunk in self._inner:
            buffer += chunk
            yield chunk
        self._complete = True

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            callback, self._on_close = self._on_close, _ignore
            _notify(lambda: callback(bytes(self._buffer), self._complete))


class _AsyncTee:
    def __init__(self, inner: Any, on_close: Callable[[bytes, bool], None]) -> None:
        self._inner = inner
        self._on_close = on_close
        self._buffer = bytearray()
        self._complete = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        buffer = self._buffer
        async for chunk in self._inner:
            buffer += chunk
            yield chunk
        self._complete = True

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            callback, self._on_close = self._on_close, _ignore
            _notify(lambda: callback(bytes(self._buffer), self._complete))


def _ignore(*_: Any) -> None:
    return None


_FLAVOURS: dict[str, type] = {
    "SyncCloseHook": _SyncCloseHook,
    "AsyncCloseHook": _AsyncCloseHook,
    "SyncTee": _SyncTee,
    "AsyncTee": _AsyncTee,
}


def _wrap(response: Any, flavour_sync: str, flavour_async: str, callback: Any) -> bool:
    stream = getattr(response, "stream", None)
    if stream is None:
        return False
    for sync_base, async_base in _byte_stream_bases():
        if isinstance(stream, sync_base):
            response.stream = _hook_class(sync_base, flavour_sync)(stream, callback)
            return True
        if isinstance(stream, async_base):
            response.stream = _hook_class(async_base, flavour_async)(stream, callback)
            return True
    return False


def on_response_close(response: Any, callback: Callable[[], None]) -> bool:
    """Calls ``callback()`` after ``response`` is closed, however that happens. False if not hookable."""
    try:
        return _wrap(response, "SyncCloseHook", "AsyncCloseHook", callback)
    except Exception:
        log.debug("llm-otel could not hook an openai response's close", exc_info=True)
        return False


def tee_response_body(response: Any, callback: Callable[[bytes, bool], None]) -> bool:
    """Calls ``callback(body_so_far, reached_end)`` once, when ``response`` is closed. False if not hookable."""
    try:
        return _wrap(response, "SyncTee", "AsyncTee", callback)
    except Exception:
        log.debug("llm-otel could not observe an openai raw response", exc_info=True)
        return False
