"""Each dialect, from spans its instrumentation really produced for recorded exchanges.

Every instrumentation runs in its own subprocess (``dialect_runner.py``): the real
``openai``/``anthropic`` client talks HTTP to the replay server, the instrumentation
traces to its own TracerProvider, and the spans come back as OTLP protobuf, the way the
processor receives them. We normalize them and price them with ``llm_otel.pricing``;
the reference is llm-otel's own span for the same exchange, produced the same way by
``llm_otel.instrument()`` (and itself checked against the corpus ``expected``).

Where an instrumentation cannot carry what the response said (no cache-read count, no
TTL split, an off-by-one stream), the test pins down exactly that difference, so an
upstream fix shows up here as a failing test to update.

Requires the ``dialect-tests`` extra. OpenLIT pins ``anthropic<1``/``openai<3`` and
cannot be installed next to this project's clients; it runs for real when
``LLM_OTEL_OPENLIT_PATH`` names a directory holding it
(``pip install --no-deps --target DIR openlit==1.45.0``); ``test_dialects.py`` covers
its shape either way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from llm_otel.pricing import Cost, Usage, price
from llm_otel.processor.dialects import decode_attributes, normalize
from llm_otel.processor.record import CallRecord
from replay import corpus

RUNNER = Path(__file__).with_name("dialect_runner.py")
OPENLIT_PATH = os.environ.get("LLM_OTEL_OPENLIT_PATH")

# --- recorded exchanges (../shared/corpus) ------------------------------------------
OA_CHAT = "open-telemetry/opentelemetry-python-contrib:instrumentation-genai/opentelemetry-instrumentation-openai-v2/tests/cassettes/test_chat_completion_no_content.yaml#0"  # noqa: E501
OA_CHAT_STREAM = "open-telemetry/opentelemetry-python-contrib:instrumentation-genai/opentelemetry-instrumentation-openai-v2/tests/cassettes/test_chat_completion_streaming.yaml#0"  # noqa: E501
OA_CHAT_ASYNC = "open-telemetry/opentelemetry-python-contrib:instrumentation-genai/opentelemetry-instrumentation-openai-v2/tests/cassettes/test_async_chat_completion_no_content.yaml#0"  # noqa: E501
OA_CHAT_CACHE_READ = "traceloop/openllmetry:packages/opentelemetry-instrumentation-openai/tests/traces/cassettes/test_prompt_caching/test_openai_prompt_caching.yaml#1"  # noqa: E501
OA_CHAT_STREAM_CACHE_READ = (
    "DataDog/dd-trace-py:tests/contrib/openai/cassettes/v1/chat_completion_stream_prompt_caching_cache_read.yaml#0"
)
OA_CHAT_CACHE_WRITE = (
    "DataDog/dd-trace-py:tests/contrib/openai/cassettes/v1/chat_completion_prompt_caching_5_6_cache_write.yaml#0"
)
OA_RESPONSES_CACHE_READ = (
    "pydantic/pydantic-ai:tests/models/cassettes/test_openai_prompt_cache/test_openai_responses_prompt_cache_e2e.yaml#1"
)
OA_RESPONSES_STREAM_CACHE_READ = (
    "DataDog/dd-trace-py:tests/contrib/openai/cassettes/v1/responses_stream_prompt_caching_cache_read.yaml#0"
)
OA_EMBEDDINGS = "pydantic/pydantic-ai:tests/cassettes/test_embeddings/TestOpenAI.test_instrumentation.yaml#0"

AN_READ_WRITE_5M = "Mirascope/mirascope:python/tests/e2e/input/cassettes/test_caching_multi_turn_conversation/anthropic_claude_sonnet_4_0.yaml#2"  # noqa: E501
AN_WRITE_1H = "DataDog/dd-trace-py:tests/contrib/anthropic/cassettes/anthropic_completion_cache_write_1h_ttl.yaml#0"
AN_STREAM_READ = "DataDog/dd-trace-py:tests/contrib/anthropic/cassettes/anthropic_completion_stream_cache_read.yaml#0"
AN_STREAM_WRITE = "DataDog/dd-trace-py:tests/contrib/anthropic/cassettes/anthropic_completion_stream_cache_write.yaml#0"
AN_BETA_THINKING = "pydantic/pydantic-ai:tests/cassettes/test_code_execution_files_vcr/test_anthropic_code_execution_files_cache_prefix_stable[automatic-sonnet-5].yaml#1"  # noqa: E501
AN_ASYNC_STREAM_READ = "traceloop/openllmetry:packages/opentelemetry-instrumentation-anthropic/tests/cassettes/test_prompt_caching/test_anthropic_prompt_caching_async_stream_legacy.yaml#1"  # noqa: E501
AN_STREAM_SERVER_TOOLS = "Mirascope/mirascope:python/tests/e2e/input/cassettes/test_web_search_tool_stream/anthropic_claude_sonnet_4_0.yaml#0"  # noqa: E501
# Anthropic usage.iterations: billed, outside the top-level usage (and outside the corpus `expected`).
AN_COMPACTION = "pydantic/pydantic-ai:tests/models/cassettes/test_anthropic/test_anthropic_compaction_end_to_end.yaml#0"
AN_COMPACTION_CACHED = (
    "pydantic/pydantic-ai:tests/models/cassettes/test_anthropic/test_anthropic_compaction_usage_with_cache.yaml#0"
)
AN_ADVISOR = "pydantic/pydantic-ai:tests/models/cassettes/test_anthropic/test_anthropic_advisor_tool.yaml#0"
ITERATIONS = (AN_COMPACTION, AN_COMPACTION_CACHED, AN_ADVISOR)

OPENAI_ALL = (
    OA_CHAT,
    OA_CHAT_STREAM,
    OA_CHAT_ASYNC,
    OA_CHAT_CACHE_READ,
    OA_CHAT_STREAM_CACHE_READ,
    OA_CHAT_CACHE_WRITE,
    OA_RESPONSES_CACHE_READ,
    OA_RESPONSES_STREAM_CACHE_READ,
    OA_EMBEDDINGS,
)
ANTHROPIC_ALL = (
    AN_READ_WRITE_5M,
    AN_WRITE_1H,
    AN_STREAM_READ,
    AN_STREAM_WRITE,
    AN_BETA_THINKING,
    AN_ASYNC_STREAM_READ,
    AN_STREAM_SERVER_TOOLS,
)

# instrumentation -> (its Python module, exchanges it is run against).
INSTRUMENTATIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "llm_otel": ("llm_otel", OPENAI_ALL + ANTHROPIC_ALL + ITERATIONS),
    "anthropic_native": ("anthropic", ANTHROPIC_ALL + ITERATIONS),
    "otel_genai_openai": ("opentelemetry.instrumentation.genai.openai", OPENAI_ALL),
    "otel_genai_anthropic": ("opentelemetry.instrumentation.genai.anthropic", ANTHROPIC_ALL),
    "openllmetry_openai": ("opentelemetry.instrumentation.openai", OPENAI_ALL),
    "openllmetry_anthropic": ("opentelemetry.instrumentation.anthropic", ANTHROPIC_ALL),
    "openinference_openai": ("openinference.instrumentation.openai", OPENAI_ALL),
    "openinference_anthropic": ("openinference.instrumentation.anthropic", ANTHROPIC_ALL),
    "openlit_openai": ("openlit", OPENAI_ALL),
    # OpenLIT does not wrap the beta client.
    "openlit_anthropic": (
        "openlit",
        (AN_READ_WRITE_5M, AN_WRITE_1H, AN_STREAM_READ, AN_ASYNC_STREAM_READ, AN_STREAM_SERVER_TOOLS),
    ),
}

# One subprocess per group: an openai instrumentation with an anthropic one, since a run costs
# mostly the ~10 s of importing both clients. llm-otel runs alone: it takes over the anthropic
# SDK's native span and stands aside for instrumentations that wrap the call before it.
GROUPS: tuple[tuple[str, ...], ...] = (
    ("llm_otel",),
    ("openllmetry_openai", "anthropic_native"),
    ("otel_genai_openai", "openinference_anthropic"),
    ("openinference_openai", "openllmetry_anthropic"),
    ("otel_genai_anthropic",),
    ("openlit_openai", "openlit_anthropic"),
)
GROUP_OF = {name: group for group in GROUPS for name in group}

DIALECT_OF = {
    "llm_otel": "llm_otel",
    "anthropic_native": "anthropic_native",
    "otel_genai_openai": "otel_genai",
    "otel_genai_anthropic": "otel_genai",
    "openllmetry_openai": "openllmetry",
    "openllmetry_anthropic": "openllmetry",
    "openinference_openai": "openinference",
    "openinference_anthropic": "openinference",
    "openlit_openai": "openlit",
    "openlit_anthropic": "openlit",
}

# (instrumentation, exchange) whose span must cost exactly what llm-otel's own span costs.
SAME_COST: list[tuple[str, str]] = [
    *(("anthropic_native", ex) for ex in ANTHROPIC_ALL),
    *(("otel_genai_openai", ex) for ex in OPENAI_ALL),
    *(("otel_genai_anthropic", ex) for ex in ANTHROPIC_ALL if ex != AN_WRITE_1H),
    *(("openllmetry_openai", ex) for ex in OPENAI_ALL if ex != OA_CHAT_CACHE_WRITE),
    *(("openllmetry_anthropic", ex) for ex in (AN_READ_WRITE_5M, AN_BETA_THINKING)),
    *(("openinference_openai", ex) for ex in OPENAI_ALL),
    *(("openinference_anthropic", ex) for ex in ANTHROPIC_ALL if ex != AN_WRITE_1H),
    *(("openlit_openai", ex) for ex in OPENAI_ALL),
    *(("openlit_anthropic", ex) for ex in (AN_READ_WRITE_5M,)),
]

pytestmark = pytest.mark.timeout(240)


@dataclass
class Run:
    versions: dict[str, str | None]
    errors: dict[str, str]
    records: dict[str, list[Any]] = field(default_factory=dict)  # exchange id -> normalized records


def _available(instrumentation: str) -> str | None:
    """Why ``instrumentation`` cannot run here, or None when it can."""
    module = INSTRUMENTATIONS[instrumentation][0]
    if module == "openlit":
        if OPENLIT_PATH and (Path(OPENLIT_PATH) / "openlit").is_dir():
            return None
        return "OpenLIT pins anthropic<1/openai<3; set LLM_OTEL_OPENLIT_PATH to a --no-deps install to run it"
    try:
        if find_spec(module) is None:
            raise ImportError(module)
    except ImportError:
        return f"{module} is not installed: pip install -e '.[dialect-tests]'"
    return None


def _records_from_otlp(payload: bytes) -> dict[str, Any]:
    """Every span of an OTLP export, normalized, by span id (hex)."""
    request = ExportTraceServiceRequest.FromString(payload)
    out: dict[str, Any] = {}
    for resource_spans in request.resource_spans:
        resource = decode_attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                out[span.span_id.hex()] = normalize(span, resource, scope_spans.scope.name)
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Runs every available instrumentation once, all in parallel subprocesses."""
    tmp = tmp_path_factory.mktemp("dialects")
    by_id = {ex["id"]: ex for ex in corpus.load()}
    env = dict(os.environ)
    env.pop("OTEL_SERVICE_NAME", None)
    if OPENLIT_PATH:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (OPENLIT_PATH, env.get("PYTHONPATH")) if p)
    procs = {}
    for group in GROUPS:
        members = [name for name in group if _available(name) is None]
        if not members:
            continue
        ids = list(dict.fromkeys(i for name in members for i in INSTRUMENTATIONS[name][1]))
        name = "+".join(members)
        exchanges = tmp / f"{name}.json"
        exchanges.write_text(json.dumps([by_id[i] for i in ids]), encoding="utf-8")
        procs[name] = subprocess.Popen(
            [sys.executable, str(RUNNER), name, str(tmp / f"{name}.bin"), str(exchanges)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
    out: dict[str, Run] = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=200)
        assert proc.returncode == 0, f"{name} runner failed:\n{stderr[-3000:]}"
        report = json.loads(stdout.strip().splitlines()[-1])
        by_span = _records_from_otlp((tmp / f"{name}.bin").read_bytes())
        run = Run(report["versions"], report["errors"])
        for exchange_id, span_ids in report["spans"].items():
            run.records[exchange_id] = [by_span[s] for s in span_ids if by_span[s] is not None]
        for member in name.split("+"):
            out[member] = run
    return out


def _run(runs: dict[str, Run], instrumentation: str) -> Run:
    reason = _available(instrumentation)
    if reason is not None:
        pytest.skip(reason)
    return runs[instrumentation]


def _call(runs: dict[str, Run], instrumentation: str, exchange_id: str) -> CallRecord:
    """The one call record ``instrumentation``'s span for ``exchange_id`` normalizes to."""
    run = _run(runs, instrumentation)
    assert exchange_id not in run.errors, run.errors.get(exchange_id)
    dialect = DIALECT_OF[instrumentation]
    records = [r for r in run.records[exchange_id] if r.dialect == dialect]
    assert len(records) == 1, f"{instrumentation} gave {len(records)} {dialect} call records for {exchange_id}"
    assert isinstance(records[0], CallRecord)
    return records[0]


def _cost(record: CallRecord) -> Cost:
    cost = price(
        record.usage,
        provider=record.provider,
        model=record.response_model,
        request_model=record.request_model,
        at=record.start_ns,
        service_tier=record.service_tier,
    )
    assert cost.priced, f"{record.model} unpriced: {cost.unpriced_reason}"
    return cost


def _billed(usage: Usage) -> tuple[int, int, int, int]:
    """The counts a bill is made of: inclusive input, output, cache read, cache write."""
    return (
        usage.input_tokens or 0,
        usage.output_tokens or 0,
        usage.cache_read_tokens or 0,
        usage.cache_write_tokens or 0,
    )


def _exchange(exchange_id: str) -> dict[str, Any]:
    return next(ex for ex in corpus.load() if ex["id"] == exchange_id)


def _expected_usage(exchange_id: str) -> Usage:
    e = _exchange(exchange_id)["expected"]
    return Usage(
        input_tokens=e["input_tokens"],
        output_tokens=e["output_tokens"],
        cache_read_tokens=e["cache_read_input_tokens"],
        cache_write_tokens=e["cache_write_input_tokens"],
        cache_write_5m_tokens=e["cache_write_5m"],
        cache_write_1h_tokens=e["cache_write_1h"],
        reasoning_tokens=e.get("reasoning_output_tokens"),
    )


def _short(exchange_id: str) -> str:
    return exchange_id.rsplit("/", 1)[-1]


# --- llm-otel's own spans: the reference ------------------------------------------------
@pytest.mark.parametrize("exchange_id", OPENAI_ALL + ANTHROPIC_ALL, ids=_short)
def test_llm_otel_own_span_reports_the_usage_the_corpus_expects(runs: dict[str, Run], exchange_id: str) -> None:
    record = _call(runs, "llm_otel", exchange_id)
    expected = _expected_usage(exchange_id)
    assert _billed(record.usage) == _billed(expected)
    assert (record.usage.cache_write_5m_tokens or 0, record.usage.cache_write_1h_tokens or 0) == (
        expected.cache_write_5m_tokens or 0,
        expected.cache_write_1h_tokens or 0,
    )
    assert (record.usage.reasoning_tokens or 0) == (expected.reasoning_tokens or 0)
    assert record.response_id == _exchange(exchange_id)["expected"]["response_id"]


# --- third-party spans cost what our own span costs -----------------------------------
@pytest.mark.parametrize(("instrumentation", "exchange_id"), SAME_COST, ids=[f"{i}-{_short(e)}" for i, e in SAME_COST])
def test_third_party_span_costs_the_same_as_llm_otels_own_span(
    runs: dict[str, Run], instrumentation: str, exchange_id: str
) -> None:
    theirs = _call(runs, instrumentation, exchange_id)
    ours = _call(runs, "llm_otel", exchange_id)
    assert _billed(theirs.usage) == _billed(ours.usage)
    assert (theirs.provider, theirs.response_model) == (ours.provider, ours.response_model)
    assert _cost(theirs).total == _cost(ours).total


def test_openlit_anthropic_input_is_made_inclusive_and_flagged(runs: dict[str, Run]) -> None:
    record = _call(runs, "openlit_anthropic", AN_READ_WRITE_5M)
    assert record.usage.input_tokens == _expected_usage(AN_READ_WRITE_5M).input_tokens
    assert "input_exclusive_of_cache" in record.flags


# --- what an instrumentation cannot carry, pinned down ---------------------------------
@pytest.mark.parametrize("exchange_id", [AN_STREAM_READ, AN_STREAM_WRITE, AN_ASYNC_STREAM_READ], ids=_short)
def test_openllmetry_anthropic_stream_adds_the_message_start_output_placeholder(
    runs: dict[str, Run], exchange_id: str
) -> None:
    theirs = _call(runs, "openllmetry_anthropic", exchange_id)
    ours = _call(runs, "llm_otel", exchange_id)
    placeholder = _message_start_usage(exchange_id)["output_tokens"]
    assert theirs.usage.output_tokens == ours.usage.output_tokens + placeholder
    assert _billed(theirs.usage)[::2] == _billed(ours.usage)[::2]  # input and cache read agree
    assert theirs.usage.cache_write_tokens == ours.usage.cache_write_tokens


@pytest.mark.parametrize(
    "instrumentation", ["otel_genai_anthropic", "openllmetry_anthropic", "openinference_anthropic"]
)
def test_a_1h_cache_write_without_ttl_split_is_priced_at_the_5m_rate(
    runs: dict[str, Run], instrumentation: str
) -> None:
    theirs = _call(runs, instrumentation, AN_WRITE_1H)
    ours = _call(runs, "llm_otel", AN_WRITE_1H)
    assert _billed(theirs.usage) == _billed(ours.usage)
    assert theirs.usage.cache_write_1h_tokens is None and ours.usage.cache_write_1h_tokens == 2056
    assert _cost(theirs).total < _cost(ours).total


def test_openllmetry_drops_openai_cache_writes_so_they_price_as_plain_input(runs: dict[str, Run]) -> None:
    theirs = _call(runs, "openllmetry_openai", OA_CHAT_CACHE_WRITE)
    ours = _call(runs, "llm_otel", OA_CHAT_CACHE_WRITE)
    assert (theirs.usage.cache_write_tokens or 0) == 0 and ours.usage.cache_write_tokens == 1217
    assert theirs.usage.input_tokens == ours.usage.input_tokens
    assert _cost(theirs).total != _cost(ours).total


@pytest.mark.parametrize("exchange_id", [AN_STREAM_READ, AN_ASYNC_STREAM_READ], ids=_short)
def test_openlit_anthropic_stream_loses_cache_counts_when_message_delta_has_none(
    runs: dict[str, Run], exchange_id: str
) -> None:
    theirs = _call(runs, "openlit_anthropic", exchange_id)
    start = _message_start_usage(exchange_id)
    assert theirs.usage.cache_read_tokens == 0 and start["cache_read_input_tokens"] > 0
    assert theirs.usage.input_tokens == start["input_tokens"]  # nothing left to make it inclusive with
    assert "input_exclusive_of_cache" not in theirs.flags


def test_openlit_anthropic_stream_with_final_usage_in_message_delta_costs_the_same(runs: dict[str, Run]) -> None:
    theirs = _call(runs, "openlit_anthropic", AN_STREAM_SERVER_TOOLS)
    ours = _call(runs, "llm_otel", AN_STREAM_SERVER_TOOLS)
    # OpenLIT takes input from message_start and cache from message_delta; they disagree here.
    assert theirs.usage.cache_read_tokens == ours.usage.cache_read_tokens
    assert theirs.usage.cache_write_tokens == ours.usage.cache_write_tokens
    assert "input_exclusive_of_cache" in theirs.flags


def test_every_instrumentation_that_ran_reports_its_version(runs: dict[str, Run]) -> None:
    for name, run in runs.items():
        assert all(run.versions.values()), f"{name}: {run.versions}"


def _message_start_usage(exchange_id: str) -> dict[str, Any]:
    for line in _exchange(exchange_id)["response_body"].splitlines():
        if line.startswith("data:") and '"message_start"' in line:
            return dict(json.loads(line[5:])["message"]["usage"])
    raise AssertionError(f"{exchange_id} has no message_start event")


# --- Anthropic usage.iterations (compaction, advisor) ---------------------------------------
def test_llm_otel_own_span_carries_the_iterations_a_compaction_billed(runs: dict[str, Run]) -> None:
    record = _call(runs, "llm_otel", AN_COMPACTION_CACHED)
    (compaction,) = record.usage.iterations
    assert (compaction.kind, compaction.input_tokens, compaction.output_tokens) == ("compaction", 55196, 131)
    assert compaction.cache_write_tokens == 55096
    assert (
        _cost(record).total
        > price(
            Usage(input_tokens=record.usage.input_tokens, output_tokens=record.usage.output_tokens),
            provider="anthropic",
            model=record.model,
            at=record.start_ns,
        ).total
    )


def test_native_compaction_span_costs_the_same_as_llm_otels_when_nothing_was_cached(runs: dict[str, Run]) -> None:
    theirs = _call(runs, "anthropic_native", AN_COMPACTION)
    ours = _call(runs, "llm_otel", AN_COMPACTION)
    assert [(i.kind, i.input_tokens, i.output_tokens) for i in theirs.usage.iterations] == [
        (i.kind, i.input_tokens, i.output_tokens) for i in ours.usage.iterations
    ]
    assert _cost(theirs).total == _cost(ours).total


def test_native_compaction_sum_hides_its_cache_write_so_it_prices_as_plain_input(runs: dict[str, Run]) -> None:
    theirs = _call(runs, "anthropic_native", AN_COMPACTION_CACHED)
    ours = _call(runs, "llm_otel", AN_COMPACTION_CACHED)
    assert theirs.usage.iterations[0].input_tokens == ours.usage.iterations[0].input_tokens == 55196
    assert theirs.usage.iterations[0].cache_write_tokens == 0
    assert _cost(theirs).total != _cost(ours).total


def test_native_span_has_no_advisor_iterations_so_the_advisor_model_goes_unbilled(runs: dict[str, Run]) -> None:
    theirs = _call(runs, "anthropic_native", AN_ADVISOR)
    ours = _call(runs, "llm_otel", AN_ADVISOR)
    assert theirs.usage.iterations == ()
    assert [i.kind for i in ours.usage.iterations] == ["advisor"]
    assert _billed(theirs.usage) == _billed(ours.usage)
    assert _cost(theirs).total < _cost(ours).total
