"""The running state of one streamed call: what the chunks or events said so far, and its end.

The per-chunk loop lives in ``_streams`` (locals only); it calls in here only for the
chunks that carry something. Every method here never raises: a failure is logged at
debug level and the app's stream goes on.

The span ends exactly once (``LLMCall.finish`` is idempotent) through whichever
comes first: the end of iteration, an error, the HTTP response being closed (the
app's ``close()``, a ``with`` block, a helper stream), or garbage collection.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from typing import Any

from llm_otel.sdk.call import LLMCall
from llm_otel.sdk.openai import _content, _recorded
from llm_otel.sdk.openai._response import Outcome, outcome_from_response, usage_from_openai

log = logging.getLogger("llm_otel")

_RESPONSE_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
_RESPONSE_STARTED = frozenset({"response.created", "response.in_progress", "response.queued"})
EVENTS_OF_INTEREST = _RESPONSE_TERMINAL | _RESPONSE_STARTED | {"error"}


class StreamState:
    """What one stream told us so far; ends its call's span once."""

    __slots__ = (
        "__weakref__",
        "_broken",
        "_events",
        "_reader",
        "call",
        "collected",
        "error_type",
        "final_response",
        "finish_reasons",
        "response_id",
        "response_model",
        "service_tier",
        "terminal",
        "usage",
    )

    def __init__(self, call: LLMCall | None, kind: str) -> None:
        self.call = call
        self.response_id: str | None = None
        self.response_model: str | None = None
        self.service_tier: str | None = None
        self.usage: Any = None
        self.finish_reasons: dict[int, str] | None = None
        self.final_response: Any = None
        self.error_type: str | None = None
        # Streamed output per choice index (content capture only): {"text": [pieces], "tools": {...}}
        self.collected: dict[int, dict[str, Any]] | None = None
        self.terminal = False  # the stream's final event (usage chunk / terminal response event) was seen
        self._broken = False
        self._reader: Callable[[], Any] | None = None  # weakref to the generator reading the stream
        self._events = kind == "responses"

    # --- per chunk: called by the readers in ``_streams`` only for chunks that carry something ----

    @property
    def events(self) -> bool:
        """True for a Responses API event stream, False for a chunk stream."""
        return self._events

    def feeder(self) -> Callable[[Any], None]:
        """A per-item reader for this stream's kind (raw bodies in ``_raw``). Never raises."""
        return self.feed_event if self._events else self.feed_chunk

    def feed_chunk(self, chunk: Any) -> None:
        """One Chat Completions / Completions chunk, whole. Never raises."""
        if self._broken:
            return
        try:
            if self.response_id is None:
                self.first_chunk(chunk)
            usage = chunk.usage
            choices = chunk.choices
            for choice in choices:
                if choice.finish_reason is not None:
                    self.finish_reason(choice)
            if usage is not None:
                self.usage_chunk(chunk, usage, choices)
        except Exception:
            self.broke()

    def first_chunk(self, chunk: Any) -> bool:
        """Takes id, model and tier from the first chunk that has an id (Azure's first has none)."""
        rid = getattr(chunk, "id", None)
        if not rid:
            return False
        self.response_id = rid
        self.response_model = getattr(chunk, "model", None) or None
        self.service_tier = getattr(chunk, "service_tier", None) or None
        return True

    def finish_reason(self, choice: Any) -> None:
        reasons = self.finish_reasons
        if reasons is None:
            reasons = self.finish_reasons = {}
        reasons[choice.index or 0] = choice.finish_reason

    def usage_chunk(self, chunk: Any, usage: Any, choices: Any) -> None:
        self.usage = usage
        self.terminal = True
        tier = getattr(chunk, "service_tier", None)
        if tier:
            self.service_tier = tier
        if not choices:
            # OpenAI's usage-only chunk is the last one: the call is complete now, even if the
            # app (or an outer instrumentation that ends its span here) stops reading before [DONE].
            self.end(True)

    def feed_event(self, event: Any) -> None:
        """One Responses API stream event. Never raises."""
        if self._broken:
            return
        try:
            etype = event.type
            if etype in _RESPONSE_TERMINAL:
                self.final_response = event.response
                self.terminal = True
                self.end(True)  # complete now: nothing after it changes the outcome
            elif etype in _RESPONSE_STARTED:
                response = event.response
                self.response_id = getattr(response, "id", None) or self.response_id
                self.response_model = getattr(response, "model", None) or self.response_model
            elif etype == "error":
                self.error_type = getattr(event, "code", None) or "error"
        except Exception:
            self.broke()

    def broke(self) -> None:
        """Our reading failed: stop reading, keep what we have (the app's stream is untouched)."""
        self._broken = True
        log.debug("llm-otel could not read an openai stream item", exc_info=True)

    # --- the end ---------------------------------------------------------------------------------------

    def set_reader(self, reader: Any) -> None:
        """The generator reading the stream: a close from inside it is the normal end, not an early one."""
        try:
            self._reader = weakref.ref(reader)
        except TypeError:
            self._reader = None

    def _reading(self) -> bool:
        ref = self._reader
        reader = ref() if ref is not None else None
        if reader is None:
            return False
        return bool(getattr(reader, "gi_running", False) or getattr(reader, "ag_running", False))

    def outcome(self) -> Outcome:
        """What is certain so far: final values when the terminal event came, else ids only."""
        if self.final_response is not None:
            out = outcome_from_response(self.final_response)
            if self.error_type and not out.error_type:
                out.error_type = self.error_type
            return out
        reasons = None
        if self.finish_reasons:
            reasons = [self.finish_reasons[i] for i in sorted(self.finish_reasons)]
        return Outcome(
            usage=usage_from_openai(self.usage) if self.usage is not None else None,
            response_model=self.response_model,
            response_id=self.response_id,
            finish_reasons=reasons,
            service_tier=self.service_tier,
            error_type=self.error_type,
        )

    def end(self, complete: bool, error: BaseException | None = None) -> None:
        """Ends the span (once). ``complete``: the stream reached its end. Never raises."""
        call = self.call
        if call is None or call.done:
            return
        try:
            out = self.outcome()
        except Exception:
            log.debug("llm-otel could not read an openai stream's outcome", exc_info=True)
            out = Outcome()
        extra = None
        if (self.final_response is not None or self.collected) and _content.enabled():
            try:
                if self.final_response is not None:
                    extra = _content.output_attributes("responses", self.final_response)
                else:
                    extra = _content.streamed_output_attributes(self.collected or {}, self.finish_reasons or {})
            except Exception:
                log.debug("llm-otel could not record openai output messages", exc_info=True)
        try:
            _recorded.finish(
                call, out, claim_id=self._events, attributes=extra, stream_complete=complete, error=error
            )
        except Exception:
            log.debug("llm-otel could not end an openai stream's span", exc_info=True)

    def end_of_stream(self) -> None:
        """Iteration reached the end. A Responses stream is complete only with its terminal event."""
        self.end(self.terminal if self._events else True)

    def failed(self, error: BaseException) -> None:
        self.end(self.terminal, error)

    def closed(self) -> None:
        """The HTTP response was closed; from inside our reader it is the normal end (the reader ends it)."""
        try:
            if self._reading():
                return
        except Exception:
            log.debug("llm-otel could not inspect an openai stream reader", exc_info=True)
        self.end(self.terminal)

    def abandoned(self) -> None:
        """The stream was garbage-collected before it ended."""
        self.end(self.terminal)
