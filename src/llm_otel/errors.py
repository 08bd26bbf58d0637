"""Exceptions llm-otel raises into user code on purpose (and only these)."""

from __future__ import annotations


class BudgetExceeded(RuntimeError):
    """The current task has spent its ``budget_usd``; raised before the next request is sent."""

    def __init__(self, task_id: str, task_type: str, spent_usd: float, budget_usd: float) -> None:
        super().__init__(
            f"task {task_type!r} (id {task_id}) has spent ${spent_usd:.6f} of its ${budget_usd:.6f} budget; "
            "the LLM call was not sent"
        )
        self.task_id = task_id
        self.task_type = task_type
        self.spent_usd = spent_usd
        self.budget_usd = budget_usd
