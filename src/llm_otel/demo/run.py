"""`llm-otel demo`: the whole pipeline on this machine, one command, no network.

It starts the fake OpenAI/Anthropic API (in-process), the processor (a child process
with its ledger in a temporary directory and ``/metrics`` served), instruments the real
``openai`` and ``anthropic`` clients with ``llm_otel.instrument()``, runs the simulated
fleet, waits until the processor has ledgered every task, and prints a showback summary.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from llm_otel.demo.fake_api import FakeAPIServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Collector:
    process: subprocess.Popen[bytes]
    http: str
    grpc: str
    metrics: str
    ledger_url: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def collector(workdir: Path, *, metrics_addr: str | None = None, task_grace_s: float = 0.5) -> Iterator[Collector]:
    """Runs ``llm-otel collector`` as a child process until the block exits (SIGTERM: drain and flush)."""
    http = f"127.0.0.1:{free_port()}"
    grpc = f"127.0.0.1:{free_port()}"
    metrics = metrics_addr or f"127.0.0.1:{free_port()}"
    ledger_url = f"sqlite:///{workdir / 'ledger.db'}"
    config = workdir / "collector.yaml"
    config.write_text(
        f"otlp_http: {http}\notlp_grpc: {grpc}\nmetrics: {metrics}\nledger: {ledger_url}\n"
        f"grace_period_s: {task_grace_s}\nidle_timeout_s: 5\ntick_s: 0.1\n"
        # The demo's fleet is small: judge runaways once 8 tasks of a type are in the baseline.
        "anomaly_min_samples: 8\n"
        # Monthly budgets, so the budget panels and burn-rate rules have something to compare with.
        "budgets:\n"
        "  - {team: data, task_type: sql-agent, usd: 50}\n"
        "  - {team: support, task_type: ticket-triage, usd: 20}\n"
        "  - {team: secops, task_type: policy-review, usd: 10}\n"
        "  - {team: research, task_type: doc-qa, usd: 30}\n"
    )
    log = (workdir / "collector.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llm_otel.cli", "collector", "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    c = Collector(proc, http, grpc, metrics, ledger_url)
    try:
        wait_ready(c, workdir / "collector.log")
        yield c
    finally:
        c.stop()
        log.close()


def wait_ready(c: Collector, log_path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if c.process.poll() is not None:
            raise RuntimeError(f"the collector exited early; its log:\n{log_path.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"http://{c.metrics}/readyz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the collector was not ready after {timeout}s; its log:\n{log_path.read_text()[-4000:]}")


def wait_for_tasks(ledger_url: str, expected_tasks: int, timeout: float = 30.0) -> None:
    """Waits until the ledger holds ``expected_tasks`` finalized and analysed tasks."""
    from llm_otel.processor.ledger import open_ledger

    deadline = time.monotonic() + timeout
    with open_ledger(ledger_url) as ledger:
        while time.monotonic() < deadline:
            # The rollup stores context economics (turns) right after finalizing: wait for both.
            done = sum(1 for t in ledger.iter_tasks(finalized=True) if t.turns is not None)
            if done >= expected_tasks:
                return
            time.sleep(0.2)
    raise RuntimeError(f"the processor finalized fewer than {expected_tasks} tasks within {timeout}s")


def copy_ledger(ledger_url: str, dest: str) -> None:
    """A consistent copy of the SQLite ledger (the online backup API: safe while the processor writes)."""
    import sqlite3

    src = sqlite3.connect(ledger_url.removeprefix("sqlite:///"))
    dst = sqlite3.connect(dest)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def _stop_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so the ``collector`` block stops the child processor.

    Python's default SIGTERM action ends the process at once, without running ``finally``
    blocks: the demo's processor would be left running, orphaned, with its temporary ledger.
    (Only the main thread may install a handler; elsewhere the default stays.)
    """
    if threading.current_thread() is not threading.main_thread():
        return

    def _raise(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _raise)


def run_demo(*, duration_s: float = 0.0, serve: bool = False, metrics_addr: str | None = None,
             keep_ledger: str | None = None, out: TextIO = sys.stdout) -> int:
    """Runs the demo; returns the process exit code."""
    os.environ.setdefault("OTEL_SERVICE_NAME", "llm-otel-demo")
    import anthropic
    import openai
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    import llm_otel
    from llm_otel.demo import summary, workload

    started = time.monotonic()
    _stop_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="llm-otel-demo-") as tmp, FakeAPIServer() as api, \
            collector(Path(tmp), metrics_addr=metrics_addr) as coll:
        provider = TracerProvider(resource=Resource.create({"service.name": "llm-otel-demo"}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"http://{coll.http}/v1/traces")))
        llm_otel.instrument(tracer_provider=provider)
        try:
            clients = workload.Clients(
                openai=openai.OpenAI(base_url=f"{api.url}/v1", api_key="demo", max_retries=0),
                anthropic=anthropic.Anthropic(base_url=api.url, api_key="demo", max_retries=0),
            )
            counts: dict[str, int] = {}
            rounds = 0
            while True:
                for kind, n in workload.run(clients, seed=7 + rounds).items():
                    counts[kind] = counts.get(kind, 0) + n
                rounds += 1
                if time.monotonic() - started >= duration_s:
                    break
            provider.force_flush()
        finally:
            llm_otel.uninstrument()
            provider.shutdown()
        wait_for_tasks(coll.ledger_url, sum(counts.values()))
        summary.print_summary(coll.ledger_url, out=out, metrics_url=f"http://{coll.metrics}/metrics")
        if keep_ledger:
            copy_ledger(coll.ledger_url, keep_ledger)
            print(f"\nLedger copied to {keep_ledger}", file=out)
        print(f"\n{sum(counts.values())} tasks in {time.monotonic() - started:.1f}s; "
              f"metrics at http://{coll.metrics}/metrics", file=out)
        if serve:
            print("Serving /metrics until Ctrl-C (point Prometheus at it; see docs/deploy.md).", file=out)
            with contextlib.suppress(KeyboardInterrupt):
                while coll.process.poll() is None:
                    time.sleep(1)
    return 0
