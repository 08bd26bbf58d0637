"""Service B of the two-service example: an HTTP service that calls an LLM for whoever called it.

It opens no task of its own. It extracts the caller's trace context and W3C baggage from the
request headers (as OpenTelemetry's WSGI/ASGI server instrumentations do) and makes its LLM
call inside that context: llm-otel's span processor reads ``llm_otel.task.id``/``.type`` and
``llm_otel.team`` from the baggage, so the call is attributed to the caller's task.

Started by ``service_a.py``; on its own:

    python examples/two_services/service_b.py --llm-url http://127.0.0.1:PORT --otlp-endpoint URL

It prints its port on the first line of stdout, exports its spans over OTLP, and answers
``POST /summarize`` with the attributes of the LLM span it recorded (never any content).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai
from opentelemetry import context, propagate
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import llm_otel

MODEL = "gpt-4o-mini"


def serve(llm_url: str, otlp_endpoint: str, port: int = 0) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "service-b"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
    recorded = InMemorySpanExporter()  # only so the response can show what was exported
    provider.add_span_processor(SimpleSpanProcessor(recorded))
    llm_otel.instrument(tracer_provider=provider)
    tracer = provider.get_tracer("service-b")
    client = openai.OpenAI(base_url=f"{llm_url.rstrip('/')}/v1", api_key="example-key", max_retries=0)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            request = json.loads(self.rfile.read(length) or b"{}")
            token = context.attach(propagate.extract(self.headers))
            try:
                with tracer.start_as_current_span("POST /summarize", kind=SpanKind.SERVER) as server_span:
                    client.chat.completions.create(
                        model=MODEL,
                        max_tokens=120,
                        messages=[
                            {"role": "system", "content": "Summarize the support ticket in one sentence."},
                            {"role": "user", "content": str(request.get("ticket", ""))},
                        ],
                    )
                    trace_id = format(server_span.get_span_context().trace_id, "032x")
            finally:
                context.detach(token)
            llm = [s for s in recorded.get_finished_spans() if s.attributes and "gen_ai.operation.name" in s.attributes]
            recorded.clear()
            provider.force_flush()
            body = json.dumps({
                "trace_id": trace_id,
                "llm_span": {"name": llm[-1].name, "attributes": dict(llm[-1].attributes or {})} if llm else None,
            }).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        llm_otel.uninstrument()
        provider.shutdown()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Service B: calls an LLM under its caller's task.")
    parser.add_argument("--llm-url", required=True, help="base URL of the (fake) OpenAI API")
    parser.add_argument("--otlp-endpoint", required=True, help="OTLP/HTTP traces endpoint, e.g. http://HOST:4318/v1/traces")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    serve(args.llm_url, args.otlp_endpoint, args.port)


if __name__ == "__main__":
    main()
    sys.exit(0)
