"""The llm-otel Grafana boards, one module each; `grafana/generate.py` renders them to JSON."""

from __future__ import annotations

from collections.abc import Callable

from grafana_foundation_sdk.builders import dashboard

from .context import context_economics
from .processor import processor_health
from .spend import spend_overview
from .tasks import cost_per_task

# Output file name -> board builder.
BOARDS: dict[str, Callable[[], dashboard.Dashboard]] = {
    "spend-overview.json": spend_overview,
    "cost-per-task.json": cost_per_task,
    "context-economics.json": context_economics,
    "processor-health.json": processor_health,
}
