"""Team quotas enforced in-process from the processor's ``GET /v1/quotas`` (docs/sdk.md#quotas).

A daemon thread polls the endpoint every ``LLM_OTEL_QUOTA_INTERVAL_S`` seconds (default 10)
and swaps in a new snapshot: ``team -> task type ("" = any) -> quota`` holding ONLY the
quotas that are spent. The call path (:func:`check`, from ``context.check_budget``) reads
that snapshot: with nothing spent it is one global read and one truth test, and it never
does I/O or allocates. A spent hard quota raises ``QuotaExceeded`` before the request is
sent; a spent soft quota warns once per quota and period, and adds a span event.

Fails open, on purpose: if the processor cannot be reached (down, slow, 401, bad JSON) the
failure is logged at debug level and the last good state is kept, and a process that never
got a state enforces nothing. A processor outage never blocks LLM calls; it only lets spend
go on unchecked until the processor answers again. Entries of a past month are dropped.

The endpoint's bearer token: ``LLM_OTEL_QUOTA_TOKEN``, else the ``Authorization`` header in
``OTEL_EXPORTER_OTLP_TRACES_HEADERS`` / ``OTEL_EXPORTER_OTLP_HEADERS`` (the OTLP exporter's).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.parse
import urllib.request
import warnings
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.util.types import AttributeValue

from llm_otel.errors import QuotaExceeded

if TYPE_CHECKING:
    from llm_otel.sdk.context import Task

log = logging.getLogger("llm_otel")

ENV_URL = "LLM_OTEL_QUOTA_URL"
ENV_INTERVAL = "LLM_OTEL_QUOTA_INTERVAL_S"
ENV_TOKEN = "LLM_OTEL_QUOTA_TOKEN"
DEFAULT_INTERVAL_S = 10.0
EVENT_NAME = "llm_otel.quota.exceeded"


class Spent:
    """One spent quota as the call path needs it: built by the refresher, read-only afterwards."""

    __slots__ = ("event_attrs", "hard", "limit", "mode", "period", "task_type", "team", "unit", "used")

    def __init__(self, entry: dict[str, Any]) -> None:
        self.team = str(entry["team"])
        self.task_type = None if entry.get("task_type") is None else str(entry["task_type"])
        self.unit = "usd" if "limit_usd" in entry else "tokens"
        self.limit = float(entry[f"limit_{self.unit}"])
        self.used = float(entry.get(f"used_{self.unit}") or 0)
        self.mode = str(entry.get("mode") or "hard")
        self.hard = self.mode != "soft"
        self.period = str(entry.get("period") or "")
        self.event_attrs: dict[str, AttributeValue] = {
            "llm_otel.team": self.team,
            "llm_otel.task.type": self.task_type or "*",
            "llm_otel.quota.mode": self.mode,
            "llm_otel.quota.unit": self.unit,
            "llm_otel.quota.limit": self.limit,
            "llm_otel.quota.used": self.used,
            "llm_otel.quota.period": self.period,
        }


# The snapshot the call path reads; replaced whole (never mutated) by the refresher.
snapshot: dict[str, dict[str, Spent]] = {}
_state: dict[str, Any] | None = None  # the last good response, for inspection (state())
_warned: set[tuple[str, str, str]] = set()  # soft quotas warned about: (team, task type, period)
_lock = threading.Lock()
_refresher: Refresher | None = None


def check(task: Task | None) -> None:
    """Raises ``QuotaExceeded`` when a hard quota of the task's team (and task type) is spent.

    Walks the task and its enclosing tasks (each checked with its own team and type). Hot
    path: no I/O, no allocation unless a quota is spent. Soft quotas warn instead.
    """
    spent = snapshot
    if not spent:
        return
    while task is not None:
        team = task.team
        if team is not None:
            by_type = spent.get(team)
            if by_type is not None:
                for q in (by_type.get(task.type), by_type.get("")):
                    if q is None:
                        continue
                    if q.hard:
                        raise QuotaExceeded(q.team, q.task_type, q.unit, q.used, q.limit, q.period, task.id)
                    _soft(q, task.type)
        task = task.parent


def _soft(q: Spent, task_type: str) -> None:
    """A spent soft quota: an event on the current span, and a warning once per quota and period."""
    try:
        trace.get_current_span().add_event(EVENT_NAME, q.event_attrs)
    except Exception:
        log.debug("llm-otel could not add the quota event", exc_info=True)
    key = (q.team, q.task_type or "", q.period)
    if key in _warned:
        return
    with _lock:
        if key in _warned:
            return
        _warned.add(key)
    what = f"team {q.team!r}" + (f" task type {q.task_type!r}" if q.task_type else "")
    limit = f"${q.limit:,.2f}" if q.unit == "usd" else f"{q.limit:,.0f} tokens"
    used = f"${q.used:,.2f}" if q.unit == "usd" else f"{q.used:,.0f} tokens"
    warnings.warn(
        f"llm-otel: the soft quota of {what} for {q.period} is spent ({used} of {limit}); "
        "calls go on (a hard quota would refuse them)",
        QuotaWarning,
        stacklevel=2,
    )


class QuotaWarning(UserWarning):
    """A soft quota is spent (warned once per quota and period)."""


def apply(state: dict[str, Any]) -> None:
    """Installs a ``GET /v1/quotas`` response as the snapshot the call path reads."""
    global snapshot, _state
    new: dict[str, dict[str, Spent]] = {}
    for entry in state.get("quotas") or ():
        if entry.get("exceeded"):
            q = Spent(entry)
            new.setdefault(q.team, {})[q.task_type or ""] = q
    snapshot, _state = new, state


def drop_past_periods(now_s: float | None = None) -> None:
    """Forgets spent quotas of a month that has ended (a stale state must not block a new month)."""
    global snapshot
    period = time.strftime("%Y-%m", time.gmtime(time.time() if now_s is None else now_s))
    current = snapshot
    kept = {t: {k: q for k, q in by.items() if q.period >= period} for t, by in current.items()}
    kept = {t: by for t, by in kept.items() if by}
    if sum(map(len, kept.values())) != sum(map(len, current.values())):
        snapshot = kept


def state() -> dict[str, Any] | None:
    """The last good ``/v1/quotas`` response (None before the first). Never raises."""
    return _state


def clear() -> None:
    """Forgets the state (and which soft quotas were warned about)."""
    global snapshot, _state
    snapshot, _state = {}, None
    _warned.clear()


def quota_endpoint(url: str) -> str:
    """``http://host:port`` (or any URL without a path) means ``http://host:port/v1/quotas``."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.path in ("", "/"):
        parts = parts._replace(path="/v1/quotas")
    return urllib.parse.urlunsplit(parts)


def auth_header() -> str | None:
    """``Bearer <LLM_OTEL_QUOTA_TOKEN>``, else the OTLP exporter's Authorization header, if any."""
    token = os.environ.get(ENV_TOKEN)
    if token:
        return f"Bearer {token}"
    for var in ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"):
        for item in os.environ.get(var, "").split(","):
            key, sep, value = item.partition("=")
            if sep and key.strip().lower() == "authorization":
                return urllib.parse.unquote(value.strip())
    return None


def fetch(url: str, timeout_s: float) -> dict[str, Any]:
    """One ``GET /v1/quotas``; raises on any failure (the refresher logs it and keeps the old state)."""
    req = urllib.request.Request(url, headers={"Accept": "application/json"})
    auth = auth_header()
    if auth:
        req.add_header("Authorization", auth)
    with urllib.request.urlopen(req, timeout=timeout_s) as resp:
        data = json.loads(resp.read())
    if not isinstance(data, dict) or not isinstance(data.get("quotas"), list):
        raise ValueError("not a /v1/quotas response (no 'quotas' list)")
    return data


class Refresher(threading.Thread):
    """Polls the endpoint every ``interval_s`` until stopped. Never raises; fails open."""

    def __init__(self, url: str, interval_s: float) -> None:
        super().__init__(name="llm-otel-quota", daemon=True)
        self.url = quota_endpoint(url)
        self.interval_s = interval_s
        self.stopped = threading.Event()
        self.refreshed = 0  # successful refreshes, for tests and debugging
        self.failures = 0

    def run(self) -> None:
        while not self.stopped.is_set():
            self.refresh_once()
            self.stopped.wait(self.interval_s)

    def refresh_once(self) -> bool:
        try:
            data = fetch(self.url, timeout_s=max(0.5, min(5.0, self.interval_s)))
            if self.stopped.is_set():
                return False
            apply(data)
            self.refreshed += 1
            return True
        except Exception as exc:
            self.failures += 1
            log.debug("llm-otel could not refresh quotas from %s (%s); keeping the last state", self.url, exc)
            try:
                drop_past_periods()
            except Exception:
                log.debug("llm-otel could not expire old quota state", exc_info=True)
            return False


def interval_from_env() -> float:
    raw = os.environ.get(ENV_INTERVAL, "")
    try:
        value = float(raw) if raw.strip() else DEFAULT_INTERVAL_S
    except ValueError:
        log.warning("llm-otel: %s must be a number of seconds, got %r; using %s", ENV_INTERVAL, raw, DEFAULT_INTERVAL_S)
        return DEFAULT_INTERVAL_S
    return value if value > 0 else DEFAULT_INTERVAL_S


def configure(url: str | None, interval_s: float | None = None) -> None:
    """Starts (or restarts, or with ``url`` None stops) the background refresher. Never raises."""
    global _refresher
    try:
        interval = interval_s if interval_s is not None else interval_from_env()
        with _lock:
            current = _refresher
            if current is not None and url and current.url == quota_endpoint(url) and current.interval_s == interval:
                return
            if current is not None:
                current.stopped.set()
                _refresher = None
            if not url:
                clear()
                return
            _refresher = Refresher(url, interval)
            _refresher.start()
    except Exception:
        log.warning("llm-otel could not start the quota refresher; quotas are not enforced", exc_info=True)


def _after_fork_in_child() -> None:
    """A forked child (gunicorn, multiprocessing) has no refresher thread: start its own, same URL."""
    global _refresher, _lock
    _lock = threading.Lock()  # the parent's may have been held at fork time
    current, _refresher = _refresher, None
    if current is not None and not current.stopped.is_set():
        configure(current.url, current.interval_s)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def refresher() -> Refresher | None:
    """The running refresher, if any."""
    return _refresher
