"""Task attribution crosses a real HTTP hop in W3C baggage to another process that uses llm-otel."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import propagate
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llm_otel
from llm_otel import semconv

CHILD = textwrap.dedent(
    """
    import json, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from opentelemetry import context, propagate, trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind
    import llm_otel

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    llm_otel.instrument(providers=())  # the downstream service: llm-otel's processor on its own provider
    tracer = trace.get_tracer("downstream")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            exporter.clear()
            # As OTel's server instrumentations (WSGI, ASGI) do: attach the extracted context.
            token = context.attach(propagate.extract(self.headers))
            try:
                with tracer.start_as_current_span("GET /work", kind=SpanKind.SERVER):
                    tracer.start_span("db.query").end()
            finally:
                context.detach(token)
            body = json.dumps([
                {"name": s.name, "trace_id": format(s.context.trace_id, "032x"), "attributes": dict(s.attributes)}
                for s in exporter.get_finished_spans()
            ]).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = HTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()
    """
)


@pytest.fixture(scope="module")
def downstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    script = Path(tmp_path_factory.mktemp("child")) / "child.py"
    script.write_text(CHILD)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().strip()
        assert port, "the downstream process did not start"
        yield f"http://127.0.0.1:{port}/work"
    finally:
        proc.kill()
        proc.wait()


def _get(url: str) -> list[dict[str, object]]:
    headers: dict[str, str] = {}
    propagate.inject(headers)
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as resp:
        return json.loads(resp.read())


def test_downstream_spans_carry_the_upstream_task_id_type_and_team(
    downstream: str, spans: InMemorySpanExporter
) -> None:
    with llm_otel.task("policy-review", id="pol-123", team="secops"):
        child_spans = _get(downstream)
    assert {s["name"] for s in child_spans} == {"GET /work", "db.query"}
    for s in child_spans:
        attrs = s["attributes"]
        assert isinstance(attrs, dict)
        assert attrs[semconv.TASK_ID] == "pol-123"
        assert attrs[semconv.TASK_TYPE] == "policy-review"
        assert attrs[semconv.TEAM] == "secops"
    (task_span,) = spans.get_finished_spans()
    assert {s["trace_id"] for s in child_spans} == {format(task_span.context.trace_id, "032x")}


def test_downstream_spans_of_a_request_outside_any_task_are_unattributed(downstream: str) -> None:
    child_spans = _get(downstream)
    assert child_spans and all(semconv.TASK_ID not in s["attributes"] for s in child_spans)  # type: ignore[operator]
