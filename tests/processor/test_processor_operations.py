"""Operations: SIGTERM drains, forwarding adds costs, budgets and exemplars on /metrics, config, logs."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from collector_proc import Collector, sample_values
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from workload import export_all, generate

from llm_otel import semconv
from llm_otel.processor.config import ConfigError, load_config
from llm_otel.processor.ledger import open_ledger


def test_sigterm_drains_in_flight_exports_and_exits_cleanly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/l.db"
    c = Collector(url, log_path=tmp_path / "c.log").start()
    spans, _ = generate(100, 3, seed=3)
    done: list[int] = []

    def send() -> None:
        exporter = HttpExporter(endpoint=c.http_endpoint, timeout=2)
        for i in range(0, len(spans), 25):
            if exporter.export(spans[i : i + 25]).name != "SUCCESS":
                return  # the processor has stopped accepting
            done.append(i)

    t = threading.Thread(target=send)
    t.start()
    deadline = time.monotonic() + 60
    while len(done) < 3 and t.is_alive() and time.monotonic() < deadline:
        time.sleep(0.001)
    assert c.terminate() == 0
    t.join(60)
    acked = sum(len(spans[i : i + 25]) for i in done)
    with open_ledger(url) as ledger:
        ledgered_calls = sum(ledger.totals().get(semconv.METRIC_CALLS, {}).values())
    # Every acknowledged call span is durable (task spans count no calls, so compare the call spans only).
    acked_calls = sum(
        1 for i in done for s in spans[i : i + 25] if (s.attributes or {}).get(semconv.GEN_AI_OPERATION_NAME)
    )
    assert ledgered_calls >= acked_calls > 0
    assert acked <= len(spans)
    log = (tmp_path / "c.log").read_text()
    assert '"msg":"stopped"' in log


class _Sink(http.server.BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self) -> None:
        n = int(self.headers["Content-Length"])
        _Sink.bodies.append(self.rfile.read(n))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def sink() -> Iterator[str]:
    _Sink.bodies = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _GrpcSink:
    """A real gRPC server answering OTLP ``TraceService/Export`` with an empty response; keeps bodies
    and the metadata they came with."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.metadata: list[dict[str, str]] = []
        self.fail_first = 0  # answer UNAVAILABLE this many times first (the forwarder must retry)

        def export(body: bytes, context: grpc.ServicerContext) -> bytes:
            if self.fail_first > 0:
                self.fail_first -= 1
                context.abort(grpc.StatusCode.UNAVAILABLE, "try again")
            self.metadata.append(dict(context.invocation_metadata()))  # type: ignore[arg-type]
            self.bodies.append(body)
            return b""

        handler = grpc.method_handlers_generic_handler(
            "opentelemetry.proto.collector.trace.v1.TraceService",
            {"Export": grpc.unary_unary_rpc_method_handler(export)},
        )
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), handlers=[handler])
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()


@pytest.fixture
def grpc_sink() -> Iterator[_GrpcSink]:
    s = _GrpcSink()
    yield s
    s.server.stop(0)


def _forwarded_costs(bodies: list[bytes]) -> list[float]:
    costs = []
    for body in bodies:
        req = ExportTraceServiceRequest.FromString(body)
        for rs in req.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    attrs = {kv.key: kv.value for kv in span.attributes}
                    costs.append(attrs[semconv.COST_USD].double_value)
                    assert attrs[semconv.COST_SOURCE].string_value == "list"
    return costs


def test_forwarded_spans_carry_their_cost_over_grpc(tmp_path: Path, grpc_sink: _GrpcSink) -> None:
    grpc_sink.fail_first = 1
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"forward: grpc://127.0.0.1:{grpc_sink.port}\nforward-headers: {{X-Scope-OrgID: finops}}\n")
    c = Collector(f"sqlite:///{tmp_path}/l.db", "--config", str(cfg), log_path=tmp_path / "c.log").start()
    try:
        spans, truth = generate(5, 2, seed=9)
        export_all(HttpExporter(endpoint=c.http_endpoint), spans)
        deadline = time.monotonic() + 15
        while len(_forwarded_costs(grpc_sink.bodies)) < truth.calls and time.monotonic() < deadline:
            time.sleep(0.05)
        costs = _forwarded_costs(grpc_sink.bodies)
        assert len(costs) == truth.calls  # the refused first attempt was retried, nothing sent twice
        assert sum(costs) == pytest.approx(float(truth.cost), rel=1e-9)
        assert grpc_sink.fail_first == 0
        assert all(m.get("x-scope-orgid") == "finops" for m in grpc_sink.metadata)
        assert sample_values(c.scrape_text(), "llm_otel_processor_forward_dropped_spans_total") == [({}, 0.0)]
    finally:
        c.stop()


def test_a_forward_url_with_an_unknown_scheme_is_refused_with_the_schemes_it_takes() -> None:
    from llm_otel.processor.forward import sender_for

    with pytest.raises(ValueError, match=r"grpc\(s\)://HOST:PORT"):
        sender_for("tcp://tempo:4317")
    with pytest.raises(ValueError, match="HOST:PORT"):
        sender_for("grpc://tempo:4317/v1/traces")


def test_forwarded_spans_carry_their_cost(tmp_path: Path, sink: str) -> None:
    c = Collector(f"sqlite:///{tmp_path}/l.db", "--forward", sink, log_path=tmp_path / "c.log").start()
    try:
        spans, truth = generate(5, 2, seed=9)
        export_all(HttpExporter(endpoint=c.http_endpoint), spans)
        deadline = time.monotonic() + 10
        while sum(len(b) for b in _Sink.bodies) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        costs = _forwarded_costs(_Sink.bodies)
        assert len(costs) == truth.calls
        assert sum(costs) == pytest.approx(float(truth.cost), rel=1e-9)
    finally:
        c.stop()


def test_metrics_expose_budgets_from_the_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("budgets:\n  - {team: secops, task_type: policy-review, usd: 500}\n")
    c = Collector(f"sqlite:///{tmp_path}/l.db", "--config", str(cfg), log_path=tmp_path / "c.log").start()
    try:
        budgets = sample_values(c.scrape_text(), "llm_budget_usd")
        assert budgets == [({"team": "secops", "task_type": "policy-review"}, 500.0)]
        assert "# EOF" in c.scrape_text()  # OpenMetrics when asked for it
        assert "# EOF" not in c.scrape_text(openmetrics=False)  # classic text format otherwise
    finally:
        c.stop()


def test_flags_override_the_config_file_which_overrides_defaults(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("otlp-http: 127.0.0.1:5000\nledger: sqlite:///a.db\ngrace_period_s: 3\n")
    cfg = load_config(f, {"ledger": "sqlite:///b.db", "otlp_grpc": None})
    assert (cfg.otlp_http, cfg.ledger, cfg.grace_period_s, cfg.otlp_grpc) == (
        "127.0.0.1:5000", "sqlite:///b.db", 3.0, "127.0.0.1:4317",
    )  # fmt: skip


def test_defaults_bind_loopback_only() -> None:
    cfg = load_config(None)
    assert all(a.startswith("127.0.0.1:") for a in (cfg.otlp_grpc, cfg.otlp_http, cfg.metrics))  # type: ignore[union-attr]


def test_an_unknown_config_key_names_the_known_ones(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("ledgr: sqlite:///x.db\n")
    with pytest.raises(ConfigError, match=r"unknown setting .ledgr.*ledger"):
        load_config(f)


def test_logs_are_json_lines_without_prompt_content(tmp_path: Path) -> None:
    c = Collector(f"sqlite:///{tmp_path}/l.db", log_path=tmp_path / "c.log").start()
    try:
        spans, _ = generate(3, 2, seed=4)
        export_all(HttpExporter(endpoint=c.http_endpoint), spans)
    finally:
        c.terminate()
    lines = (tmp_path / "c.log").read_text().splitlines()
    assert lines and all(json.loads(line)["level"] for line in lines)
    assert "gen_ai.input.messages" not in "".join(lines)


def test_the_prometheus_config_is_valid_for_promtool() -> None:
    import shutil
    import subprocess

    root = Path(__file__).resolve().parents[2]
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: apt-get install prometheus (.ci/run does)"
    out = subprocess.run([promtool, "check", "config", str(root / "collector" / "prometheus.yml")], capture_output=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_gateway_routes_genai_spans_by_task_id_without_sampling() -> None:
    import yaml

    root = Path(__file__).resolve().parents[2]
    cfg = yaml.safe_load((root / "collector" / "otelcol-gateway.yaml").read_text())
    lb = cfg["exporters"]["load_balancing/llm-otel"]
    assert lb["routing_key"] == "attributes" and lb["routing_attributes"] == [semconv.TASK_ID]
    genai = cfg["service"]["pipelines"]["traces/genai"]
    assert genai["exporters"] == ["load_balancing/llm-otel"]
    assert not any("sampl" in p for p in genai["processors"])
    assert "filter/genai" in genai["processors"]
    assert cfg["service"]["pipelines"]["traces"]["exporters"] == ["otlp/traces"]  # the normal pipeline is untouched
