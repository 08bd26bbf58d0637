"""Several agent processes share one team quota through a real ``llm-otel collector`` and its ledger.

Each worker is a separate Python process: ``instrument()`` from the environment (spans over
OTLP/HTTP to the collector, quota state polled from its /v1/quotas), a real ``openai`` client
against the fake API. Once the ledger shows the quota spent, every worker's next call raises
``QuotaExceeded`` and the fake API receives nothing more.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from openai_helpers import CountingFakeAPI

from processor.collector_proc import Collector

TOKEN = "quota-test-token"
WORKERS = 3
LIMIT_TOKENS = 400  # the fake API bills ~40 tokens per call here: spent after ~10 calls in all

WORKER = textwrap.dedent(
    """
    import json, sys, time, warnings
    import openai
    import llm_otel
    from llm_otel.sdk import quota

    llm_otel.instrument()  # OTEL_* and LLM_OTEL_QUOTA_* from the environment
    client = openai.OpenAI(base_url=sys.argv[1], api_key="test", max_retries=0)

    def call(team):
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                with llm_otel.task("triage", team=team):
                    r = client.chat.completions.create(
                        model="gpt-4o-mini", messages=[{"role": "user", "content": "classify this alert"}])
            soft = [str(w.message) for w in caught if issubclass(w.category, quota.QuotaWarning)]
            return {"ok": True, "tokens": r.usage.total_tokens, "warnings": soft}
        except llm_otel.QuotaExceeded as e:
            return {"ok": False, "error": type(e).__name__, "team": e.team, "unit": e.unit, "used": e.used}

    def wait_spent(team):
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            s = quota.state() or {}
            if any(q["team"] == team and q["exceeded"] for q in s.get("quotas", [])):
                return {"spent": True}
            time.sleep(0.02)
        return {"spent": False, "state": quota.state()}

    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        if cmd == "call":
            out = call(arg)
        elif cmd == "wait_spent":
            out = wait_spent(arg)
        elif cmd == "ready":
            deadline = time.monotonic() + float(arg or 15)
            while quota.state() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            out = {"ready": quota.state() is not None}
        else:
            out = {"error": "unknown command " + cmd}
        print(json.dumps(out), flush=True)
    """
)


class Worker:
    def __init__(self, script: Path, api_url: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(script), f"{api_url}/v1"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )

    def ask(self, command: str) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"worker died on {command!r} (exit {self.proc.poll()})"
        return json.loads(line)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(5)


@dataclass
class Setup:
    collector: Collector
    api: CountingFakeAPI
    workers: list[Worker]
    script: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    d = tmp_path_factory.mktemp("quota_processes")
    cfg = d / "collector.yaml"
    quotas = [
        {"team": "secops", "tokens": LIMIT_TOKENS, "mode": "hard"},
        {"team": "research", "tokens": 1, "mode": "soft"},
    ]
    cfg.write_text(yaml.safe_dump({"quotas": quotas, "quota-ttl-s": 0.1, "auth-token": TOKEN, "tick-s": 0.1}))
    collector = Collector(f"sqlite:///{d / 'ledger.db'}", "--config", str(cfg), log_path=d / "collector.log").start()
    script = d / "worker.py"
    script.write_text(WORKER)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        "OTEL_SERVICE_NAME": "quota-worker",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": collector.http_endpoint,
        "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=Bearer%20{TOKEN}",
        "LLM_OTEL_QUOTA_URL": collector.url("otlp_http"),
        "LLM_OTEL_QUOTA_INTERVAL_S": "0.1",
        "OTEL_BSP_SCHEDULE_DELAY": "50",  # export spans every 50 ms (the test waits for the ledger)
    }
    api = CountingFakeAPI()
    api.start()
    workers = [Worker(script, api.url, env) for _ in range(WORKERS)]
    try:
        yield Setup(collector, api, workers, script, env)
    finally:
        for w in workers:
            w.stop()
        api.stop()
        collector.stop()


def quota_state(c: Collector, team: str) -> dict[str, Any]:
    import urllib.request

    req = urllib.request.Request(f"{c.url('metrics')}/v1/quotas", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return next(q for q in json.loads(r.read())["quotas"] if q["team"] == team)


def test_workers_sharing_one_hard_quota_all_stop_once_the_ledger_shows_it_spent(
    setup: Setup,
) -> None:
    collector, api, workers = setup.collector, setup.api, setup.workers
    assert all(w.ask("ready") == {"ready": True} for w in workers)
    sent = 0
    for _ in range(40):  # rounds: each worker calls once, until the ledger has the quota spent
        for w in workers:
            out = w.ask("call secops")
            if not out["ok"]:
                break
            sent += out["tokens"]
        else:
            deadline = time.monotonic() + 10
            while quota_state(collector, "secops")["used_tokens"] < sent and time.monotonic() < deadline:
                time.sleep(0.05)
            q = quota_state(collector, "secops")
            assert q["used_tokens"] == sent  # every call each process made is in the ledger, once
            if q["exceeded"]:
                break
            continue
        break
    assert sent >= LIMIT_TOKENS
    assert all(w.ask("wait_spent secops") == {"spent": True} for w in workers)
    served = api.served
    for w in workers:
        out = w.ask("call secops")
        assert out["ok"] is False and out["error"] == "QuotaExceeded" and out["team"] == "secops"
        assert out["unit"] == "tokens" and out["used"] >= LIMIT_TOKENS
    assert api.served == served  # no request left any process once the quota was spent
    assert all(w.ask("call ml")["ok"] for w in workers)  # other teams go on
    assert api.served == served + WORKERS


def test_workers_over_a_soft_quota_warn_once_and_keep_calling(
    setup: Setup,
) -> None:
    workers = setup.workers
    assert workers[0].ask("call research")["ok"]
    assert all(w.ask("wait_spent research") == {"spent": True} for w in workers)
    first = [w.ask("call research") for w in workers]
    again = [w.ask("call research") for w in workers]
    assert all(o["ok"] and len(o["warnings"]) == 1 and "soft quota of team 'research'" in o["warnings"][0]
               for o in first)  # fmt: skip
    assert all(o["ok"] and o["warnings"] == [] for o in again)


def test_a_processor_outage_fails_open_and_keeps_the_last_good_state(
    setup: Setup,
) -> None:
    collector, api, workers = setup.collector, setup.api, setup.workers
    assert workers[0].ask("wait_spent secops") == {"spent": True}
    collector.kill9()
    served = api.served
    assert workers[0].ask("call ml")["ok"]  # the outage blocks nothing new
    assert workers[0].ask("call secops")["error"] == "QuotaExceeded"  # what it knew stays known
    late = Worker(setup.script, api.url, setup.env)
    try:
        assert late.ask("ready 1") == {"ready": False}  # never reached the processor...
        assert late.ask("call secops")["ok"]  # ...so it enforces nothing: fail open
    finally:
        late.stop()
    assert api.served == served + 2
