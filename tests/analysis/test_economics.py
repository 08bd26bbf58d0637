from __future__ import annotations

from pathlib import Path

from analysis.support import call, sqlite_ledger, write
from llm_otel.processor.analysis.economics import TOOL_BYTES_PER_TOKEN, task_economics


def test_three_turn_conversation_economics_equal_hand_computed_numbers(tmp_path: Path) -> None:
    # Turn 1 sends 1,000 tokens (400 of them tool schemas: 1,600 bytes); the answer is 100 tokens.
    # Turn 2 re-sends turn 1's context + answer + a 150-token tool result: 1,250 tokens, 1,000 read from cache.
    # Turn 3: 1,250 + 100 answer + 200 new = 1,550 tokens, 1,250 read from cache.
    with sqlite_ledger(tmp_path) as ledger:
        rows = write(ledger, [
            call("conv", input_tokens=1000, tools_bytes=1600, messages=2, offset_ms=0),
            call("conv", input_tokens=1250, cache_read=1000, tools_bytes=1600, messages=4, offset_ms=10),
            call("conv", input_tokens=1550, cache_read=1250, tools_bytes=1600, messages=6, offset_ms=20),
        ])
    econ = task_economics(rows)
    assert econ.turns == 3
    # Re-sent: turn 2 re-sends all 1,000 of turn 1's input; turn 3 re-sends all 1,250 of turn 2's.
    assert econ.tokens_resent == 1000 + 1250
    assert econ.cache_share == (1000 + 1250) / (1000 + 1250 + 1550)
    assert econ.tool_tokens == 3 * 1600 // TOOL_BYTES_PER_TOKEN == 1200
    assert econ.tool_share == 1200 / 3800
    assert econ.first_input_tokens == 1000
    assert econ.max_input_tokens == 1550


def test_a_task_without_calls_has_zero_turns_and_nothing_resent() -> None:
    econ = task_economics([])
    assert econ.turns == 0
    assert econ.tokens_resent == 0
