"""``--forward``: priced call spans go on over OTLP with ``llm_otel.cost.*`` added.

Transport by URL scheme: ``http(s)://HOST:PORT[/v1/traces]`` is OTLP/HTTP protobuf;
``grpc://HOST:PORT`` (plaintext) and ``grpcs://HOST:PORT`` (TLS, system roots) are OTLP/gRPC
``TraceService/Export``. Headers (``forward-headers``) go as HTTP headers or gRPC metadata.

For Tempo or another collector. Forwarding never slows down or fails an Export: requests
are built on the writer thread after the ledger commit and sent from a background thread
with a bounded queue; when the queue is full or the endpoint keeps failing, spans are
dropped and counted (``llm_otel_processor_forward_dropped_spans_total``). The ledger, not
the forward stream, is the record.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from llm_otel import semconv
from llm_otel.processor.metrics import ProcessorMetrics

log = logging.getLogger("llm_otel.processor.forward")

MAX_QUEUED_REQUESTS = 256
ATTEMPTS = 3
SEND_TIMEOUT_S = 10.0
EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
_RETRY_HTTP = (429, 502, 503, 504)  # OTLP/HTTP: retryable; anything else is final
_GRPC_RETRY = frozenset(
    ("CANCELLED", "DEADLINE_EXCEEDED", "ABORTED", "OUT_OF_RANGE", "UNAVAILABLE", "DATA_LOSS", "RESOURCE_EXHAUSTED")
)  # the OTLP specification's retryable gRPC codes


def cost_attributes(cost: Any) -> list[KeyValue]:
    """The ``llm_otel.cost.*`` attributes of one priced call."""
    out = [KeyValue(key=semconv.COST_SOURCE)]
    out[0].value.string_value = cost.source
    if cost.source != "unpriced":
        for key, amount in (
            (semconv.COST_USD, cost.total),
            (semconv.COST_LIST_USD, cost.list_total),
            (semconv.COST_CACHE_SAVINGS_USD, cost.cache_savings),
        ):
            kv = KeyValue(key=key)
            kv.value.double_value = float(amount)
            out.append(kv)
    return out


def build_request(origins: Sequence[tuple[Any, Any, Any]], priced: Sequence[Any]) -> ExportTraceServiceRequest:
    """One Export request holding copies of the call spans, grouped by resource and scope, costs added."""
    req = ExportTraceServiceRequest()
    groups: dict[tuple[int, int], Any] = {}
    resources: dict[int, Any] = {}
    for (resource, scope, span), pc in zip(origins, priced, strict=True):
        rkey = id(resource)
        rs = resources.get(rkey)
        if rs is None:
            rs = resources[rkey] = req.resource_spans.add()
            rs.resource.CopyFrom(resource)
        skey = (rkey, id(scope))
        ss = groups.get(skey)
        if ss is None:
            ss = groups[skey] = rs.scope_spans.add()
            ss.scope.CopyFrom(scope)
        out = ss.spans.add()
        out.CopyFrom(span)
        out.attributes.extend(cost_attributes(pc.cost))
    return req


class _HttpSender:
    """OTLP/HTTP protobuf POST; returns (done, retry): done on 2xx, retry only where OTLP allows it."""

    def __init__(self, url: str, headers: Mapping[str, str]) -> None:
        self.url = url if url.rstrip("/").endswith("/v1/traces") else url.rstrip("/") + "/v1/traces"
        self.headers = {"Content-Type": "application/x-protobuf", **headers}

    def send(self, body: bytes) -> tuple[bool, bool]:
        try:
            req = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")
            with urllib.request.urlopen(req, timeout=SEND_TIMEOUT_S) as resp:
                return 200 <= resp.status < 300, True
        except urllib.error.HTTPError as exc:
            if exc.code not in _RETRY_HTTP:
                log.warning("forward endpoint refused spans", extra={"status": exc.code})
                return False, False
            return False, True

    def close(self) -> None:
        return None


class _GrpcSender:
    """OTLP/gRPC ``TraceService/Export`` with the body as serialized (no re-encoding)."""

    def __init__(self, url: str, headers: Mapping[str, str]) -> None:
        import grpc

        scheme, _, target = url.partition("://")
        target = target.rstrip("/")
        if not target or "/" in target:
            raise ValueError(f"--forward {url!r}: expected {scheme}://HOST:PORT")
        options = [("grpc.max_send_message_length", 64 << 20)]
        if scheme == "grpcs":
            self._channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(), options=options)
        else:
            self._channel = grpc.insecure_channel(target, options=options)
        self._export = self._channel.unary_unary(EXPORT_METHOD)
        self._metadata = tuple((k.lower(), v) for k, v in headers.items())
        self._error = grpc.RpcError

    def send(self, body: bytes) -> tuple[bool, bool]:
        try:
            self._export(body, timeout=SEND_TIMEOUT_S, metadata=self._metadata)
            return True, True
        except self._error as exc:
            code = exc.code().name if hasattr(exc, "code") else "UNKNOWN"
            if code not in _GRPC_RETRY:
                log.warning("forward endpoint refused spans", extra={"status": code})
                return False, False
            log.warning("forward failed", extra={"error": code})
            return False, True

    def close(self) -> None:
        self._channel.close()


def sender_for(url: str, headers: Mapping[str, str] | None = None) -> _HttpSender | _GrpcSender:
    """The transport ``url``'s scheme names (see the module docstring); ValueError for any other."""
    if url.startswith(("http://", "https://")):
        return _HttpSender(url, headers or {})
    if url.startswith(("grpc://", "grpcs://")):
        return _GrpcSender(url, headers or {})
    raise ValueError(
        f"--forward {url!r}: expected an OTLP endpoint: http(s)://HOST:PORT[/v1/traces] (OTLP/HTTP) "
        "or grpc(s)://HOST:PORT (OTLP/gRPC)"
    )


class Forwarder:
    def __init__(self, url: str, metrics: ProcessorMetrics, headers: Mapping[str, str] | None = None) -> None:
        self._sender = sender_for(url, headers)
        self.metrics = metrics
        self._queue: queue.Queue[tuple[bytes, int] | None] = queue.Queue(MAX_QUEUED_REQUESTS)
        self._thread = threading.Thread(target=self._run, name="llm-otel-forward", daemon=True)
        self._thread.start()

    def enqueue(self, origins: Sequence[tuple[Any, Any, Any]], priced: Sequence[Any]) -> None:
        """Called by the writer thread after a commit. Never raises, never blocks."""
        if not origins:
            return
        try:
            body = build_request(origins, priced).SerializeToString()
            self._queue.put_nowait((body, len(origins)))
        except queue.Full:
            self.metrics.forward_dropped.inc(len(origins))
        except Exception:
            log.exception("building the forward request failed")
            self.metrics.forward_dropped.inc(len(origins))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            body, n = item
            if not self._send(body):
                self.metrics.forward_dropped.inc(n)

    def _send(self, body: bytes) -> bool:
        for attempt in range(ATTEMPTS):
            try:
                done, retry = self._sender.send(body)
            except Exception as exc:
                log.warning("forward failed", extra={"error": type(exc).__name__, "attempt": attempt + 1})
                done, retry = False, True
            if done:
                return True
            if not retry:
                return False
            time.sleep(0.5 * 2**attempt)
        return False

    def close(self, timeout: float = 10.0) -> None:
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)
        try:
            self._sender.close()
        except Exception:
            log.debug("closing the forward channel failed", exc_info=True)
