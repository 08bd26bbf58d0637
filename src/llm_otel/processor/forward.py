"""``--forward``: priced call spans go on over OTLP/HTTP (protobuf) with ``llm_otel.cost.*`` added.

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


class Forwarder:
    def __init__(self, url: str, metrics: ProcessorMetrics, headers: Mapping[str, str] | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"--forward {url!r}: expected an OTLP/HTTP endpoint, http(s)://HOST:PORT[/v1/traces]")
        self.url = url if url.rstrip("/").endswith("/v1/traces") else url.rstrip("/") + "/v1/traces"
        self.headers = {"Content-Type": "application/x-protobuf", **(headers or {})}
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
                req = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")
                with urllib.request.urlopen(req, timeout=10) as resp:
                    if 200 <= resp.status < 300:
                        return True
            except urllib.error.HTTPError as exc:
                if exc.code not in (429, 502, 503, 504):
                    log.warning("forward endpoint refused spans", extra={"status": exc.code})
                    return False
            except Exception as exc:
                log.warning("forward failed", extra={"error": type(exc).__name__, "attempt": attempt + 1})
            time.sleep(0.5 * 2**attempt)
        return False

    def close(self, timeout: float = 10.0) -> None:
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)
