"""Coexistence: with another OpenAI instrumentation active too, exactly one span per call carries usage.

Installed alongside (the ``dialect-tests`` extra): the official
``opentelemetry-instrumentation-genai-openai`` 1.3b0 (successor of
``opentelemetry-instrumentation-openai-v2``), OpenLLMetry's
``opentelemetry-instrumentation-openai`` 0.62.4 and ``openinference-instrumentation-openai``
0.1.66, each set up before and after llm-otel (before is the harder order for
OpenInference, whose wrapper on ``OpenAI.request`` would bypass ours). A sample of the
corpus (every 32nd replayable exchange: chat, streams, responses, embeddings,
completions, sync and async) is replayed with each. Policy (``llm_otel.sdk.openai._coexist``):
llm-otel adopts the other span when it is current during the call (our exact values
win); OpenLLMetry's Responses API span, started only after the call returns, is left to
OpenLLMetry when it will emit one, and llm-otel starts none.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai_helpers import fast_server, mismatches, replay_async, replay_sync, usage_spans
from opentelemetry import trace

from llm_otel import semconv
from llm_otel.sdk import openai as llm_openai
from replay import corpus

SAMPLE = [ex for i, ex in enumerate(corpus.exchanges("openai")) if i % 32 == 0]

INSTRUMENTATIONS = {
    "official-genai-openai": "opentelemetry.instrumentation.genai.openai",
    "openllmetry": "opentelemetry.instrumentation.openai",
    "openinference": "openinference.instrumentation.openai",  # wraps OpenAI.request itself
}


def _late_span(name: str, ex: dict[str, Any]) -> bool:
    return name == "openllmetry" and ex["path"] == "/v1/responses"


@pytest.fixture(scope="module", params=[(name, order) for name in INSTRUMENTATIONS for order in ("before", "after")])
def other(request: pytest.FixtureRequest) -> Iterator[str]:
    name, order = request.param
    module = importlib.import_module(INSTRUMENTATIONS[name])  # the dialect-tests extra
    mp = pytest.MonkeyPatch()
    mp.setenv("TRACELOOP_TRACE_CONTENT", "false")
    instrumentor = module.OpenAIInstrumentor()
    if order == "after":
        llm_openai.install()
    instrumentor.instrument(tracer_provider=trace.get_tracer_provider())
    if order == "before":
        llm_openai.install()
    yield name
    llm_openai.uninstall()
    instrumentor.uninstrument()
    _unwrap_leftovers(INSTRUMENTATIONS[name])
    _forget_seen_responses()
    mp.undo()


def _forget_seen_responses() -> None:
    """OpenLLMetry keeps every Responses id it saw and emits no new span for one seen before;
    the next fixture replays the same recordings, so it must start from a clean slate."""
    import sys

    module = sys.modules.get("opentelemetry.instrumentation.openai.v1.responses_wrappers")
    if module is not None:
        module.responses.clear()


def _unwrap_leftovers(module_prefix: str) -> None:
    """OpenLLMetry's uninstrument() leaves some wrappers in place: remove them so other tests run clean."""
    import sys

    import wrapt

    for name, module in list(sys.modules.items()):
        if not name.startswith("openai.resources") or module is None:
            continue
        for cls in list(vars(module).values()):
            if not isinstance(cls, type) or cls.__module__ != name:
                continue
            for attr, value in list(vars(cls).items()):
                while isinstance(value, wrapt.FunctionWrapper) and getattr(
                    value._self_wrapper, "__module__", ""
                ).startswith(module_prefix):
                    value = value.__wrapped__
                    setattr(cls, attr, value)


@pytest.fixture(scope="module")
def replay(other: str) -> Iterator[dict[str, Any]]:
    loop = asyncio.new_event_loop()
    with fast_server() as server:
        yield {
            "server": server,
            "sync": openai.OpenAI(api_key="test", base_url=server.base_url("n"), max_retries=0),
            "async": openai.AsyncOpenAI(api_key="test", base_url=server.base_url("n"), max_retries=0),
            "loop": loop,
        }
    loop.close()


def test_both_instrumentations_are_importable_with_openai_3() -> None:
    for module in INSTRUMENTATIONS.values():
        importlib.import_module(module)


@pytest.mark.parametrize("ex", SAMPLE, ids=[ex["id"] for ex in SAMPLE])
def test_exactly_one_usage_bearing_span_per_call(other: str, replay: dict[str, Any], spans: Any, ex: Any) -> None:
    key = str(SAMPLE.index(ex))
    server = replay["server"]
    server.add(key, ex)
    base_url = server.base_url(key) + "/v1"
    if corpus.is_async(ex):
        replay["loop"].run_until_complete(replay_async(replay["async"].with_options(base_url=base_url), ex))
    else:
        replay_sync(replay["sync"].with_options(base_url=base_url), ex)
    found = usage_spans(spans.get_finished_spans())
    assert len(found) == 1, [(s.name, s.instrumentation_scope.name) for s in spans.get_finished_spans()]
    attributes = dict(found[0].attributes)
    if _late_span(other, ex):  # OpenLLMetry's own span and dialect: token counts still agree
        assert attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == ex["expected"]["input_tokens"]
        return
    assert mismatches(ex["expected"], attributes) == {}
    assert attributes[semconv.GEN_AI_PROVIDER_NAME] == "openai"
