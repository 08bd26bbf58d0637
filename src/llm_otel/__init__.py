"""llm-otel: exact GenAI spans for openai and anthropic, attributed to tasks, agents and teams.

The public surface is this module; everything else may change.
"""

from llm_otel.errors import BudgetExceeded
from llm_otel.sdk.context import current_task

__all__ = ["BudgetExceeded", "current_task"]
