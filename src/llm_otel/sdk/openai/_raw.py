"""``with_raw_response`` / ``with_streaming_response`` calls: the app holds the HTTP response itself.

The app may ``parse()`` it, read ``.text``, iterate ``iter_lines()`` or never read
the body, so we observe bytes, not objects: a body already read is parsed at once;
otherwise the response's byte stream is teed and parsed when the response is
closed (the end of the body closes it too), or the span ends incomplete when the
response is garbage-collected unread. Nothing is injected into these requests
(no include_usage): the app would see the extra bytes. Rare path: clarity over speed.
"""

from __future__ import annotations

import json
import logging
import weakref
from typing import Any

from llm_otel.sdk.call import LLMCall
from llm_otel.sdk.openai import _recorded
from llm_otel.sdk.openai._hooks import tee_response_body
from llm_otel.sdk.openai._response import outcome_for
from llm_otel.sdk.openai._state import StreamState

log = logging.getLogger("llm_otel")


def _chunk_type(kind: str) -> Any:
    if kind == "responses":
        from openai.types.responses import ResponseStreamEvent

        return ResponseStreamEvent
    if kind == "completion":
        from openai.types import Completion

        return Completion
    from openai.types.chat import ChatCompletionChunk

    return ChatCompletionChunk


def _sse_data(text: str) -> list[str]:
    """The ``data`` payloads of a server-sent-events body, in order."""
    events: list[str] = []
    data: list[str] = []
    for line in text.splitlines():
        if not line:
            if data:
                events.append("\n".join(data))
                data = []
            continue
        if line.startswith("data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        events.append("\n".join(data))
    return events


def finish_from_body(call: LLMCall, kind: str, stream: bool, body: bytes, reached_end: bool) -> None:
    """Ends ``call`` from a raw body (JSON, or an SSE stream read up to ``reached_end``). Never raises."""
    if call.done:
        return
    try:
        if stream:
            from openai._models import construct_type

            state = StreamState(call, kind)
            chunk_type = _chunk_type(kind)
            feed = state.feeder()
            done = False
            for data in _sse_data(body.decode("utf-8", errors="replace")):
                if data.startswith("[DONE]"):
                    done = True
                    break
                try:
                    feed(construct_type(type_=chunk_type, value=json.loads(data)))
                except ValueError:
                    continue
            state.end(state.terminal if kind == "responses" else (reached_end or done))
            return
        if not reached_end:
            call.finish(stream_complete=False)
            return
        _recorded.finish(call, outcome_for(kind, json.loads(body)), claim_id=False)
    except Exception:
        log.debug("llm-otel could not read an openai raw response", exc_info=True)
        call.finish()


def observe_raw(call: LLMCall, kind: str, stream: bool, result: Any) -> None:
    """Arranges for ``call`` to end with what the raw response's body says. Never raises."""
    try:
        http = result.http_response
        if http.is_closed or http.is_stream_consumed or getattr(http, "_content", None) is not None:
            finish_from_body(call, kind, stream, http.content, True)
            return

        def on_close(body: bytes, reached_end: bool) -> None:
            finish_from_body(call, kind, stream, body, reached_end)

        if tee_response_body(http, on_close):
            weakref.finalize(http, _unread, call)
        else:
            call.finish()
    except Exception:
        log.debug("llm-otel could not observe an openai raw response", exc_info=True)
        call.finish()


def _unread(call: LLMCall) -> None:
    if not call.done:
        call.finish(stream_complete=False)
