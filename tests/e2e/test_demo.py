"""The demo as a new user runs it, and every dashboard query against a real Prometheus fed by it."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from grafana.queries import ROOT, BoardQuery, prometheus_queries, run_query, variable_queries

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_demo_finishes_and_its_totals_equal_the_ledger_and_the_metrics() -> None:
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "llm_otel.cli", "demo"], capture_output=True, text=True,
                         timeout=180, env=ENV)
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    assert re.search(r"Ledger total \$[\d.,]+ and /metrics sum\(llm_cost_usd_total\) \$[\d.,]+: equal", text), text
    # What the fleet is built to show: a 30x runaway, a retry loop, and caching paying off.
    assert re.search(r"sql-agent\s+\w+\s+\$[\d.]+\s+runaway", text), text
    assert "retry_loop" in text
    cached = re.search(r"doc-qa\s+cached\s+\d+ tasks\s+\$([\d.]+) per task", text)
    uncached = re.search(r"doc-qa\s+uncached\s+\d+ tasks\s+\$([\d.]+) per task", text)
    assert cached and uncached and float(cached.group(1)) < float(uncached.group(1))
    assert time.monotonic() - started < 120


@pytest.fixture(scope="module")
def live_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`llm-otel demo --serve` scraped every second by a real Prometheus with the llm-otel rules loaded."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus not found: install the Debian package `prometheus` (.ci/run does)")
    tmp: Path = tmp_path_factory.mktemp("live")
    metrics_port, prom_port = free_port(), free_port()
    demo = subprocess.Popen(
        [sys.executable, "-m", "llm_otel.cli", "demo", "--serve", "--metrics", f"127.0.0.1:{metrics_port}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV,
    )
    # The shipped rules, evaluated every second instead of every minute so a short test sees them.
    rules = tmp / "rules"
    rules.mkdir()
    for f in (ROOT / "collector" / "rules").glob("*.rules.yaml"):
        (rules / f.name).write_text(re.sub(r"interval: \d+m", "interval: 1s", f.read_text()))
    config = tmp / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files:\n  - {rules}/*.rules.yaml\n"
        "scrape_configs:\n  - job_name: llm-otel\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{metrics_port}']}}]\n"
    )
    prom = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'data'}",
         f"--web.listen-address=127.0.0.1:{prom_port}", "--enable-feature=exemplar-storage"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{prom_port}"
    try:
        assert demo.stdout is not None
        deadline = time.monotonic() + 150
        for line in demo.stdout:
            if "Serving /metrics" in line:
                break
            assert time.monotonic() < deadline, "the demo did not reach --serve"
        else:
            pytest.fail(f"the demo exited with {demo.wait()} before serving")
        time.sleep(12)  # a dozen scrapes and rule evaluations
        with urllib.request.urlopen(f"{url}/api/v1/targets", timeout=5) as r:
            assert b'"health":"up"' in r.read()
        yield url
    finally:
        children = _children(demo.pid)  # the demo's processor (and nothing else it leaves behind)
        prom.terminate()
        demo.terminate()
        prom.wait(timeout=20)
        demo.wait(timeout=30)
        _assert_exited(children)


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _assert_exited(pids: list[int], timeout: float = 20.0) -> None:
    """SIGTERM to the demo must stop its processor too, not leave it running orphaned."""
    deadline = time.monotonic() + timeout
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [p for p in alive if Path(f"/proc/{p}").exists() and "(Z)" not in _state(p)]
    for p in alive:
        os.kill(p, 9)
    assert not alive, f"processes the demo started outlived it: {alive}"


def _state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return f"({stat.rsplit(')', 1)[1].split()[0]})"
    except OSError:
        return "(Z)"


# Series that the demo does not produce on purpose: a healthy processor rejects nothing and has no
# label overflow; these queries must parse and are checked for data in tests/processor instead.
NO_DATA_BY_DESIGN = ("spans_rejected", "label_overflow", "forward_dropped")


def expected_to_have_data(q: BoardQuery) -> bool:
    return q.needs_history is None and not any(name in q.expr for name in NO_DATA_BY_DESIGN)


@pytest.mark.timeout(400)
def test_every_dashboard_query_parses_and_returns_data_from_the_demo(live_prometheus: str) -> None:
    queries = prometheus_queries() + variable_queries()
    assert len(queries) > 50
    empty = []
    for q in queries:
        result = run_query(live_prometheus, q, step="5s")  # raises when Prometheus cannot parse it
        if not result and expected_to_have_data(q):
            empty.append(str(q))
    assert not empty, "queries without data:\n" + "\n".join(empty)
