"""Fault injection: a failure inside llm-otel's core never changes what the user's code returns or raises."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llm_otel
from llm_otel import semconv
from llm_otel.pricing.usage import Usage
from llm_otel.sdk import attribution, call, context, instrument, sampler
from replay import corpus
from replay.server import ReplayServer

tracer = trace.get_tracer("fault.injection")


class Boom(Exception):
    pass


def _raise(*_: Any, **__: Any) -> Any:
    raise Boom("injected")


class _ExplodingAttrs(dict[str, str]):
    def __contains__(self, key: object) -> bool:
        raise Boom("injected")

    def __bool__(self) -> bool:
        return True


def test_span_processor_failure_leaves_the_span_and_the_caller_alone(
    monkeypatch: pytest.MonkeyPatch, spans: InMemorySpanExporter
) -> None:
    monkeypatch.setattr(attribution, "_baggage_attributes", _raise)
    tracer.start_span("outside-a-task").end()
    with llm_otel.task("t"):
        frame = context.current_frame()
        assert frame is not None
        monkeypatch.setattr(frame, "span_attrs", object())  # not a mapping: set_attributes fails
        tracer.start_span("inside-a-task").end()
    assert {s.name for s in spans.get_finished_spans()} >= {"outside-a-task", "inside-a-task"}


def test_sampler_failure_falls_back_to_the_delegate_decision() -> None:
    s = sampler.SpendPreservingSampler(sampler.ParentBased_always_on())
    result = s.should_sample(None, 1, "x", attributes=_ExplodingAttrs())
    assert result.decision.is_sampled()


def test_task_runs_attributed_even_when_its_span_cannot_start(monkeypatch: pytest.MonkeyPatch) -> None:
    class BrokenTracer:
        start_span = staticmethod(_raise)

    monkeypatch.setattr(call, "get_tracer", lambda: BrokenTracer())
    with llm_otel.task("t", id="t-1") as t:
        assert llm_otel.current_task() is t
    assert llm_otel.current_task() is None
    assert t.status == "ok"


def test_task_exit_survives_a_span_that_fails_to_end(monkeypatch: pytest.MonkeyPatch) -> None:
    with llm_otel.task("t") as t:
        assert t._span is not None
        monkeypatch.setattr(t._span, "end", _raise)
    assert llm_otel.current_task() is None


def test_the_users_exception_passes_through_a_task_whose_exit_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(KeyError), llm_otel.task("t"):
        monkeypatch.setattr(context.Task, "_exit", _raise)
        raise KeyError("user error")
    assert llm_otel.current_task() is None  # the outer context is restored all the same


def test_a_pricing_failure_keeps_counting_calls_and_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(context, "_price", _raise)
    monkeypatch.setattr(context, "_price_loaded", True)
    with llm_otel.task("t", budget_usd=1.0) as t:
        c = call.start_call("chat", "openai", "gpt-4o", {})
        assert c is not None
        c.finish(Usage(input_tokens=10, output_tokens=5))
        context.check_budget()  # unpriced: the budget cannot be known spent, the call goes on
    assert (t.calls, t.tokens, t.cost_usd, t.unpriced_calls) == (1, 15, 0.0, 1)


def test_check_budget_lets_the_call_go_on_when_the_spend_cannot_be_read(monkeypatch: pytest.MonkeyPatch) -> None:
    with llm_otel.task("t", budget_usd=0.0) as t:
        monkeypatch.setattr(context.Task, "cost_usd", property(_raise))
        context.check_budget()
        assert llm_otel.current_task() is t


def test_instrument_survives_a_wrapper_whose_install_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    broken = types.ModuleType("broken_wrapper")
    broken.available = lambda: True  # type: ignore[attr-defined]
    broken.install = _raise  # type: ignore[attr-defined]
    undone: list[bool] = []
    broken.uninstall = lambda: undone.append(True)  # type: ignore[attr-defined]
    monkeypatch.setitem(__import__("sys").modules, "broken_wrapper", broken)
    monkeypatch.setitem(instrument.WRAPPERS, "broken", "broken_wrapper")
    try:
        llm_otel.instrument(providers=("broken",))
        assert not instrument.is_instrumented("broken")
        assert undone == [True]  # a partial install is undone
    finally:
        llm_otel.uninstrument()


def test_instrument_survives_a_failing_tracing_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attribution, "add_to", _raise)
    try:
        llm_otel.instrument(providers=())
    finally:
        llm_otel.uninstrument()


def test_a_real_anthropic_call_returns_the_same_response_when_every_hook_fails(
    monkeypatch: pytest.MonkeyPatch, spans: InMemorySpanExporter
) -> None:
    ex = next(
        e
        for e in corpus.exchanges("anthropic")
        if e["path"] == "/v1/messages" and not e["stream"] and not e["query"] and not corpus.is_async(e)
    )
    with ReplayServer() as server:
        server.add("k", ex)
        client = anthropic.Anthropic(base_url=server.base_url("k"), api_key="test", max_retries=0)
        expected = client.messages.create(**ex["request"])

        monkeypatch.setattr(attribution, "_baggage_attributes", _raise)
        monkeypatch.setattr(context.Frame, "replace", _raise)  # scopes cannot even build their frame
        monkeypatch.setattr(sampler, "_parent_trace_state", _raise)
        with llm_otel.task("t"), llm_otel.agent("a"), llm_otel.prompt("p"):
            got = client.messages.create(**ex["request"])
    assert got.model_dump() == expected.model_dump()
    assert any(semconv.GEN_AI_OPERATION_NAME in (s.attributes or {}) for s in spans.get_finished_spans())
