"""Receiver behaviour that needs control over the processor: backpressure, auth, TLS, drain, readiness."""

from __future__ import annotations

import http.client
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from inprocess import Running
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from spans_pb import call_span, request

from llm_otel.processor.config import ProcessorConfig
from llm_otel.processor.ledger import open_ledger

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


class StalledLedger:
    """A real SQLite ledger whose writes wait until ``release`` is set: a database that is slow to commit."""

    def __init__(self, url: str) -> None:
        self.inner = open_ledger(url)
        self.release = threading.Event()
        self.backend = "sqlite"

    def record_calls(self, calls: Any) -> Any:
        self.release.wait(30)
        return self.inner.record_calls(calls)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def grpc_export(port: int, req: ExportTraceServiceRequest, **kw: Any) -> ExportTraceServiceResponse:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        call = ch.unary_unary(EXPORT, request_serializer=lambda m: m.SerializeToString(),
                              response_deserializer=ExportTraceServiceResponse.FromString)  # fmt: skip
        return call(req, timeout=30, **kw)


def http_post(port: int, body: bytes, **headers: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf", **headers})
    r = conn.getresponse()
    out = r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    conn.close()
    return out


@pytest.fixture
def stalled(tmp_path: Path) -> Iterator[tuple[Running, StalledLedger]]:
    ledger = StalledLedger(f"sqlite:///{tmp_path}/l.db")
    run = Running(ProcessorConfig(ledger="unused", max_queue_spans=1, retry_after_s=3), ledger=ledger)
    yield run, ledger
    ledger.release.set()
    run.stop()


def _fill_queue(run: Running) -> threading.Thread:
    t = threading.Thread(target=http_post, args=(run.ports["otlp_http"], request(call_span()).SerializeToString()))
    t.start()
    deadline = time.monotonic() + 5
    while run.proc.pipeline._depth == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    return t


def test_grpc_backpressure_is_resource_exhausted_with_retry_delay_in_both_trailers(
    stalled: tuple[Running, StalledLedger],
) -> None:
    run, ledger = stalled
    first = _fill_queue(run)
    with pytest.raises(grpc.RpcError) as err:
        grpc_export(run.ports["otlp_grpc"], request(call_span(), call_span()))
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    trailers = dict(err.value.trailing_metadata())
    info = error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
    assert info.retry_delay.seconds == 3
    status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    detail = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(detail) and detail.retry_delay.seconds == 3
    ledger.release.set()
    first.join(10)


def test_http_backpressure_is_429_with_retry_after(stalled: tuple[Running, StalledLedger]) -> None:
    run, ledger = stalled
    first = _fill_queue(run)
    status, headers, _ = http_post(run.ports["otlp_http"], request(call_span(), call_span()).SerializeToString())
    assert status == 429
    assert headers["retry-after"] == "3"
    ledger.release.set()
    first.join(10)


def test_success_is_answered_only_after_the_rows_are_durable(stalled: tuple[Running, StalledLedger]) -> None:
    run, ledger = stalled
    answered = threading.Event()
    span = call_span()

    def send() -> None:
        http_post(run.ports["otlp_http"], request(span).SerializeToString())
        answered.set()

    threading.Thread(target=send).start()
    assert not answered.wait(0.5)  # the ledger has not committed: no answer yet
    ledger.release.set()
    assert answered.wait(10)
    assert sum(ledger.inner.totals()["llm_calls"].values()) == 1


class FailingLedger(StalledLedger):
    def record_calls(self, calls: Any) -> Any:
        raise RuntimeError("disk full")


def test_a_failing_ledger_answers_503_and_unavailable_and_readyz_turns_503(tmp_path: Path) -> None:
    ledger = FailingLedger(f"sqlite:///{tmp_path}/l.db")
    run = Running(ProcessorConfig(ledger="unused"), ledger=ledger)
    try:
        status, headers, _ = http_post(run.ports["otlp_http"], request(call_span()).SerializeToString())
        assert status == 503 and "retry-after" in headers
        with pytest.raises(grpc.RpcError) as err:
            grpc_export(run.ports["otlp_grpc"], request(call_span()))
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "google.rpc.retryinfo-bin" in dict(err.value.trailing_metadata())
        conn = http.client.HTTPConnection("127.0.0.1", run.ports["metrics"], timeout=5)
        conn.request("GET", "/readyz")
        assert conn.getresponse().status == 503
    finally:
        run.stop()


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[Running, Path]]:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    cfg = ProcessorConfig(
        ledger=f"sqlite:///{tmp_path}/l.db", auth_token="s3cret", tls_cert=str(cert), tls_key=str(key)
    )
    run = Running(cfg)
    yield run, cert
    run.stop()


def test_https_with_the_bearer_token_is_accepted_and_without_it_is_401(secured: tuple[Running, Path]) -> None:
    run, cert = secured
    ctx = ssl.create_default_context(cafile=str(cert))
    body = request(call_span()).SerializeToString()
    for token, expected in ((None, 401), ("wrong", 401), ("s3cret", 200)):
        conn = http.client.HTTPSConnection("127.0.0.1", run.ports["otlp_http"], context=ctx, timeout=10)
        headers = {"Content-Type": "application/x-protobuf"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request("POST", "/v1/traces", body=body, headers=headers)
        assert conn.getresponse().status == expected, token
        conn.close()


def test_grpc_over_tls_requires_the_bearer_token(secured: tuple[Running, Path]) -> None:
    run, cert = secured
    creds = grpc.ssl_channel_credentials(cert.read_bytes())
    with grpc.secure_channel(f"localhost:{run.ports['otlp_grpc']}", creds) as ch:
        call = ch.unary_unary(EXPORT, request_serializer=lambda m: m.SerializeToString(),
                              response_deserializer=ExportTraceServiceResponse.FromString)  # fmt: skip
        with pytest.raises(grpc.RpcError) as err:
            call(request(call_span()), timeout=10)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        call(request(call_span()), timeout=10, metadata=(("authorization", "Bearer s3cret"),))


def test_the_grpc_receiver_takes_messages_up_to_64_mib(tmp_path: Path) -> None:
    run = Running(ProcessorConfig(ledger=f"sqlite:///{tmp_path}/l.db"))
    try:
        span = call_span()
        span.attributes.add(key="padding").value.string_value = "x" * (8 * 1024 * 1024)  # an 8 MiB message
        resp = grpc_export(run.ports["otlp_grpc"], request(span))
        assert resp.partial_success.rejected_spans == 0
    finally:
        run.stop()


def test_grpc_answers_invalid_argument_to_a_body_that_is_not_otlp_and_keeps_good_spans_of_a_mixed_one(
    tmp_path: Path,
) -> None:
    run = Running(ProcessorConfig(ledger=f"sqlite:///{tmp_path}/l.db"))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{run.ports['otlp_grpc']}") as ch:
            raw = ch.unary_unary(EXPORT)
            with pytest.raises(grpc.RpcError) as err:
                raw(b"\xff\xff\xff\xff garbage", timeout=10)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        short_id = call_span(trace_id=b"\x01" * 8)  # 8-byte trace id: must be 16
        resp = grpc_export(run.ports["otlp_grpc"], request(short_id, call_span()))
        assert resp.partial_success.rejected_spans == 1
        assert "trace id" in resp.partial_success.error_message
        assert run.proc.metrics.business.value("llm_calls") == 1
    finally:
        run.stop()
