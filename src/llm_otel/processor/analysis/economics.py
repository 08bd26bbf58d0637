"""Context economics of one task from its calls: what re-sending context and tool schemas cost.

``TOOL_BYTES_PER_TOKEN`` converts ``llm_otel.request.tools.bytes`` (serialized JSON of the
tool definitions) to tokens. JSON schemas tokenize denser than prose: 4 bytes per token
is the common rule of thumb for English/JSON with the GPT-4o and Claude tokenizers, and
it is an estimate, which the board and the report say.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from llm_otel.processor.ledger import CallRow, TaskEconomics

TOOL_BYTES_PER_TOKEN = 4


def task_economics(calls: Sequence[CallRow]) -> TaskEconomics:
    """Economics of a task's counted calls (in start order).

    tokens re-sent: each call's input minus the new input it added, where the new input
    of call i is what exceeds the previous call's input (a multi-turn agent re-sends the
    whole previous context): ``sum(min(input_i, input_{i-1}))`` over calls after the first.
    """
    ordered = sorted(calls, key=lambda c: (c.start_ns, c.span_id))
    inputs = [c.inclusive_input_tokens for c in ordered]
    if not ordered:
        return TaskEconomics(turns=0, tokens_resent=0)
    total_input = sum(inputs)
    cache_read = sum(c.tokens_cache_read or 0 for c in ordered)
    tool_bytes = sum(c.tools_bytes or 0 for c in ordered)
    tool_tokens = tool_bytes // TOOL_BYTES_PER_TOKEN
    resent = sum(min(cur, prev) for prev, cur in itertools.pairwise(inputs))
    return TaskEconomics(
        turns=sum(1 for c in ordered if c.messages_count) or len(ordered),
        tokens_resent=resent,
        cache_share=cache_read / total_input if total_input else 0.0,
        tool_share=min(1.0, tool_tokens / total_input) if total_input else 0.0,
        tool_tokens=tool_tokens,
        first_input_tokens=inputs[0],
        max_input_tokens=max(inputs),
    )
