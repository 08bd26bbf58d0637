"""Hash before you prompt: skip an LLM call on a document whose content has not changed.

Weekly reviews of thousands of documents (IAM policies, contracts, runbooks) mostly
re-review what did not change. ``skip_unchanged`` hashes the document's content with the
prompt version, and when the hash equals the one stored for that key at the last
*successful* run, returns the stored result without calling the model. What the skipped
run would have cost (the tokens and cost of the last real run) is recorded on a span as
``llm_otel.avoided.*`` so the processor can count ``llm_avoided_cost_usd_total``.

Failure isolation: if the store fails, the function runs as if nothing were stored; a
result that cannot be serialized is returned but not stored.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from opentelemetry.trace import SpanKind

from llm_otel import semconv
from llm_otel.pricing.usage import Usage

log = logging.getLogger("llm_otel")
T = TypeVar("T")

SPAN_NAME = "llm_otel.skip_unchanged"
DEFAULT_DB_ENV = "LLM_OTEL_UNCHANGED_DB"


@dataclass(frozen=True)
class StoredRun:
    """The last successful run for one key: its content digest, result, and what it consumed."""

    digest: str
    result_json: str
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cost_usd: float = 0.0
    at: float = 0.0


class UnchangedStore(Protocol):
    """Where digests and results live. Implement these two methods to plug in Redis, S3, a DB..."""

    def get(self, key: str) -> StoredRun | None: ...

    def put(self, key: str, run: StoredRun) -> None: ...


class SQLiteStore:
    """The default store: one SQLite file, safe across threads and processes."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = str(path or os.environ.get(DEFAULT_DB_ENV, "llm-otel-unchanged.db"))
        self._local = threading.local()
        with self._conn() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS unchanged_runs (key TEXT PRIMARY KEY, digest TEXT NOT NULL,"
                " result_json TEXT NOT NULL, calls INTEGER, input_tokens INTEGER, output_tokens INTEGER,"
                " cache_read_tokens INTEGER, cost_usd REAL, at REAL)"
            )

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            # A cache of results, not a ledger: losing the last writes on power loss only costs a re-run.
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def get(self, key: str) -> StoredRun | None:
        row = self._conn().execute(
            "SELECT digest, result_json, calls, input_tokens, output_tokens, cache_read_tokens, cost_usd, at"
            " FROM unchanged_runs WHERE key = ?",
            (key,),
        ).fetchone()
        return StoredRun(*row) if row else None

    def put(self, key: str, run: StoredRun) -> None:
        with self._conn() as conn:
            conn.execute(
                "INSERT INTO unchanged_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET"
                " digest=excluded.digest, result_json=excluded.result_json, calls=excluded.calls,"
                " input_tokens=excluded.input_tokens, output_tokens=excluded.output_tokens,"
                " cache_read_tokens=excluded.cache_read_tokens, cost_usd=excluded.cost_usd, at=excluded.at",
                (key, run.digest, run.result_json, run.calls, run.input_tokens, run.output_tokens,
                 run.cache_read_tokens, run.cost_usd, run.at),
            )


def content_digest(content: str | bytes | Any, version: str | None) -> str:
    """SHA-256 of the prompt version and the content (text, bytes, or canonical JSON of anything else)."""
    if isinstance(content, str):
        data = content.encode("utf-8")
    elif isinstance(content, (bytes, bytearray, memoryview)):
        data = bytes(content)
    else:
        data = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")
    h = hashlib.sha256()
    h.update((version or "").encode("utf-8"))
    h.update(b"\0")
    h.update(data)
    return h.hexdigest()


class _Meter:
    """What one measured run consumed: its calls' usage, priced when the run ends (off the call path)."""

    __slots__ = ("calls",)

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None, Usage, float]] = []

    def totals(self) -> tuple[int, int, int, int, float]:
        """(calls, input tokens, output tokens, cache-read tokens, cost in USD; unpriced calls add 0)."""
        from datetime import datetime, timezone

        from llm_otel.pricing import price

        cost = 0.0
        for provider, model, usage, at in self.calls:
            try:
                priced = price(usage, provider=provider, model=model or "", at=datetime.fromtimestamp(at, timezone.utc))
                cost += float(priced.total)
            except Exception:
                log.debug("llm-otel could not price a measured call", exc_info=True)
        return (
            len(self.calls),
            sum(u.input_tokens or 0 for _, _, u, _ in self.calls),
            sum(u.output_tokens or 0 for _, _, u, _ in self.calls),
            sum(u.cache_read_tokens or 0 for _, _, u, _ in self.calls),
            cost,
        )


_meter: ContextVar[_Meter | None] = ContextVar("llm_otel_unchanged_meter", default=None)


def note_call(provider: str, model: str | None, usage: Usage) -> None:
    """Called for every finished LLM call (from ``sdk.context``); counts it toward a run being measured.

    Cheap when no run is measured (one contextvar read). Never raises.
    """
    meter = _meter.get()
    if meter is not None:
        meter.calls.append((provider, model, usage, time.time()))


_default_store: UnchangedStore | None = None
_default_lock = threading.Lock()


def _store_or_default(store: UnchangedStore | None) -> UnchangedStore:
    global _default_store
    if store is not None:
        return store
    with _default_lock:
        if _default_store is None:
            _default_store = SQLiteStore()
        return _default_store


def _record_avoided(run: StoredRun) -> None:
    try:
        from llm_otel.sdk.call import get_tracer

        span = get_tracer().start_span(
            SPAN_NAME,
            kind=SpanKind.INTERNAL,
            attributes={
                semconv.AVOIDED_PREFIX + "calls": run.calls,
                semconv.AVOIDED_PREFIX + "input_tokens": run.input_tokens,
                semconv.AVOIDED_PREFIX + "output_tokens": run.output_tokens,
                semconv.AVOIDED_PREFIX + "cache_read.input_tokens": run.cache_read_tokens,
                semconv.AVOIDED_PREFIX + "cost_usd": run.cost_usd,
            },
        )
        span.end()
    except Exception:
        log.debug("llm-otel could not record an avoided run", exc_info=True)


def call_unless_unchanged(
    key: str,
    content: str | bytes | Any,
    compute: Callable[[], T],
    *,
    version: str | None = None,
    store: UnchangedStore | None = None,
) -> T:
    """Returns the stored result for ``key`` if ``content`` (with ``version``) is unchanged, else ``compute()``.

    Only a ``compute()`` that returns (no exception) is stored. Its result must be
    JSON-serializable to be reused; the stored result is returned as JSON decodes it.
    """
    digest = content_digest(content, version)
    backend: UnchangedStore | None = None
    try:
        backend = _store_or_default(store)
        previous = backend.get(key)
    except Exception:
        log.warning("llm-otel: the unchanged-content store failed; running the call", exc_info=True)
        previous = None
    if previous is not None and previous.digest == digest:
        try:
            result = json.loads(previous.result_json)
        except ValueError:
            result = None
        else:
            _record_avoided(previous)
            return result
    meter = _Meter()
    token = _meter.set(meter)
    try:
        result = compute()
    finally:
        _meter.reset(token)
    if backend is not None:
        try:
            calls, input_tokens, output_tokens, cache_read_tokens, cost_usd = meter.totals()
            backend.put(
                key,
                StoredRun(
                    digest=digest,
                    result_json=json.dumps(result),
                    calls=calls,
                    input_tokens=input_tokens,
                    output_tokens=output_tokens,
                    cache_read_tokens=cache_read_tokens,
                    cost_usd=cost_usd,
                    at=time.time(),
                ),
            )
        except (TypeError, ValueError):
            log.warning("llm-otel: result for key %r is not JSON-serializable; not stored", key)
        except Exception:
            log.warning("llm-otel: the unchanged-content store failed to save a result", exc_info=True)
    return result


def skip_unchanged(
    *,
    key: Callable[..., str],
    content: Callable[..., str | bytes | Any],
    version: str | None = None,
    store: UnchangedStore | None = None,
) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorator form of ``call_unless_unchanged``: ``key`` and ``content`` take the function's arguments.

    >>> @skip_unchanged(key=lambda p: p["id"], content=lambda p: p["document"], version="review-v3")
    ... def review(p): ...
    """

    def decorate(fn: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> T:
            return call_unless_unchanged(
                key(*args, **kwargs),
                content(*args, **kwargs),
                lambda: fn(*args, **kwargs),
                version=version,
                store=store,
            )

        return wrapper

    return decorate
