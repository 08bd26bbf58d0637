"""Each example runs end to end against the fake API and shows what examples/README.md says it shows."""

from __future__ import annotations

import itertools

import pytest

from .conftest import RunExample

TASK_KEYS = ("llm_otel.task.id", "llm_otel.task.type", "llm_otel.team")


def test_quickstart_exports_one_genai_span_per_call_attributed_to_the_task(run_example: RunExample) -> None:
    out, result = run_example("quickstart.py")
    assert result["calls"] == 2 and result["tokens"] > 0 and result["cost_usd"] > 0
    providers = sorted(s["attributes"]["gen_ai.provider.name"] for s in result["spans"])
    assert providers == ["anthropic", "openai"]
    for span in result["spans"]:
        attrs = span["attributes"]
        assert (attrs["llm_otel.task.id"], attrs["llm_otel.task.type"], attrs["llm_otel.team"]) == (
            "pol-123", "policy-review", "secops")
        assert attrs["gen_ai.agent.name"] == "reviewer" and attrs["llm_otel.prompt.version"] == "v3"
        assert attrs["gen_ai.usage.input_tokens"] > 0 and attrs["gen_ai.usage.output_tokens"] > 0
    assert sum(s["attributes"]["gen_ai.usage.input_tokens"] + s["attributes"]["gen_ai.usage.output_tokens"]
               for s in result["spans"]) == result["tokens"]
    assert "gen_ai.usage.input_tokens" in out and "calls=2" in out


def test_multi_turn_agent_cost_grows_quadratically_with_turns(run_example: RunExample) -> None:
    out, result = run_example("multi_turn_agent.py", "--turns", "20")
    rows = result["rows"]
    assert len(rows) == 20
    inputs = [r["input_tokens"] for r in rows]
    assert all(b > a for a, b in itertools.pairwise(inputs)), "every turn re-sends a larger context"
    a, _, _ = result["quadratic"]
    assert a > 0
    assert result["r2"] > 0.95
    assert result["r2"] > result["r2_linear"]
    assert rows[-1]["tools_bytes"] == rows[0]["tools_bytes"] > 0, "tool schemas ride on every request"
    assert "n^2" in out


def test_anthropic_cache_control_hits_the_cache_and_saves_money(run_example: RunExample) -> None:
    out, result = run_example("anthropic_cache.py", "--turns", "8")
    assert result["without"]["cache_read_tokens"] == 0
    assert result["with"]["hit_rate"] > 0.7
    assert result["savings_usd"] > 0
    assert float(result["with"]["cost_usd"]) < float(result["without"]["cost_usd"])
    assert result["span_cache_reads"] == result["with"]["cache_read_tokens"]
    assert "cache-hit rate" in out


def test_a_second_service_llm_call_is_attributed_to_the_first_service_task(run_example: RunExample) -> None:
    out, result = run_example("two_services/service_a.py")
    assert "B's LLM span carries A's task id, type and team: True" in out
    task = result["task"]
    attrs = result["b_span_attributes"]
    assert (attrs["llm_otel.task.id"], attrs["llm_otel.task.type"], attrs["llm_otel.team"]) == (
        task["id"], task["type"], task["team"])
    assert result["trace_ids"]["a"] == result["trace_ids"]["b"]
    by_service = {c["service"]: c for c in result["ledger_calls"]}
    assert set(by_service) == {"service-a", "service-b"}
    for call in by_service.values():
        assert (call["task_id"], call["task_type"], call["team"]) == (task["id"], task["type"], task["team"])
    assert result["ledger_task_calls"] == 2


@pytest.mark.timeout(400)
def test_policy_review_skips_unchanged_policies_and_agrees_with_the_ledger(run_example: RunExample) -> None:
    out, result = run_example("policy_review.py", "--documents", "2000", "--weeks", "4", timeout=380)
    weeks = result["weeks"]
    assert [w["week"] for w in weeks] == [1, 2, 3, 4]
    assert weeks[0]["without_calls"] == weeks[0]["with_calls"] == 2000
    for w in weeks[1:]:
        assert w["without_calls"] == 2000
        assert w["with_calls"] == 20 and w["with_skipped"] == 1980
        assert w["reduction_tokens_pct"] >= 95.0
        assert w["reduction_cost_pct"] >= 95.0
    assert result["ledger_agrees"] is True
    assert "DIFFERENT" not in out and "ledger agrees" in out
