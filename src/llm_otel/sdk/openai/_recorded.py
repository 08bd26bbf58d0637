"""Responses whose usage a span of this process already carries, so that reading one again
(``responses.retrieve``) does not count its tokens twice.

A background response (``responses.create(background=True)``) is created ``queued``, with no
usage: its tokens are known only once it is retrieved in a terminal state, so the retrieve that
first sees them gets the span. Any later retrieve of the same response, or a retrieve of a
response whose create span already had the usage, gets none. Bounded (oldest ids forgotten
first); across processes the collector-side processor deduplicates by (provider, response id).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from llm_otel.sdk.openai._response import Outcome

MAX_IDS: Final = 10_000

_ids: OrderedDict[str, None] = OrderedDict()
_lock = threading.Lock()


def claim(response_id: str) -> bool:
    """True the first time ``response_id`` is claimed (its usage goes on a span now), else False."""
    with _lock:
        if response_id in _ids:
            return False
        _ids[response_id] = None
        if len(_ids) > MAX_IDS:
            _ids.popitem(last=False)
        return True


def clear() -> None:
    """Forget every id (tests; ``uninstall``)."""
    with _lock:
        _ids.clear()


def finish(
    call: Any,
    out: Outcome,
    *,
    claim_id: bool,
    attributes: dict[str, Any] | None = None,
    stream_complete: bool | None = None,
    error: BaseException | None = None,
) -> None:
    """Ends ``call`` with ``out`` (an ``error`` wins over the outcome's error type); with ``claim_id``
    (a Responses outcome), remembers a response id whose usage is now on a span. May raise."""
    call.finish(
        out.usage,
        response_model=out.response_model,
        response_id=out.response_id,
        finish_reasons=out.finish_reasons,
        service_tier=out.service_tier,
        stream_complete=stream_complete,
        error=error,
        error_type=None if error is not None else out.error_type,
        attributes=attributes,
    )
    if claim_id and out.usage is not None and out.response_id:
        claim(out.response_id)  # a later retrieve of it must not count it again
