"""The running processor: ledger, pricing, pipeline, receivers and /metrics wired together.

``Processor.start`` listens on the configured addresses (port 0 picks a free one; the
bound ports are in ``Processor.ports``); ``Processor.stop`` drains: stop accepting, let
in-flight Exports finish (their rows are written and answered), flush the writer, stop
the forwarder, close the ledger. ``run`` does that for ``llm-otel collector`` with SIGTERM
and SIGINT handled.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import signal
import ssl
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import grpc
from prometheus_client.registry import Collector

from llm_otel.processor.analysis.anomalies import AnomalyConfig
from llm_otel.processor.config import ProcessorConfig, parse_address
from llm_otel.processor.forward import Forwarder
from llm_otel.processor.http11 import HttpServer, Request, Response
from llm_otel.processor.ledger import open_ledger
from llm_otel.processor.metrics import ProcessorMetrics
from llm_otel.processor.pipeline import Pipeline
from llm_otel.processor.quotas import QUOTAS_PATH, QuotaBoard
from llm_otel.processor.receiver_grpc import OtlpGrpcService, grpc_options
from llm_otel.processor.receiver_http import OtlpHttpHandler
from llm_otel.processor.record import CallRecord
from llm_otel.processor.rollup import Rollup

log = logging.getLogger("llm_otel.processor")

# More metrics for the registry, built from the ledger and config (None: nothing to add). The
# processor imports no other wing; the CLI passes the FinOps wing's commitment gauges here.
MetricsPlugin = Callable[[Any, ProcessorConfig], Collector | None]

_STD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's ``extra`` fields.

    Only counts, ids, reasons and error types are ever passed as extras: no span attribute
    values, so no prompt or completion text reaches the logs.
    """

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for k, v in record.__dict__.items():
            if k not in _STD_ATTRS:
                out[k] = v if isinstance(v, (int, float, bool, type(None))) else str(v)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, separators=(",", ":"))


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("llm_otel")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def make_pricer(pricebook: str | None) -> Any:
    """The price function of the pipeline: one ``Pricer`` (with its rate cache) for the whole process."""
    from llm_otel.pricing.engine import pricer_for

    book = None
    if pricebook:
        from llm_otel.pricing import load_pricebook

        book = load_pricebook(pricebook)
    pricer = pricer_for(book)

    def price(rec: CallRecord) -> Any:
        return pricer.price(
            rec.usage,
            provider=rec.provider,
            model=rec.response_model or rec.request_model,
            at=rec.start_ns,
            service_tier=rec.service_tier,
            request_model=rec.request_model,
        )

    return price


def _ssl_context(cfg: ProcessorConfig) -> ssl.SSLContext | None:
    if not cfg.tls_cert:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cfg.tls_cert, cfg.tls_key)
    return ctx


class Processor:
    def __init__(self, cfg: ProcessorConfig, *, ledger: Any = None, plugins: Sequence[MetricsPlugin] = ()) -> None:
        self.cfg = cfg
        self.metrics = ProcessorMetrics(max_label_values=cfg.max_label_values, budgets=cfg.budgets)
        self.ledger = (
            ledger
            if ledger is not None
            else open_ledger(cfg.ledger, retention_days=cfg.retention_days, replica=cfg.replica)
        )
        self.metrics.business.resume(self.ledger.totals())
        self.metrics.business.resume_task_costs(self.ledger.task_cost_histogram())
        for plugin in plugins:  # e.g. the FinOps wing's commitment gauges, wired by the CLI
            extra = plugin(self.ledger, cfg)
            if extra is not None:
                self.metrics.registry.register(extra)
        self.rollup = Rollup(
            self.ledger,
            self.metrics,
            grace_period_s=cfg.grace_period_s,
            idle_timeout_s=cfg.idle_timeout_s,
            anomalies=AnomalyConfig(
                runaway_factor=cfg.anomaly_runaway_factor,
                min_samples=cfg.anomaly_min_samples,
                window=cfg.anomaly_window,
                max_retries=cfg.anomaly_max_retries,
                blowup_factor=cfg.anomaly_blowup_factor,
            ),
        )
        reloaded = self.rollup.reload(self.ledger.open_tasks())
        self.forwarder = Forwarder(cfg.forward, self.metrics, cfg.forward_headers) if cfg.forward else None
        self.pipeline = Pipeline(
            self.ledger,
            self.metrics,
            self.rollup,
            price=make_pricer(cfg.pricebook),
            max_queue_spans=cfg.max_queue_spans,
            max_batch_calls=cfg.max_batch_calls,
            tick_s=cfg.tick_s,
            forwarder=self.forwarder,
        )
        # GET /v1/quotas on both the OTLP/HTTP and the metrics address (docs/processor.md#quotas)
        self.quotas = QuotaBoard(self.ledger, cfg.quotas, ttl_s=cfg.quota_ttl_s, auth_token=cfg.auth_token)
        self.ports: dict[str, int] = {}
        self._http: HttpServer | None = None
        self._metrics_http: HttpServer | None = None
        self._grpc: Any = None
        self._stopping = False
        log.info("processor initialized", extra={"ledger": self.ledger.backend, "open_tasks_reloaded": reloaded})

    async def start(self) -> dict[str, int]:
        cfg = self.cfg
        self.pipeline.start()
        tls = _ssl_context(cfg)
        if cfg.otlp_http:
            handler = OtlpHttpHandler(
                self.pipeline,
                self.metrics,
                max_decompressed_bytes=cfg.max_decompressed_bytes,
                auth_token=cfg.auth_token,
                retry_after_s=cfg.retry_after_s,
            )
            self._http = HttpServer(self.quotas.route(handler), max_body=cfg.max_request_bytes, ssl_context=tls)
            self.ports["otlp_http"] = await self._http.start(*parse_address(cfg.otlp_http))
        if cfg.otlp_grpc:
            service = OtlpGrpcService(
                self.pipeline, self.metrics, auth_token=cfg.auth_token, retry_after_s=cfg.retry_after_s
            )
            self._grpc = grpc.aio.server(options=grpc_options(cfg.max_request_bytes))
            self._grpc.add_generic_rpc_handlers((service.handler(),))
            host, port = parse_address(cfg.otlp_grpc)
            target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            if cfg.tls_cert and cfg.tls_key:
                with open(cfg.tls_key, "rb") as k, open(cfg.tls_cert, "rb") as c:
                    creds = grpc.ssl_server_credentials([(k.read(), c.read())])
                self.ports["otlp_grpc"] = self._grpc.add_secure_port(target, creds)
            else:
                self.ports["otlp_grpc"] = self._grpc.add_insecure_port(target)
            await self._grpc.start()
        self._metrics_http = HttpServer(self._serve_metrics, max_body=64 * 1024)
        self.ports["metrics"] = await self._metrics_http.start(*parse_address(cfg.metrics))
        log.info("processor listening", extra={f"{k}_port": v for k, v in self.ports.items()})
        return self.ports

    async def _serve_metrics(self, req: Request) -> Response:
        if req.path == QUOTAS_PATH:
            return await self.quotas.handle(req)
        if req.method != "GET":
            return Response(405, b"use GET\n")
        if req.path == "/metrics":
            body, ctype = self.metrics.exposition(req.headers.get("accept", ""))
            return Response(200, body, ctype)
        if req.path == "/healthz":
            return Response(200, b"ok\n")
        if req.path == "/readyz":
            if self.pipeline.ready and not self._stopping:
                return Response(200, b"ready\n")
            return Response(503, b"not ready: ledger failing or shutting down\n")
        return Response(404, b"not found; try /metrics, /healthz or /readyz\n")

    async def stop(self) -> None:
        """Drain: stop accepting, finish in-flight requests, flush the ledger writer, close everything."""
        if self._stopping:
            return
        self._stopping = True
        t = self.cfg.drain_timeout_s
        log.info("draining")
        waits = []
        if self._grpc is not None:
            waits.append(self._grpc.stop(t))
        if self._http is not None:
            waits.append(self._http.close(t))
        await asyncio.gather(*waits)
        await asyncio.get_running_loop().run_in_executor(None, self.pipeline.close, t)
        self.rollup.save_baselines()  # the writer thread has stopped: the rollup is ours now
        if self.forwarder is not None:
            self.forwarder.close()
        if self._metrics_http is not None:
            await self._metrics_http.close(1.0)
        self.ledger.close()
        log.info("stopped")


async def serve(cfg: ProcessorConfig, plugins: Sequence[MetricsPlugin] = ()) -> int:
    proc = Processor(cfg, plugins=plugins)
    await proc.start()
    # Start-up objects (price data, modules, config, reloaded tasks) live as long as the process:
    # move them out of the cyclic GC's generations so that full collections under load stop
    # traversing them again and again (was ~6% of the processor's CPU under the benchmark).
    gc.collect()
    gc.freeze()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # One line on stdout with the bound ports, for scripts and tests that pass port 0.
    print(json.dumps({"listening": proc.ports}), flush=True)
    await stop.wait()
    await proc.stop()
    return 0


def run(cfg: ProcessorConfig, plugins: Sequence[MetricsPlugin] = ()) -> int:
    setup_logging(cfg.log_level)
    try:
        return asyncio.run(serve(cfg, plugins))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # ledger unreachable, port in use, bad TLS files, bad price book...
        log.error("cannot start", extra={"error": f"{type(exc).__name__}: {exc}"[:500]})
        return 1
