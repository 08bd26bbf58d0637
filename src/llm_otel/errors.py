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


class QuotaExceeded(BudgetExceeded):
    """A hard quota of the task's team (and task type) is spent this month; raised before the request is sent.

    A subclass of ``BudgetExceeded`` so code (and the provider wrappers) that let budget
    refusals through treat quota refusals the same way. ``unit``: ``"usd"`` or ``"tokens"``.
    """

    def __init__(
        self,
        team: str,
        task_type: str | None,
        unit: str,
        used: float,
        limit: float,
        period: str,
        task_id: str = "",
    ) -> None:
        what = f"team {team!r}" + (f" task type {task_type!r}" if task_type else "")
        amount = (f"${used:,.2f} of its ${limit:,.2f}" if unit == "usd"
                  else f"{used:,.0f} of its {limit:,.0f} tokens")  # fmt: skip
        RuntimeError.__init__(
            self,
            f"{what} has spent {amount} hard quota for {period}; the LLM call was not sent "
            "(raise the quota in the processor config, or wait for next month)",
        )
        self.team = team
        self.task_type: str | None = task_type  # type: ignore[assignment]  # None: any task type of the team
        self.task_id = task_id
        self.unit = unit
        self.used = used
        self.limit = limit
        self.period = period
        self.spent_usd = used if unit == "usd" else 0.0
        self.budget_usd = limit if unit == "usd" else 0.0
