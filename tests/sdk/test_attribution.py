"""The attribution span processor: task/agent/team on every span, the prompt on LLM spans, baggage fallback."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import anthropic
from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import llm_otel
from llm_otel import semconv
from llm_otel.sdk import attribution, call, context
from replay import corpus
from replay.server import ReplayServer

tracer = trace.get_tracer("some.other.instrumentation")

TASK_KEYS = (semconv.TASK_ID, semconv.TASK_TYPE, semconv.TEAM)


def _by_name(exporter: InMemorySpanExporter) -> dict[str, dict[str, object]]:
    return {s.name: dict(s.attributes or {}) for s in exporter.get_finished_spans()}


def test_every_span_inside_a_task_carries_task_type_id_and_team(spans: InMemorySpanExporter) -> None:
    with llm_otel.task("review", id="r-1", team="secops"):
        tracer.start_span("db.query").end()
    attrs = _by_name(spans)["db.query"]
    assert (attrs[semconv.TASK_ID], attrs[semconv.TASK_TYPE], attrs[semconv.TEAM]) == ("r-1", "review", "secops")


def test_spans_outside_every_task_are_not_stamped(spans: InMemorySpanExporter) -> None:
    tracer.start_span("plain").end()
    assert not set(TASK_KEYS) & set(_by_name(spans)["plain"])


def test_agent_name_and_id_go_on_every_span_inside_the_agent(spans: InMemorySpanExporter) -> None:
    with llm_otel.task("t"), llm_otel.agent("reviewer", id="ag-7"):
        tracer.start_span("tool.call").end()
    attrs = _by_name(spans)["tool.call"]
    assert attrs[semconv.GEN_AI_AGENT_NAME] == "reviewer"
    assert attrs[semconv.GEN_AI_AGENT_ID] == "ag-7"


def test_agent_outside_a_task_still_stamps_the_agent(spans: InMemorySpanExporter) -> None:
    with llm_otel.agent("solo"):
        tracer.start_span("x").end()
    attrs = _by_name(spans)["x"]
    assert attrs[semconv.GEN_AI_AGENT_NAME] == "solo"
    assert semconv.TASK_ID not in attrs


def test_prompt_goes_on_llm_spans_only(spans: InMemorySpanExporter) -> None:
    with llm_otel.task("t"), llm_otel.prompt("summarize", version="4"):
        tracer.start_span("chat gpt-4o", attributes={semconv.GEN_AI_OPERATION_NAME: "chat"}).end()
        tracer.start_span("http.request").end()
    got = _by_name(spans)
    assert got["chat gpt-4o"][semconv.PROMPT_TEMPLATE] == "summarize"
    assert got["chat gpt-4o"][semconv.PROMPT_VERSION] == "4"
    assert semconv.PROMPT_TEMPLATE not in got["http.request"]
    assert got["http.request"][semconv.TASK_TYPE] == "t"


def test_our_llm_call_span_is_attributed_and_is_a_child_of_the_task_span(spans: InMemorySpanExporter) -> None:
    with llm_otel.task("t", id="t-1"), llm_otel.prompt("p"):
        c = call.start_call("chat", "openai", "gpt-4o", {})
        assert c is not None
        c.finish()
    finished = {s.name: s for s in spans.get_finished_spans()}
    llm, task_span = finished["chat gpt-4o"], finished["llm_otel.task t"]
    assert llm.attributes is not None
    assert llm.attributes[semconv.TASK_ID] == "t-1"
    assert llm.attributes[semconv.PROMPT_TEMPLATE] == "p"
    assert llm.parent is not None and llm.parent.span_id == task_span.context.span_id


def test_task_emits_one_internal_span_with_its_attributes_and_ok_status(spans: InMemorySpanExporter) -> None:
    with llm_otel.task("review", id="r-2", team="secops", budget_usd=1.5, attributes={"tenant": "acme"}):
        pass
    (span,) = spans.get_finished_spans()
    assert span.name == "llm_otel.task review"
    assert span.kind is SpanKind.INTERNAL
    assert span.status.status_code is StatusCode.OK
    assert dict(span.attributes or {}) == {
        semconv.TASK_ID: "r-2",
        semconv.TASK_TYPE: "review",
        semconv.TEAM: "secops",
        semconv.TASK_BUDGET_USD: 1.5,
        "tenant": "acme",
        semconv.TASK_STATUS: "ok",
    }


def test_task_span_ends_with_error_status_when_the_block_raises(spans: InMemorySpanExporter) -> None:
    try:
        with llm_otel.task("t"):
            raise ValueError("nope")
    except ValueError:
        pass
    (span,) = spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes[semconv.TASK_STATUS] == "error"
    assert span.attributes[semconv.ERROR_TYPE] == "ValueError"


def test_nested_tasks_stamp_the_innermost_and_the_outer_again_after_it(spans: InMemorySpanExporter) -> None:
    with llm_otel.task("outer", id="o"):
        with llm_otel.task("inner", id="i"):
            tracer.start_span("in-inner").end()
        tracer.start_span("in-outer").end()
    got = _by_name(spans)
    assert got["in-inner"][semconv.TASK_ID] == "i"
    assert got["in-outer"][semconv.TASK_ID] == "o"
    assert got["llm_otel.task inner"][semconv.TASK_ID] == "i"


def test_spans_in_a_thread_pool_are_attributed_when_the_work_is_bound(spans: InMemorySpanExporter) -> None:
    def work(i: int) -> None:
        tracer.start_span(f"work-{i}").end()

    with llm_otel.task("fanout", id="f-1"), ThreadPoolExecutor(4) as pool:
        list(pool.map(context.bind(work), range(8)))
    got = _by_name(spans)
    assert all(got[f"work-{i}"][semconv.TASK_ID] == "f-1" for i in range(8))


def test_concurrent_threads_stamp_their_own_tasks(spans: InMemorySpanExporter) -> None:
    def work(i: int) -> None:
        with llm_otel.task("job", id=f"job-{i}"):
            for j in range(20):
                tracer.start_span(f"s-{i}-{j}").end()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    got = _by_name(spans)
    assert all(got[f"s-{i}-{j}"][semconv.TASK_ID] == f"job-{i}" for i in range(8) for j in range(20))


async def test_concurrent_asyncio_tasks_stamp_their_own_tasks(spans: InMemorySpanExporter) -> None:
    async def work(i: int) -> None:
        async with llm_otel.task("job", id=f"a-{i}"):
            for j in range(5):
                await asyncio.sleep(0)
                tracer.start_span(f"s-{i}-{j}").end()

    await asyncio.gather(*(work(i) for i in range(10)))
    got = _by_name(spans)
    assert all(got[f"s-{i}-{j}"][semconv.TASK_ID] == f"a-{i}" for i in range(10) for j in range(5))


def test_without_a_local_task_the_task_comes_from_incoming_baggage(spans: InMemorySpanExporter) -> None:
    ctx = baggage.set_baggage(semconv.BAGGAGE_TASK_ID, "remote-1")
    ctx = baggage.set_baggage(semconv.BAGGAGE_TASK_TYPE, "review", ctx)
    ctx = baggage.set_baggage(semconv.BAGGAGE_TEAM, "secops", ctx)
    token = otel_context.attach(ctx)
    try:
        tracer.start_span("server.handle").end()
    finally:
        otel_context.detach(token)
    attrs = _by_name(spans)["server.handle"]
    assert (attrs[semconv.TASK_ID], attrs[semconv.TASK_TYPE], attrs[semconv.TEAM]) == ("remote-1", "review", "secops")


def test_a_local_task_wins_over_incoming_baggage(spans: InMemorySpanExporter) -> None:
    token = otel_context.attach(baggage.set_baggage(semconv.BAGGAGE_TASK_ID, "remote"))
    try:
        with llm_otel.task("local", id="local-1"):
            tracer.start_span("x").end()
    finally:
        otel_context.detach(token)
    assert _by_name(spans)["x"][semconv.TASK_ID] == "local-1"


def test_the_anthropic_sdks_native_span_is_attributed(spans: InMemorySpanExporter) -> None:
    ex = next(
        e
        for e in corpus.exchanges("anthropic")
        if e["path"] == "/v1/messages" and not e["stream"] and not e["query"] and not corpus.is_async(e)
    )
    with ReplayServer() as server:
        server.add("k", ex)
        client = anthropic.Anthropic(base_url=server.base_url("k"), api_key="test", max_retries=0)
        with llm_otel.task("native", id="n-1", team="ml"), llm_otel.prompt("ask", "1"):
            client.messages.create(**ex["request"])
    llm = [s for s in spans.get_finished_spans() if (s.attributes or {}).get(semconv.GEN_AI_OPERATION_NAME)]
    assert llm, "the anthropic SDK recorded no span"
    for s in llm:
        attrs = dict(s.attributes or {})
        assert (attrs[semconv.TASK_ID], attrs[semconv.TEAM], attrs[semconv.PROMPT_TEMPLATE]) == ("n-1", "ml", "ask")


def test_processor_is_added_once_and_removed_cleanly() -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    assert attribution.add_to(provider) is True
    assert attribution.add_to(provider) is False
    procs = provider._active_span_processor._span_processors
    assert sum(isinstance(p, attribution.AttributionSpanProcessor) for p in procs) == 1
    assert isinstance(procs[0], attribution.AttributionSpanProcessor)  # first: later processors see the stamps
    attribution.remove_from(provider)
    assert not attribution.has_attribution(provider)
    assert len(provider._active_span_processor._span_processors) == 1


def _limited(**limits: int) -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(span_limits=SpanLimits(**limits))
    attribution.add_to(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def test_span_attribute_length_limits_still_apply_to_the_stamps() -> None:
    provider, exporter = _limited(max_span_attribute_length=3)
    with llm_otel.task("review", id="abcdef"):
        provider.get_tracer("t").start_span("x").end()
    (span,) = exporter.get_finished_spans()
    assert dict(span.attributes or {})[semconv.TASK_ID] == "abc"


def test_span_attribute_count_limits_still_apply_to_the_stamps() -> None:
    provider, exporter = _limited(max_span_attributes=2)
    with llm_otel.task("review", id="r", team="t"), llm_otel.agent("a"):
        provider.get_tracer("t").start_span("x").end()
    (span,) = exporter.get_finished_spans()
    assert len(span.attributes or {}) == 2
    assert span.dropped_attributes == 2
