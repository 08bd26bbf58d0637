"""Every board query is accepted by a real Prometheus (the Debian package), with the llm-otel rules loaded.

The Prometheus here scrapes nothing, so results are empty: this pins the query helper and the parse,
not the data. The end-to-end test feeds a Prometheus from the demo and expects data.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .queries import ROOT, prometheus_queries, run_query, variable_queries


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus not found: install the Debian package `prometheus` (apt-get install prometheus)")
    workdir: Path = tmp_path_factory.mktemp("prometheus")
    config = workdir / "prometheus.yml"
    rules = ROOT / "collector" / "rules"
    config.write_text(f"global:\n  evaluation_interval: 1m\nrule_files:\n  - {rules}/*.rules.yaml\n")
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                _, err = proc.communicate(timeout=5) if proc.poll() is not None else (None, b"timeout")
                pytest.fail(f"prometheus did not become ready: {err.decode(errors='replace')[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_prometheus_loads_the_rule_files(prometheus_url: str) -> None:
    with urllib.request.urlopen(f"{prometheus_url}/api/v1/rules", timeout=10) as response:
        groups = json.loads(response.read())["data"]["groups"]
    names = {g["name"] for g in groups}
    assert names >= {"llm-otel-rates", "llm-otel-baselines", "llm-otel-alerts", "llm-otel-forecast"}


def test_prometheus_accepts_every_board_query(prometheus_url: str) -> None:
    failures = []
    queries = prometheus_queries() + variable_queries()
    for query in queries:
        try:
            run_query(prometheus_url, query)
        except RuntimeError as exc:
            failures.append(str(exc))
    assert not failures, "\n".join(failures)
    assert len(queries) > 60
