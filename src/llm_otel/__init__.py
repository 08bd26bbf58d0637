"""llm-otel: exact GenAI spans for openai and anthropic, attributed to tasks, agents and teams.

The public surface is this module; everything else may change::

    import llm_otel
    llm_otel.instrument()                  # idempotent; patches openai and anthropic if importable

    with llm_otel.task("policy-review", id="pol-123", team="secops", budget_usd=2.0) as t:
        with llm_otel.agent("reviewer"), llm_otel.prompt("review-v2", version="3"):
            client.chat.completions.create(...)
        t.cost_usd, t.calls, t.tokens      # running totals, priced in-process

- ``instrument()`` / ``uninstrument()``: see ``llm_otel.sdk.instrument``.
- ``task()``, ``agent()``, ``prompt()``: context managers and decorators (sync and async).
- ``current_task()``: the innermost task of this context, or ``None``.
- ``skip_unchanged`` / ``call_unless_unchanged``: skip an LLM call on a document whose content
  (with the prompt version) did not change since the last successful run; see docs/sdk.md.
- ``BudgetExceeded``: raised by an LLM call, before its request is sent, in a task
  (or inside a task) whose ``budget_usd`` is spent.
- ``QuotaExceeded`` (a ``BudgetExceeded``): raised by an LLM call, before its request is sent,
  when a hard quota of the task's team is spent (``instrument(quota_url=...)``; docs/sdk.md#quotas).

Call ``instrument()`` after configuring your own TracerProvider, if you have one: when it
finds none, it sets one up from the ``OTEL_*`` environment, and OpenTelemetry keeps the first.
Threads do not inherit the task context; ``llm_otel.sdk.context.bind(fn)`` carries it over.
See docs/sdk.md.
"""

from llm_otel.errors import BudgetExceeded, QuotaExceeded
from llm_otel.sdk.context import agent, current_task, prompt, task
from llm_otel.sdk.instrument import instrument, uninstrument
from llm_otel.sdk.unchanged import call_unless_unchanged, skip_unchanged

__all__ = [
    "BudgetExceeded",
    "QuotaExceeded",
    "agent",
    "call_unless_unchanged",
    "current_task",
    "instrument",
    "prompt",
    "skip_unchanged",
    "task",
    "uninstrument",
]
