"""CPU llm-otel adds per LLM call and per stream chunk, against the floor of one bare OTel span.

Run: ``python benchmarks/sdk_overhead.py [--calls 2000] [--rounds 5]``.

What it measures (issue 2, "How it is checked"):

- the real ``openai`` and ``anthropic`` clients, sync, talking to an in-process
  ``httpx2.MockTransport`` that answers with recorded bodies from
  ``../shared/corpus/dev.jsonl.gz`` (no sockets, so the numbers are the SDKs' and ours);
- baseline = the same calls uninstrumented (``llm_otel.uninstrument()``); for Anthropic the
  baseline client has the SDK's native tracing off (``ANTHROPIC_OPEN_TELEMETRY=false``);
  the native tracing alone (uninstrumented, default on) is printed for reference;
- instrumented = after ``llm_otel.instrument()``, clients created with the default env;
- one SDK TracerProvider for all: our ``SpendPreservingSampler`` over ``parentbased_always_on``,
  a ``BatchSpanProcessor`` and an exporter that drops everything;
- floor = one bare span on that provider (uninstrumented) started with as many attributes
  as our LLM span ends with, then ended;
- per chunk = slope of the added CPU between a short and a long stream (the recorded stream
  with its text-delta event repeated), so per-call costs cancel out.

CPU is ``time.process_time()`` (all threads of this process: the batch exporter's too), the
minimum over rounds of the mean per call. Targets: added per call <= 1.5x the floor, added
per chunk <= 1 us.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx2
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from opentelemetry.trace import SpanKind

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import llm_otel  # noqa: E402
from llm_otel import semconv  # noqa: E402
from llm_otel.sdk.sampler import SpendPreservingSampler  # noqa: E402
from replay import corpus  # noqa: E402

SHORT_CHUNKS = 10
LONG_CHUNKS = 210


class DropExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


class AttributeCounter(SpanProcessor):
    """Remembers the attributes of the last GenAI span (to size the floor); off while timing."""

    def __init__(self) -> None:
        self.active = True
        self.attributes: dict[str, Any] = {}

    def on_end(self, span: ReadableSpan) -> None:
        if self.active and span.attributes and semconv.GEN_AI_OPERATION_NAME in span.attributes:
            self.attributes = dict(span.attributes)


# --- recorded bodies -----------------------------------------------------------------


def _first(provider: str, path: str, stream: bool, ok: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    for ex in corpus.exchanges(provider):
        if ex["path"] == path and ex["stream"] == stream and not ex["query"] and not corpus.is_async(ex) and ok(ex):
            return ex
    raise SystemExit(f"no {provider} {path} stream={stream} exchange in the corpus")


def _events(body: str) -> list[str]:
    return [e for e in body.split("\n\n") if e.strip()]


def _is_openai_text_delta(event: str) -> bool:
    if not event.startswith("data: {"):
        return False
    choices = json.loads(event[6:]).get("choices") or []
    return bool(choices and (choices[0].get("delta") or {}).get("content"))


def stretch(body: str, is_delta: Callable[[str], bool], chunks: int) -> str:
    """The recorded stream with its first text-delta event repeated so it has ``chunks`` deltas."""
    events = _events(body)
    i = next(i for i, e in enumerate(events) if is_delta(e))
    return "\n\n".join([*events[:i], *[events[i]] * chunks, *events[i + 1 :]]) + "\n\n"


def openai_exchanges() -> tuple[dict[str, Any], dict[str, Any]]:
    call = _first("openai", "/v1/chat/completions", False, lambda ex: not ex["request"].get("tools"))
    stream = _first(
        "openai",
        "/v1/chat/completions",
        True,
        lambda ex: ex["expected"] is not None and any(_is_openai_text_delta(e) for e in _events(ex["response_body"])),
    )
    return call, stream


def anthropic_exchanges() -> tuple[dict[str, Any], dict[str, Any]]:
    call = _first("anthropic", "/v1/messages", False, lambda ex: not ex["request"].get("tools"))
    stream = _first(
        "anthropic",
        "/v1/messages",
        True,
        lambda ex: "text_delta" in ex["response_body"] and not ex["request"].get("tools"),
    )
    return call, stream


def _is_anthropic_text_delta(event: str) -> bool:
    return "content_block_delta" in event and "text_delta" in event


# --- clients on an in-process transport -----------------------------------------------


def transport(body: str, content_type: str) -> httpx2.MockTransport:
    payload = body.encode()
    headers = {"content-type": content_type}

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers=headers, content=payload)

    return httpx2.MockTransport(handler)


def openai_client(body: str, stream: bool) -> Any:
    import openai

    ctype = "text/event-stream" if stream else "application/json"
    return openai.OpenAI(
        api_key="sk-bench",
        base_url="https://bench.invalid/v1",
        max_retries=0,
        http_client=httpx2.Client(transport=transport(body, ctype)),
    )


def anthropic_client(body: str, stream: bool, native: bool) -> Any:
    import anthropic

    ctype = "text/event-stream" if stream else "application/json"
    before = os.environ.pop("ANTHROPIC_OPEN_TELEMETRY", None)
    try:
        if not native:
            os.environ["ANTHROPIC_OPEN_TELEMETRY"] = "false"
        return anthropic.Anthropic(
            api_key="sk-bench",
            base_url="https://bench.invalid",
            max_retries=0,
            http_client=httpx2.Client(transport=transport(body, ctype)),
        )
    finally:
        os.environ.pop("ANTHROPIC_OPEN_TELEMETRY", None)
        if before is not None:
            os.environ["ANTHROPIC_OPEN_TELEMETRY"] = before


def openai_call(client: Any, request: dict[str, Any]) -> Callable[[], None]:
    req = {k: v for k, v in request.items() if k not in ("stream", "stream_options")}

    def run() -> None:
        client.chat.completions.create(**req)

    return run


def openai_stream(client: Any, request: dict[str, Any]) -> Callable[[], None]:
    req = {k: v for k, v in request.items() if k != "stream_options"}
    req["stream"] = True

    def run() -> None:
        for _ in client.chat.completions.create(**req):
            pass

    return run


def anthropic_call(client: Any, request: dict[str, Any]) -> Callable[[], None]:
    req = {k: v for k, v in request.items() if k != "stream"}

    def run() -> None:
        client.messages.create(**req)

    return run


def anthropic_stream(client: Any, request: dict[str, Any]) -> Callable[[], None]:
    req = dict(request)
    req["stream"] = True

    def run() -> None:
        for _ in client.messages.create(**req):
            pass

    return run


# --- timing ---------------------------------------------------------------------------


def cpu_per_call(fn: Callable[[], None], n: int, provider: TracerProvider) -> float:
    """Mean CPU seconds per ``fn()`` over ``n`` calls, exporter thread included."""
    for _ in range(min(50, n)):
        fn()
    provider.force_flush()
    gc.collect()
    gc.disable()
    try:
        start = time.process_time()
        for _ in range(n):
            fn()
        provider.force_flush()
        return (time.process_time() - start) / n
    finally:
        gc.enable()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per measurement (streams: a tenth)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the minimum is reported")
    args = parser.parse_args(argv)

    provider = TracerProvider(sampler=SpendPreservingSampler(ParentBased(ALWAYS_ON)))
    counter = AttributeCounter()
    provider.add_span_processor(counter)
    provider.add_span_processor(BatchSpanProcessor(DropExporter()))
    trace.set_tracer_provider(provider)
    tracer = provider.get_tracer("floor")

    oa_call, oa_stream = openai_exchanges()
    an_call, an_stream = anthropic_exchanges()
    oa_short = stretch(oa_stream["response_body"], _is_openai_text_delta, SHORT_CHUNKS)
    oa_long = stretch(oa_stream["response_body"], _is_openai_text_delta, LONG_CHUNKS)
    an_short = stretch(an_stream["response_body"], _is_anthropic_text_delta, SHORT_CHUNKS)
    an_long = stretch(an_stream["response_body"], _is_anthropic_text_delta, LONG_CHUNKS)

    def scenarios(instrumented: bool) -> dict[str, Callable[[], None]]:
        native = instrumented  # the baseline has anthropic's native tracing off
        return {
            "openai call": openai_call(openai_client(oa_call["response_body"], False), oa_call["request"]),
            "openai stream short": openai_stream(openai_client(oa_short, True), oa_stream["request"]),
            "openai stream long": openai_stream(openai_client(oa_long, True), oa_stream["request"]),
            "anthropic call": anthropic_call(anthropic_client(an_call["response_body"], False, native), an_call["request"]),
            "anthropic stream short": anthropic_stream(anthropic_client(an_short, True, native), an_stream["request"]),
            "anthropic stream long": anthropic_stream(anthropic_client(an_long, True, native), an_stream["request"]),
        }

    # Size the floor: the attributes our spans end with (one instrumented call of each kind).
    llm_otel.instrument()
    sizes = {}
    inst = scenarios(True)
    for name in ("openai call", "anthropic call"):
        inst[name]()
        sizes[name] = dict(counter.attributes)
    counter.active = False
    llm_otel.uninstrument()
    floor_attrs = {name: attrs for name, attrs in sizes.items()}

    best: dict[str, float] = {}

    def keep(key: str, value: float) -> None:
        best[key] = min(best.get(key, float("inf")), value)

    n = args.calls
    for _ in range(args.rounds):
        # Uninstrumented: floor, baseline, and Anthropic's native tracing alone.
        for name, attrs in floor_attrs.items():
            span_name = f"chat {attrs.get(semconv.GEN_AI_REQUEST_MODEL)}"
            keep(
                f"floor ({name})",
                cpu_per_call(lambda: tracer.start_span(span_name, kind=SpanKind.CLIENT, attributes=attrs).end(), n, provider),  # noqa: B023
            )
        for name, fn in scenarios(False).items():
            keep(f"base {name}", cpu_per_call(fn, n if "call" in name else n // 10, provider))
        native_alone = anthropic_call(anthropic_client(an_call["response_body"], False, True), an_call["request"])
        keep("native anthropic call", cpu_per_call(native_alone, n, provider))
        llm_otel.instrument()
        try:
            for name, fn in scenarios(True).items():
                keep(f"inst {name}", cpu_per_call(fn, n if "call" in name else n // 10, provider))
        finally:
            llm_otel.uninstrument()

    us = 1e6
    print(f"llm-otel SDK overhead (CPU per call, min of {args.rounds} rounds, {n} calls; streams {n // 10})")
    print(f"{'':34}{'baseline':>10}{'llm-otel':>10}{'added':>10}{'floor':>10}{'ratio':>8}")
    for provider_name in ("openai", "anthropic"):
        name = f"{provider_name} call"
        base, inst_v = best[f"base {name}"], best[f"inst {name}"]
        floor = best[f"floor ({name})"]
        added = inst_v - base
        ok = "ok" if added <= 1.5 * floor else "OVER"
        print(
            f"{name + f' ({len(floor_attrs[name])} attrs)':34}{base * us:>9.1f}u{inst_v * us:>9.1f}u"
            f"{added * us:>9.1f}u{floor * us:>9.1f}u{added / floor:>7.2f}x  {ok} (target <= 1.5x)"
        )
    for provider_name in ("openai", "anthropic"):
        short = best[f"inst {provider_name} stream short"] - best[f"base {provider_name} stream short"]
        long = best[f"inst {provider_name} stream long"] - best[f"base {provider_name} stream long"]
        per_chunk = (long - short) / (LONG_CHUNKS - SHORT_CHUNKS)
        base_chunk = (best[f"base {provider_name} stream long"] - best[f"base {provider_name} stream short"]) / (
            LONG_CHUNKS - SHORT_CHUNKS
        )
        ok = "ok" if per_chunk <= 1e-6 else "OVER"
        print(
            f"{provider_name + ' stream, per chunk':34}{base_chunk * us:>9.2f}u{(base_chunk + per_chunk) * us:>9.2f}u"
            f"{per_chunk * us:>9.2f}u{'':>10}{'':>8}  {ok} (target <= 1 us)"
        )
        print(f"{provider_name + ' stream, per call (short)':34}{'':>10}{'':>10}{short * us:>9.1f}u")
    native_added = best["native anthropic call"] - best["base anthropic call"]
    floor = best["floor (anthropic call)"]
    print(
        f"reference: anthropic native tracing alone adds {native_added * us:.1f}u per call "
        f"({native_added / floor:.1f}x the floor)"
    )


if __name__ == "__main__":
    main()
