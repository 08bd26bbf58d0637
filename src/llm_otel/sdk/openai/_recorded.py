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
from typing import Final

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
