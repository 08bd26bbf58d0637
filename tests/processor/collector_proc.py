"""Running ``llm-otel collector`` as a real subprocess for tests, and reading its /metrics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

LLM_OTEL = str(Path(sys.executable).with_name("llm-otel"))


class Collector:
    """One ``llm-otel collector`` process on free ports (port 0), killed at the end of the test."""

    def __init__(self, ledger: str, *extra: str, log_path: Path | None = None) -> None:
        self.ledger = ledger
        self.extra = extra
        self.log_path = log_path
        self.proc: subprocess.Popen[str] | None = None
        self.ports: dict[str, int] = {}

    def start(self, ports: dict[str, int] | None = None, timeout: float = 20.0) -> Collector:
        p = ports or {}
        args = [
            LLM_OTEL, "collector", "--ledger", self.ledger,
            "--otlp-grpc", f"127.0.0.1:{p.get('otlp_grpc', 0)}",
            "--otlp-http", f"127.0.0.1:{p.get('otlp_http', 0)}",
            "--metrics", f"127.0.0.1:{p.get('metrics', 0)}",
            *self.extra,
        ]  # fmt: skip
        err = open(self.log_path, "a") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, text=True, env=os.environ.copy())
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"collector exited with {self.proc.wait()} before listening (see {self.log_path})")
        self.ports = json.loads(line)["listening"]
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url('metrics')}/readyz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("collector never became ready")

    def url(self, which: str) -> str:
        return f"http://127.0.0.1:{self.ports[which]}"

    @property
    def grpc_endpoint(self) -> str:
        return f"127.0.0.1:{self.ports['otlp_grpc']}"

    @property
    def http_endpoint(self) -> str:
        return f"{self.url('otlp_http')}/v1/traces"

    def scrape(self, openmetrics: bool = True) -> dict[str, float]:
        """Every sample name summed over its series."""
        return sum_samples(self.scrape_text(openmetrics))

    def scrape_text(self, openmetrics: bool = True) -> str:
        req = urllib.request.Request(f"{self.url('metrics')}/metrics")
        if openmetrics:
            req.add_header("Accept", "application/openmetrics-text; version=1.0.0")
        with urllib.request.urlopen(req, timeout=5) as r:
            return str(r.read().decode())

    def terminate(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(5)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def sum_samples(text: str) -> dict[str, float]:
    if text.rstrip().endswith("# EOF"):
        from prometheus_client.openmetrics.parser import text_string_to_metric_families as om

        families = om(text)
    else:
        families = text_string_to_metric_families(text)
    out: dict[str, float] = {}
    for fam in families:
        for s in fam.samples:
            out[s.name] = out.get(s.name, 0.0) + s.value
    return out


def sample_values(text: str, name: str) -> Sequence[tuple[dict[str, str], float]]:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as om

    return [(dict(s.labels), s.value) for fam in om(text) for s in fam.samples if s.name == name]
