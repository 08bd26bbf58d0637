"""A task that crosses two services: B's LLM call is attributed to A's task through W3C baggage.

Service A (this process) opens ``llm_otel.task("ticket-triage", team="support")``, makes its own
LLM call, then calls service B over HTTP with the OpenTelemetry propagators' headers
(``traceparent`` and ``baggage``, injected by ``opentelemetry.propagate.inject``). Service B
(``service_b.py``, a separate process) extracts them and calls the LLM; it has no task of its
own, yet its LLM span carries A's ``llm_otel.task.id``/``.type`` and ``llm_otel.team``.

Both services export their spans over OTLP to a real ``llm-otel collector`` (a third process,
temporary SQLite ledger). The example prints B's span attributes and the ledger's rows: one
task, two calls from two services, one cost.

    python examples/two_services/service_a.py [--base-url URL]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # examples/_common.py

import _common
from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind

import llm_otel
from llm_otel import semconv
from llm_otel.demo.run import collector
from llm_otel.processor.ledger import open_ledger

SERVICE_B = Path(__file__).resolve().parent / "service_b.py"
TASK_KEYS = (semconv.TASK_ID, semconv.TASK_TYPE, semconv.TEAM)


def start_service_b(llm_url: str, otlp_endpoint: str) -> tuple[subprocess.Popen[str], str]:
    """Starts service B as its own process; returns it and its URL."""
    proc = subprocess.Popen(
        [sys.executable, str(SERVICE_B), "--llm-url", llm_url, "--otlp-endpoint", otlp_endpoint],
        stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    port = proc.stdout.readline().strip()
    if not port:
        proc.wait(timeout=10)
        raise RuntimeError(f"service B did not start (exit status {proc.returncode})")
    return proc, f"http://127.0.0.1:{port}"


def call_service_b(url: str, ticket: str, tracer: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """POST to B with the trace context and baggage injected; returns B's answer and the headers sent."""
    with tracer.start_as_current_span("POST service-b /summarize", kind=SpanKind.CLIENT):
        headers = {"content-type": "application/json"}
        propagate.inject(headers)  # traceparent + baggage (llm_otel.task.id, .type, team)
        req = urllib.request.Request(f"{url}/summarize", data=json.dumps({"ticket": ticket}).encode(),
                                     headers=headers, method="POST")
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read()), headers


def ledger_rows(ledger_url: str, task_id: str, expected_calls: int, timeout: float = 30.0) -> tuple[list[Any], Any]:
    """The task's counted calls and its task row, once the processor has ledgered them."""
    deadline = time.monotonic() + timeout
    with open_ledger(ledger_url) as ledger:
        while True:
            calls = ledger.calls_for_task(task_id)
            task = ledger.get_task(task_id)
            if (len(calls) >= expected_calls and task is not None and task.has_span) or time.monotonic() > deadline:
                return calls, task
            time.sleep(0.2)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = _common.parse_args(__doc__.splitlines()[0], argv)
    with tempfile.TemporaryDirectory(prefix="llm-otel-two-services-") as tmp, \
            _common.fake_api(args.base_url) as url, collector(Path(tmp)) as coll:
        otlp = f"http://{coll.http}/v1/traces"
        service_b, b_url = start_service_b(url, otlp)
        provider = TracerProvider(resource=Resource.create({"service.name": "service-a"}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp)))
        llm_otel.instrument(tracer_provider=provider)
        try:
            tracer = provider.get_tracer("service-a")
            client = _common.anthropic_client(url)
            ticket = "Customer 4711 cannot log in after the password reset; tried twice."
            with llm_otel.task("ticket-triage", id="ticket-4711", team="support") as t, \
                    llm_otel.agent("triage-agent"):
                trace_id = format(trace.get_current_span().get_span_context().trace_id, "032x")
                client.messages.create(
                    model=_common.ANTHROPIC_MODEL, max_tokens=80,
                    system="Classify the ticket's urgency.", messages=[{"role": "user", "content": ticket}],
                )
                answer, headers = call_service_b(b_url, ticket, tracer)
            provider.force_flush()
        finally:
            llm_otel.uninstrument()
            provider.shutdown()
            service_b.terminate()
            service_b.wait(timeout=15)
        calls, task = ledger_rows(coll.ledger_url, t.id, expected_calls=2)

    print(f"service A: task {t.type}/{t.id} team {t.team}; sent to B: baggage: {headers.get('baggage')}")
    b_attrs = (answer.get("llm_span") or {}).get("attributes", {})
    print(f"\nservice B's LLM span {answer['llm_span']['name']!r} (trace {answer['trace_id']}):")
    for key in sorted(b_attrs):
        if key.startswith(("llm_otel.", "gen_ai.provider", "gen_ai.request.model", "gen_ai.usage.input")):
            print(f"  {key} = {b_attrs[key]!r}")
    attributed = all(b_attrs.get(k) == v for k, v in zip(TASK_KEYS, (t.id, t.type, t.team), strict=True))
    print(f"B's LLM span carries A's task id, type and team: {attributed}; "
          f"same trace as A's task: {answer['trace_id'] == trace_id}")

    print("\nthe collector's ledger, calls of this task:")
    for c in calls:
        print(f"  {c.service_name or '?':>9}: {c.provider}/{c.model} task {c.task_type}/{c.task_id} team {c.team} "
              f"cost {c.cost_total:.6f} USD")
    if task is not None:
        print(f"task row: {task.calls} calls, cost {task.cost:.6f} USD, status {task.status}")
    return {
        "task": {"id": t.id, "type": t.type, "team": t.team},
        "b_span_attributes": b_attrs,
        "b_attributed": attributed,
        "trace_ids": {"a": trace_id, "b": answer["trace_id"]},
        "ledger_calls": [{"service": c.service_name, "provider": c.provider, "task_id": c.task_id,
                          "task_type": c.task_type, "team": c.team} for c in calls],
        "ledger_task_calls": task.calls if task is not None else 0,
    }


if __name__ == "__main__":
    result = main()
    sys.exit(0 if result["b_attributed"] and result["ledger_task_calls"] == 2 else 1)
