"""A task's running totals (calls, tokens, cost_usd) and its budget, fed by finished LLM calls."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from typing import Any

import anthropic
import openai
import pytest

import llm_otel
from llm_otel.pricing import price
from llm_otel.pricing.usage import Usage
from llm_otel.sdk import call, context
from replay import corpus
from replay.server import ReplayServer

USAGE = Usage(input_tokens=10_000, output_tokens=2_000)


def _one_call(model: str = "gpt-4o", usage: Usage = USAGE, provider: str = "openai") -> None:
    """What a provider wrapper does around one request: budget check, span, finish with usage."""
    context.check_budget()
    c = call.start_call("chat", provider, model, {})
    assert c is not None
    c.finish(usage, response_model=model)


def _list_cost(model: str = "gpt-4o", usage: Usage = USAGE) -> float:
    """What the pricing engine says one such call costs now (the oracle the totals must match)."""
    return float(price(usage, provider="openai", model=model, at=time.time()).total)


def test_finished_calls_add_to_calls_and_tokens() -> None:
    with llm_otel.task("t") as t:
        _one_call()
        _one_call()
    assert (t.calls, t.tokens) == (2, 24_000)


def test_cost_is_priced_in_process_from_the_pricing_engine() -> None:
    with llm_otel.task("t") as t:
        _one_call()
    assert t.cost_usd > 0
    assert t.cost_usd == pytest.approx(_list_cost())


def test_a_call_outside_every_task_counts_nowhere() -> None:
    _one_call()
    with llm_otel.task("t") as t:
        pass
    assert (t.calls, t.tokens, t.cost_usd) == (0, 0, 0.0)


def test_an_unknown_model_is_counted_but_unpriced() -> None:
    with llm_otel.task("t") as t:
        _one_call(model="no-such-model-xyz")
    assert (t.calls, t.cost_usd, t.unpriced_calls) == (1, 0.0, 1)


def test_a_nested_task_counts_its_calls_in_every_enclosing_task() -> None:
    with llm_otel.task("outer") as outer:
        _one_call()
        with llm_otel.task("inner") as inner:
            _one_call()
    assert (inner.calls, outer.calls) == (1, 2)
    assert outer.cost_usd == pytest.approx(2 * inner.cost_usd)


def test_once_the_budget_is_spent_the_next_call_raises_before_any_request() -> None:
    one = _list_cost()
    with llm_otel.task("t", id="b-1", budget_usd=one * 1.5) as t:
        _one_call()  # spent 1.0x: under budget
        _one_call()  # spent 2.0x: this one was allowed, the budget is now spent
        with pytest.raises(llm_otel.BudgetExceeded) as info:
            _one_call()
    assert t.calls == 2
    assert info.value.task_id == "b-1"
    assert info.value.spent_usd == pytest.approx(2 * one)
    assert info.value.budget_usd == pytest.approx(one * 1.5)


def test_a_parent_budget_holds_over_calls_made_in_nested_tasks() -> None:
    with llm_otel.task("parent", id="p", budget_usd=_list_cost() * 0.5), llm_otel.task("child", id="c"):
        _one_call()
        with pytest.raises(llm_otel.BudgetExceeded) as info:
            _one_call()
    assert info.value.task_id == "p"


def test_a_zero_budget_allows_no_call() -> None:
    with llm_otel.task("t", budget_usd=0.0), pytest.raises(llm_otel.BudgetExceeded):
        _one_call()


def test_a_stream_finished_in_another_context_counts_toward_the_task_it_started_in() -> None:
    with llm_otel.task("t") as t:
        c = call.start_call("chat", "openai", "gpt-4o", {})
    assert c is not None
    with llm_otel.task("other") as other:
        c.finish(USAGE)  # e.g. an abandoned stream, finished by garbage collection later
    assert (t.calls, other.calls) == (1, 0)


def test_totals_are_exact_under_concurrent_threads() -> None:
    with llm_otel.task("t") as t:
        def fifty_calls() -> None:
            for _ in range(50):
                _one_call()

        threads = [threading.Thread(target=context.bind(fifty_calls)) for _ in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    assert (t.calls, t.tokens) == (400, 400 * 12_000)
    assert t.cost_usd == pytest.approx(400 * _list_cost())


async def test_totals_add_up_across_asyncio_tasks() -> None:
    async def worker() -> None:
        await asyncio.sleep(0)
        _one_call()

    async with llm_otel.task("t") as t:
        await asyncio.gather(*(worker() for _ in range(10)))
    assert t.calls == 10


def test_task_keeps_its_totals_after_the_block_and_the_tasks_are_collectable() -> None:
    with llm_otel.task("t") as t:
        _one_call()
    gc.collect()
    assert t.calls == 1 and "calls=1" in repr(t)


def _replayable(provider: str, path: str) -> dict[str, Any]:
    return next(
        e
        for e in corpus.exchanges(provider)
        if e["path"] == path and not e["stream"] and not e["query"] and not corpus.is_async(e)
        and e["expected"]["response_model"]
    )


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_real_client_calls_feed_the_totals_and_the_budget_stops_the_next_request_before_it_is_sent(
    provider: str,
) -> None:
    if provider == "openai":
        ex = _replayable("openai", "/v1/chat/completions")
    else:
        ex = _replayable("anthropic", "/v1/messages")
    llm_otel.instrument(providers=(provider,))
    try:
        with ReplayServer() as server:
            server.add("k", ex)
            if provider == "openai":
                client: Any = openai.OpenAI(base_url=server.base_url("k") + "/v1", api_key="test", max_retries=0)
                send = lambda: client.chat.completions.create(**ex["request"])  # noqa: E731
            else:
                client = anthropic.Anthropic(base_url=server.base_url("k"), api_key="test", max_retries=0)
                send = lambda: client.messages.create(**ex["request"])  # noqa: E731
            with llm_otel.task("budgeted", budget_usd=1e-12) as t:
                send()
                assert "k" in server.requests
                server.requests.clear()
                with pytest.raises(llm_otel.BudgetExceeded):
                    send()
                assert "k" not in server.requests  # the request was never sent
    finally:
        llm_otel.uninstrument()
    expected = ex["expected"]
    assert t.calls == 1
    assert t.tokens == (expected["input_tokens"] or 0) + (expected["output_tokens"] or 0)
    assert t.cost_usd > 0
