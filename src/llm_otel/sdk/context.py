"""Task / agent / prompt attribution on contextvars, with a task's running totals.

FIRST CUT by the lead: the sdk-core helper owns and extends this module (decorators,
async, baggage, task span, span processor). The two functions the provider
wrappers rely on are ``check_budget()`` and ``on_call_finished()``; keep their
signatures.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from dataclasses import dataclass, field

from llm_otel.errors import BudgetExceeded
from llm_otel.pricing.usage import Usage


@dataclass
class Task:
    type: str
    id: str
    team: str | None = None
    budget_usd: float | None = None
    calls: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)


_current_task: ContextVar[Task | None] = ContextVar("llm_otel_task", default=None)


def current_task() -> Task | None:
    """The innermost task of this context, or ``None``."""
    return _current_task.get()


def check_budget() -> None:
    """Raises ``BudgetExceeded`` when the current task has spent its budget; otherwise nothing."""
    task = _current_task.get()
    if task is not None and task.budget_usd is not None and task.cost_usd >= task.budget_usd:
        raise BudgetExceeded(task.id, task.type, task.cost_usd, task.budget_usd)


def on_call_finished(provider: str, model: str | None, usage: Usage) -> None:
    """Adds one finished call to the current task's running totals. Never raises into callers (they guard)."""
    task = _current_task.get()
    if task is None:
        return
    with task._lock:
        task.calls += 1
        task.tokens += usage.total_tokens
