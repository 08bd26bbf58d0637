"""Ends a call's span when its response body ends: read, closed, dropped or failed, sync and async.

anthropic 2.x has a seam for exactly this: a ``Stream``/``AsyncStream`` looks for a
``stream_observer`` on ``response.stream`` (the httpx body) and tells it ``begin()``,
``item(event)`` for every parsed event, and ``end(how, error)`` ("read", "closed",
"failed"). The SDK's native tracing uses it; for calls we instrument we put our own
``BodyRecorder`` there instead, on a thin wrapper of the body that also reports how the
*bytes* ended (closed, failed, garbage-collected), so a stream that is abandoned
without ever being iterated still ends its span.

* The stream keeps its whole API: the objects the application holds are the SDK's own
  (``Stream``, ``MessageStream``, raw responses); only ``response.stream`` is wrapped.
* The span ends exactly once (``_done``), on the first end that settles the outcome.
  The body's own "read" is not final while a ``Stream`` parses it: the SSE decoder can
  still flush events after the last bytes, so the ``Stream``'s "read" settles it.
* Per event (hot path, <= 1 us budget, ``benchmarks/sdk_overhead.py``): one attribute
  read and string compares; no allocation except appending the one ``message_delta``.
* A body read as bytes by the application (``with_streaming_response`` and friends) is
  buffered and decoded at its end; a ``Stream``'s body is never buffered.

Every method here never raises: a failure to record is logged at debug level.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any, Protocol

import httpx2

from llm_otel.pricing.usage import Usage
from llm_otel.sdk import content
from llm_otel.sdk.anthropic import content as anthropic_content
from llm_otel.sdk.anthropic.usage import fields, get, normalize_anthropic_usage, service_tier, stream_usage

log = logging.getLogger("llm_otel")

REQUEST_ID_ATTRIBUTE = "anthropic.request.id"
TRUNCATED_ERROR_TYPE = "incomplete_stream"


class CallSink(Protocol):
    """What a recorder reports to: ``LLMCall`` (our span) or ``ForeignCall`` (another instrumentation's)."""

    def finish(
        self,
        usage: Usage | None = None,
        *,
        response_model: str | None = None,
        response_id: str | None = None,
        finish_reasons: Any = None,
        service_tier: str | None = None,
        stream_complete: bool | None = None,
        error: BaseException | None = None,
        error_type: str | None = None,
        attributes: Any = None,
    ) -> None: ...


def finish_message(call: CallSink, message: Any, request_id: str | None = None) -> None:
    """Finishes ``call`` with a complete Message (model or decoded dict). Never raises."""
    try:
        f = fields(message)
        usage = f.get("usage")
        stop = f.get("stop_reason")
        model = f.get("model")
        rid = f.get("id")
        attributes = {REQUEST_ID_ATTRIBUTE: request_id} if request_id else None
        if content.capture_content():
            attributes = {**(attributes or {}), **_output_content(message)}
        call.finish(
            normalize_anthropic_usage(usage),
            response_model=model if isinstance(model, str) else None,
            response_id=rid if isinstance(rid, str) else None,
            finish_reasons=[stop] if isinstance(stop, str) else None,
            service_tier=service_tier(usage),
            attributes=attributes,
        )
    except Exception:
        log.debug("llm-otel could not record a message", exc_info=True)
        call.finish()


def _output_content(message: Any) -> dict[str, str]:
    """``gen_ai.output.messages`` (opted in); nothing when it cannot be read (the call still finishes)."""
    try:
        return anthropic_content.output_attributes(message)
    except Exception:
        log.debug("llm-otel could not record the output content", exc_info=True)
        return {}


def error_type(error: BaseException) -> str:
    """The API's error type (``overloaded_error``...) when the SDK parsed one, else the exception's class."""
    etype = getattr(error, "type", None)
    return etype if isinstance(etype, str) and etype else type(error).__qualname__


class BodyRecorder:
    """The ``stream_observer`` of one call's response body. Methods never raise."""

    __slots__ = ("_body_read", "_call", "_deltas", "_done", "_request_id", "_sse", "_start", "_stopped", "begun")

    def __init__(self, call: CallSink, *, sse: bool, request_id: str | None) -> None:
        self._call = call
        self._sse = sse
        self._request_id = request_id
        self._start: Any = None  # the message of message_start
        self._deltas: list[Any] = []  # message_delta events
        self._stopped = False  # message_stop seen
        self._done = False
        self._body_read = False  # the bytes ended while a Stream parses them
        self.begun = False  # a Stream parses the body (it calls begin() before reading bytes)

    # --- the SDK's StreamObserver protocol (called by Stream / AsyncStream) -----------------
    def begin(self) -> None:
        self.begun = True

    def item(self, event: Any) -> None:
        # Hot path: once per event.
        try:
            kind = event.type
            if kind == "content_block_delta":
                return
            if kind == "message_start":
                self._start = event.message
            elif kind == "message_delta":
                self._deltas.append(event)
            elif kind == "message_stop":
                self._stopped = True
        except Exception:
            pass

    def end(self, how: str, error: BaseException | None = None) -> None:
        if self._done:
            return
        if how == "failed":
            self._finish_stream(error=error)
        elif how == "read":
            self._finish_stream(truncated=not self._stopped)
        else:
            self._finish_stream()

    # --- the body wrapper's reports -------------------------------------------------------
    def body_end(self, how: str, error: BaseException | None = None, body: bytes | None = None) -> None:
        if self._done:
            return
        if how == "failed":
            self._finish_stream(error=error)
        elif how == "read":
            if self.begun:
                self._body_read = True
                return  # the Stream's own end follows, after any events the decoder still flushes
            if body is not None:
                self._finish_body(body)
            else:
                self._finish_stream()
        elif how == "closed" and self._body_read:
            return  # httpx closes a body it has read; the Stream's end (or garbage collection) settles it
        else:
            self._finish_stream()

    # --- finishing ------------------------------------------------------------------------
    def _finish_body(self, body: bytes) -> None:
        """A body the application read as bytes: decode it ourselves (JSON Message or SSE events)."""
        try:
            if self._sse:
                for event in _sse_events(body):
                    self._feed(event)
                self._finish_stream(truncated=not self._stopped)
                return
            message = json.loads(body)
        except Exception:
            log.debug("llm-otel could not decode a response body", exc_info=True)
            self._finish_stream()
            return
        self._done = True
        finish_message(self._call, message, self._request_id)

    def _extra_attributes(self, stop: Any) -> dict[str, str] | None:
        """Attributes a subclass adds when the stream ends (``ContentRecorder``: the output content)."""
        return None

    def _feed(self, event: Any) -> None:
        kind = get(event, "type")
        if kind == "message_start":
            self._start = get(event, "message")
        elif kind == "message_delta":
            self._deltas.append(event)
        elif kind == "message_stop":
            self._stopped = True

    def _finish_stream(self, *, error: BaseException | None = None, truncated: bool = False) -> None:
        if self._done:
            return
        self._done = True
        call = self._call
        try:
            start = self._start
            deltas = self._deltas
            usage, tier = stream_usage(get(start, "usage"), [get(d, "usage") for d in deltas])
            stop = get(get(deltas[-1], "delta"), "stop_reason") if deltas else None
            model = get(start, "model")
            rid = get(start, "id")
            kwargs: dict[str, Any] = {
                "response_model": model if isinstance(model, str) else None,
                "response_id": rid if isinstance(rid, str) else None,
                "finish_reasons": [stop] if isinstance(stop, str) else None,
                "service_tier": tier,
                "stream_complete": self._stopped and error is None,
                "attributes": {REQUEST_ID_ATTRIBUTE: self._request_id} if self._request_id else None,
            }
            extra = self._extra_attributes(stop)
            if extra:
                kwargs["attributes"] = {**(kwargs["attributes"] or {}), **extra}
            if error is not None and isinstance(error, Exception):
                kwargs["error"] = error
                kwargs["error_type"] = error_type(error)
            elif truncated and start is not None:
                kwargs["error_type"] = TRUNCATED_ERROR_TYPE
        except Exception:
            log.debug("llm-otel could not record a stream", exc_info=True)
            call.finish(stream_complete=False)
            return
        call.finish(usage, **kwargs)


class ContentRecorder(BodyRecorder):
    """A ``BodyRecorder`` that also assembles the streamed content blocks, for
    ``gen_ai.output.messages``. Used only when the user opted in to content capture, so the
    default per-event path stays as it is."""

    __slots__ = ("_blocks",)

    def __init__(self, call: CallSink, *, sse: bool, request_id: str | None) -> None:
        super().__init__(call, sse=sse, request_id=request_id)
        self._blocks: dict[int, dict[str, Any]] = {}

    def item(self, event: Any) -> None:
        super().item(event)
        self._collect(event)

    def _feed(self, event: Any) -> None:
        super()._feed(event)
        self._collect(event)

    def _collect(self, event: Any) -> None:
        try:
            kind = get(event, "type")
            if kind == "content_block_start":
                block = get(event, "content_block")
                btype = get(block, "type")
                entry: dict[str, Any] = {"type": btype}
                if btype == "text":
                    entry["text"] = get(block, "text") or ""
                elif btype == "thinking":
                    entry["thinking"] = get(block, "thinking") or ""
                elif btype == "tool_use":
                    entry.update(id=get(block, "id"), name=get(block, "name"), json="")
                self._blocks[get(event, "index")] = entry
            elif kind == "content_block_delta":
                found = self._blocks.get(get(event, "index"))
                if found is None:
                    return
                entry = found
                delta = get(event, "delta")
                dtype = get(delta, "type")
                if dtype == "text_delta":
                    entry["text"] = entry.get("text", "") + (get(delta, "text") or "")
                elif dtype == "thinking_delta":
                    entry["thinking"] = entry.get("thinking", "") + (get(delta, "thinking") or "")
                elif dtype == "input_json_delta":
                    entry["json"] = entry.get("json", "") + (get(delta, "partial_json") or "")
        except Exception:
            log.debug("llm-otel could not collect a content block", exc_info=True)

    def _extra_attributes(self, stop: Any) -> dict[str, str] | None:
        blocks = []
        for _, entry in sorted(self._blocks.items(), key=lambda kv: kv[0] if isinstance(kv[0], int) else 0):
            block = dict(entry)
            raw = block.pop("json", None)
            if block.get("type") == "tool_use":
                try:
                    block["input"] = json.loads(raw) if raw else {}
                except ValueError:
                    block["input"] = raw  # cut short: what arrived, as text
            blocks.append(block)
        if not blocks:
            return None
        return _output_content({"role": "assistant", "content": blocks, "stop_reason": stop})


def new_recorder(call: CallSink, *, sse: bool, request_id: str | None) -> BodyRecorder:
    """The recorder for one response body: with content assembly only when the user opted in."""
    cls = ContentRecorder if sse and content.capture_content() else BodyRecorder
    return cls(call, sse=sse, request_id=request_id)


def _sse_events(body: bytes) -> Iterator[Any]:
    """The JSON ``data:`` payloads of a server-sent-events body (fallback path only)."""
    for block in body.decode("utf-8", "replace").replace("\r\n", "\n").split("\n\n"):
        data = [line[5:].lstrip(" ") for line in block.split("\n") if line.startswith("data:")]
        if not data:
            continue
        try:
            yield json.loads("\n".join(data))
        except ValueError:
            continue


# --- body wrappers ------------------------------------------------------------------------------
# Same shape as the SDK's own ``SpanEndingStream`` family: the wrapper is of the same kind as the
# body (sync, async, or both for ``httpx2.ByteStream``) so httpx2's checks on the kind still hold.


class RecordingBody(httpx2.SyncByteStream):
    def __init__(self, body: httpx2.SyncByteStream, recorder: BodyRecorder, buffer: bool) -> None:
        self._body = body
        self._buffer = buffer
        self.stream_observer = recorder

    @property
    def elapsed(self) -> timedelta | None:
        return getattr(self._body, "elapsed", None)

    def __iter__(self) -> Iterator[bytes]:
        recorder = self.stream_observer
        try:
            if self._buffer and not recorder.begun:
                chunks: list[bytes] = []
                for chunk in self._body:
                    chunks.append(chunk)
                    yield chunk
                recorder.body_end("read", None, b"".join(chunks))
            else:
                yield from self._body
                recorder.body_end("read")
        except Exception as err:
            recorder.body_end("failed", err)
            raise

    def close(self) -> None:
        self.stream_observer.body_end("closed")
        self._body.close()

    def __del__(self) -> None:
        # The application may drop the response without reading or closing it.
        with contextlib.suppress(Exception):
            self.stream_observer.body_end("collected")


class AsyncRecordingBody(httpx2.AsyncByteStream):
    def __init__(self, body: httpx2.AsyncByteStream, recorder: BodyRecorder, buffer: bool) -> None:
        self._async_body = body
        self._buffer = buffer
        self.stream_observer = recorder

    @property
    def elapsed(self) -> timedelta | None:
        return getattr(self._async_body, "elapsed", None)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        recorder = self.stream_observer
        chunks_it = self._async_body.__aiter__()
        try:
            if self._buffer and not recorder.begun:
                chunks: list[bytes] = []
                async for chunk in chunks_it:
                    chunks.append(chunk)
                    yield chunk
                recorder.body_end("read", None, b"".join(chunks))
            else:
                async for chunk in chunks_it:
                    yield chunk
                recorder.body_end("read")
        except Exception as err:
            recorder.body_end("failed", err)
            raise
        finally:
            aclose = getattr(chunks_it, "aclose", None)
            if aclose is not None:
                await aclose()

    async def aclose(self) -> None:
        self.stream_observer.body_end("closed")
        await self._async_body.aclose()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.stream_observer.body_end("collected")


class DualRecordingBody(RecordingBody, AsyncRecordingBody):
    """A body that is sync and async at once (``httpx2.ByteStream``: in-memory transports)."""

    def __init__(self, body: Any, recorder: BodyRecorder, buffer: bool) -> None:
        RecordingBody.__init__(self, body, recorder, buffer)
        AsyncRecordingBody.__init__(self, body, recorder, buffer)


def attach(response: httpx2.Response, call: CallSink, *, buffer: bool) -> BodyRecorder:
    """Puts a recorder for ``call`` on ``response``'s body. May raise; the caller catches."""
    headers = response.headers
    sse = "event-stream" in (headers.get("content-type") or "")
    recorder = new_recorder(call, sse=sse, request_id=headers.get("request-id"))
    body = response.stream
    wrapped: Any
    if not isinstance(body, httpx2.SyncByteStream):
        wrapped = AsyncRecordingBody(body, recorder, buffer)
    elif isinstance(body, httpx2.AsyncByteStream):
        wrapped = DualRecordingBody(body, recorder, buffer)
    else:
        wrapped = RecordingBody(body, recorder, buffer)
    response.stream = wrapped
    return recorder
