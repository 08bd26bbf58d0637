"""Real processes: instrument() setting up tracing from OTEL_* env, and `opentelemetry-instrument` via entry points.

Each child exports over real OTLP/HTTP to a capture server in this process.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from llm_otel import semconv
from replay import corpus
from replay.server import ReplayServer

BIN = Path(sys.executable).parent


class OTLPCapture(ThreadingHTTPServer):
    """POST /v1/traces -> decoded spans as (resource attrs, scope name, name, attrs) tuples."""

    daemon_threads = True

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(handler) -> None:
                body = handler.rfile.read(int(handler.headers.get("content-length") or 0))
                if handler.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                req = ExportTraceServiceRequest.FromString(body)
                for rs in req.resource_spans:
                    res = {a.key: _value(a.value) for a in rs.resource.attributes}
                    for ss in rs.scope_spans:
                        for sp in ss.spans:
                            self.spans.append(
                                {
                                    "resource": res,
                                    "scope": ss.scope.name,
                                    "name": sp.name,
                                    "attributes": {a.key: _value(a.value) for a in sp.attributes},
                                }
                            )
                handler.send_response(200)
                handler.send_header("content-type", "application/x-protobuf")
                handler.send_header("content-length", "0")
                handler.end_headers()

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


@pytest.fixture
def otlp() -> Iterator[OTLPCapture]:
    server = OTLPCapture()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _env(otlp: OTLPCapture, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        OTEL_SERVICE_NAME="llm-otel-child",
        OTEL_EXPORTER_OTLP_ENDPOINT=otlp.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_BSP_SCHEDULE_DELAY="50",
    )
    env.update(extra)
    return env


def _run(argv: list[str], env: dict[str, str], tmp_path: Path) -> str:
    proc = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_instrument_sets_up_otlp_export_and_the_spend_sampler_from_the_environment(
    otlp: OTLPCapture, tmp_path: Path
) -> None:
    app = tmp_path / "app.py"
    app.write_text(
        textwrap.dedent(
            """
            import sys
            from opentelemetry import trace
            import llm_otel
            from llm_otel.sdk import call, instrument

            llm_otel.instrument()
            provider = trace.get_tracer_provider()
            print(type(provider).__name__, provider.sampler.get_description())
            # Client libraries the app has not imported are not imported by instrument() ...
            print("lazy", "openai" not in sys.modules and "anthropic" not in sys.modules)
            import openai
            # ... and are instrumented when the app imports them.
            print("on-import", instrument.is_instrumented("openai"))
            with llm_otel.task("envtask", id="e-1", team="blue"):
                trace.get_tracer("app").start_span("dropped-by-ratio-0").end()
                c = call.start_call("chat", "openai", "gpt-4o", {})
                c.finish()
            """
        )
    )
    env = _env(otlp, OTEL_TRACES_SAMPLER="traceidratio", OTEL_TRACES_SAMPLER_ARG="0")
    out = _run([sys.executable, str(app)], env, tmp_path)
    lines = out.splitlines()
    assert lines[0].startswith("TracerProvider LLMOtelSpendPreserving{TraceIdRatioBased")
    assert lines[1:] == ["lazy True", "on-import True"]
    names = {s["name"]: s for s in otlp.spans}
    assert set(names) == {"llm_otel.task envtask", "chat gpt-4o"}  # ratio 0 drops everything but spend
    assert all(s["resource"]["service.name"] == "llm-otel-child" for s in otlp.spans)
    assert names["chat gpt-4o"]["attributes"][semconv.TASK_ID] == "e-1"
    assert names["chat gpt-4o"]["attributes"][semconv.TEAM] == "blue"


def test_opentelemetry_instrument_runs_an_unmodified_app_through_the_entry_points(
    otlp: OTLPCapture, tmp_path: Path
) -> None:
    ex = next(
        e
        for e in corpus.exchanges("openai")
        if e["path"] == "/v1/chat/completions" and not e["stream"] and not corpus.is_async(e)
    )
    app = tmp_path / "app.py"
    app.write_text(
        textwrap.dedent(
            """
            import json, os, sys
            import openai
            import llm_otel  # only for the task: instrumentation comes from opentelemetry-instrument

            request = json.loads(os.environ["REPLAY_REQUEST"])
            client = openai.OpenAI(base_url=os.environ["REPLAY_URL"], api_key="test", max_retries=0)
            with llm_otel.task("auto", id="auto-1", team="green"):
                client.chat.completions.create(**request)
            """
        )
    )
    with ReplayServer() as server:
        server.add("k", ex)
        env = _env(
            otlp,
            REPLAY_URL=server.base_url("k") + "/v1",
            REPLAY_REQUEST=json.dumps(ex["request"]),
            # Only llm-otel's instrumentors: other GenAI instrumentations installed here are disabled.
            OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="openai,anthropic",
        )
        _run([str(BIN / "opentelemetry-instrument"), sys.executable, str(app)], env, tmp_path)
    llm = [s for s in otlp.spans if semconv.GEN_AI_OPERATION_NAME in s["attributes"]]
    assert len(llm) == 1, otlp.spans
    attrs = llm[0]["attributes"]
    assert llm[0]["scope"] == semconv.INSTRUMENTATION_SCOPE
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == ex["expected"]["input_tokens"]
    assert (attrs[semconv.TASK_ID], attrs[semconv.TASK_TYPE], attrs[semconv.TEAM]) == ("auto-1", "auto", "green")
    assert any(s["name"] == "llm_otel.task auto" for s in otlp.spans)
