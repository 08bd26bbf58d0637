"""Runs one third-party instrumentation for real against recorded exchanges; writes its spans as OTLP protobuf.

Used by ``test_dialect_instrumented.py`` in a subprocess per instrumentation: the
instrumentations patch the same ``openai``/``anthropic`` methods and OpenTelemetry's
global state, so they must not share a process with each other or with the test
session's global TracerProvider. Each gets its own TracerProvider with an
InMemorySpanExporter, the real client talks HTTP to ``tests/replay/server.py``, and
the finished spans are encoded with the OTLP exporter's own ``encode_spans``.

    python dialect_runner.py INSTRUMENTATION[+INSTRUMENTATION...] OUT_FILE EXCHANGES_JSON

Instrumentations of different libraries (an openai one, an anthropic one) may share a run:
each call is then seen by one of them, and a run costs mostly its imports.

EXCHANGES_JSON holds a list of corpus exchanges (whole objects: loading the corpus costs
more than a run). ``llm_otel`` also keeps the anthropic SDK's own spans on, as users do.
Prints one JSON line: {"versions": {...}, "errors": {exchange_id: message},
"spans": {exchange_id: [span id hex, ...]}}.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# No content in spans: the dialect readers never need it, and it keeps spans small.
os.environ.setdefault("TRACELOOP_TRACE_CONTENT", "false")
os.environ.setdefault("OPENINFERENCE_HIDE_INPUTS", "true")
os.environ.setdefault("OPENINFERENCE_HIDE_OUTPUTS", "true")
os.environ.setdefault("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "NO_CONTENT")
os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
os.environ["ANTHROPIC_OPEN_TELEMETRY"] = "false"  # the native spans only where asked for (below)

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from replay import corpus
from replay.server import ReplayServer

PACKAGES = {
    "otel_genai_openai": ("opentelemetry-instrumentation-genai-openai", "opentelemetry-util-genai"),
    "otel_genai_anthropic": ("opentelemetry-instrumentation-genai-anthropic", "opentelemetry-util-genai"),
    "openllmetry_openai": ("opentelemetry-instrumentation-openai", "opentelemetry-semantic-conventions-ai"),
    "openllmetry_anthropic": ("opentelemetry-instrumentation-anthropic", "opentelemetry-semantic-conventions-ai"),
    "openinference_openai": ("openinference-instrumentation-openai", "openinference-semantic-conventions"),
    "openinference_anthropic": ("openinference-instrumentation-anthropic", "openinference-semantic-conventions"),
    "openlit_anthropic": ("openlit",),
    "openlit_openai": ("openlit",),
    "anthropic_native": ("anthropic",),
    "llm_otel": ("llm-otel", "anthropic"),
}


def instrument(name: str, provider: TracerProvider) -> None:
    """Turns on instrumentation ``name`` with ``provider`` (never the global one)."""
    if name == "otel_genai_openai":
        from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(tracer_provider=provider)
    elif name == "otel_genai_anthropic":
        from opentelemetry.instrumentation.genai.anthropic import AnthropicInstrumentor as GenAIAnthropic

        GenAIAnthropic().instrument(tracer_provider=provider)
    elif name == "openllmetry_openai":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor as LLMetryOpenAI

        LLMetryOpenAI().instrument(tracer_provider=provider)
    elif name == "openllmetry_anthropic":
        from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor

        AnthropicInstrumentor().instrument(tracer_provider=provider)
    elif name == "openinference_openai":
        from openinference.instrumentation.openai import OpenAIInstrumentor as OIOpenAI

        OIOpenAI().instrument(tracer_provider=provider)
    elif name == "openinference_anthropic":
        from openinference.instrumentation.anthropic import AnthropicInstrumentor as OIAnthropic

        OIAnthropic().instrument(tracer_provider=provider)
    elif name == "llm_otel":
        import llm_otel

        llm_otel.instrument(tracer_provider=provider)
    elif name in ("openlit_anthropic", "openlit_openai"):
        # OpenLIT's instrumentors trace to the global provider only; this process is its own.
        from openlit._config import OpenlitConfig
        from opentelemetry import trace

        trace.set_tracer_provider(provider)
        OpenlitConfig.reset_to_defaults()  # what openlit.init() does first; no network, no metrics
        if name == "openlit_anthropic":
            from openlit.instrumentation.anthropic import AnthropicInstrumentor as LitAnthropic

            LitAnthropic().instrument(environment="test", application_name="dialects", disable_metrics=True)
        else:
            from openlit.instrumentation.openai import OpenAIInstrumentor as LitOpenAI

            LitOpenAI().instrument(environment="test", application_name="dialects", disable_metrics=True)
    elif name != "anthropic_native":
        raise SystemExit(f"unknown instrumentation {name!r}; one of {sorted(PACKAGES)}")


def _split_kwargs(fn: Any, request: dict[str, Any]) -> dict[str, Any]:
    """The recorded body as keyword arguments; fields this client version does not name go in ``extra_body``."""
    params = inspect.signature(fn).parameters
    kwargs = {k: v for k, v in request.items() if k in params}
    extra = {k: v for k, v in request.items() if k not in params}
    if extra:
        kwargs["extra_body"] = extra
    return kwargs


def _call(ex: dict[str, Any], base: str, native_provider: TracerProvider | None) -> Any:
    """Makes the recorded call with the real client, reading a stream to its end."""
    request = dict(ex["request"] or {})
    is_async = corpus.is_async(ex)
    if ex["provider"] == "openai" or ex["path"] == "/v1/chat/completions":
        import openai  # each client on first use: importing one costs seconds

        client: Any = (openai.AsyncOpenAI if is_async else openai.OpenAI)(
            api_key="sk-replay", base_url=base + "/v1", max_retries=0
        )
        resource = {
            "/v1/chat/completions": client.chat.completions,
            "/v1/responses": client.responses,
            "/v1/completions": client.completions,
            "/v1/embeddings": client.embeddings,
        }[ex["path"]]
    else:
        import anthropic

        otel: Any = {"tracer_provider": native_provider} if native_provider is not None else None
        client = (anthropic.AsyncAnthropic if is_async else anthropic.Anthropic)(
            api_key="sk-ant-replay", base_url=base, max_retries=0, open_telemetry=otel
        )
        resource = client.beta.messages if ex["query"] == "beta=true" else client.messages
        beta = (ex.get("request_headers") or {}).get("anthropic-beta")
        if ex["query"] == "beta=true" and beta:
            request["betas"] = [b.strip() for b in beta.split(",") if b.strip()]
    kwargs = _split_kwargs(resource.create, request)
    if is_async:

        async def run() -> None:
            out = await resource.create(**kwargs)
            if request.get("stream"):
                async for _ in out:
                    pass

        asyncio.run(run())
    else:
        out = resource.create(**kwargs)
        if request.get("stream"):
            for _ in out:
                pass
            close = getattr(out, "close", None)
            if close is not None:
                close()


def main(argv: list[str]) -> int:
    group, out_file, exchanges_file = argv
    names = group.split("+")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    for name in names:
        instrument(name, provider)
    native = provider if {"anthropic_native", "llm_otel"} & set(names) else None
    exchanges = json.loads(Path(exchanges_file).read_text(encoding="utf-8"))
    errors: dict[str, str] = {}
    spans_by_exchange: dict[str, list[str]] = {}
    with ReplayServer() as server:
        for i, ex in enumerate(exchanges):
            ex_id = ex["id"]
            key = f"e{i}"
            server.add(key, ex)
            before = len(exporter.get_finished_spans())
            try:
                _call(ex, server.base_url(key), native)
            except Exception as exc:
                errors[ex_id] = f"{type(exc).__name__}: {str(exc)[:300]}"
            spans = exporter.get_finished_spans()[before:]
            spans_by_exchange[ex_id] = [format(s.context.span_id, "016x") for s in spans]
    provider.force_flush()
    request = encode_spans(exporter.get_finished_spans())
    Path(out_file).write_bytes(request.SerializeToString())
    versions: dict[str, str | None] = {}
    for pkg in (p for name in names for p in PACKAGES.get(name, ())):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = None
    print(json.dumps({"versions": versions, "errors": errors, "spans": spans_by_exchange}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
