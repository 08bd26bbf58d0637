"""GET /v1/quotas: quota config, month-to-date use from a real ledger, auth, replicas agreeing."""

from __future__ import annotations

import calendar
import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from llm_otel import semconv
from llm_otel.processor.config import ConfigError, Quota, build_config
from llm_otel.processor.quotas import month_bounds
from processor.collector_proc import Collector
from processor.spans_pb import call_span, request

TOKEN = "s3cret-quota-token"
QUOTAS = [
    {"team": "secops", "tokens": 2000, "mode": "hard"},
    {"team": "secops", "task_type": "triage", "usd": 1000, "mode": "soft"},
    {"team": "ml", "usd": 5},
]


def get(port: int, path: str = "/v1/quotas", token: str | None = TOKEN) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        r = conn.getresponse()
        body = r.read()
        return r.status, json.loads(body) if r.getheader("content-type", "").startswith("application/json") else body
    finally:
        conn.close()


def post_spans(c: Collector, *spans: Any) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", c.ports["otlp_http"], timeout=30)
    try:
        body = request(*spans).SerializeToString()
        conn.request(
            "POST",
            "/v1/traces",
            body=body,
            headers={"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {TOKEN}"},
        )
        r = conn.getresponse()
        r.read()
        assert r.status == 200
    finally:
        conn.close()


def by_key(state: dict[str, Any]) -> dict[tuple[str, str | None], dict[str, Any]]:
    return {(q["team"], q["task_type"]): q for q in state["quotas"]}


def wait_for(c: Collector, pred: Any, timeout: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status, state = get(c.ports["metrics"])
        assert status == 200
        if pred(state) or time.monotonic() > deadline:
            return state
        time.sleep(0.1)


@pytest.fixture(scope="module")
def collectors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Collector, Collector]]:
    d: Path = tmp_path_factory.mktemp("quotas")
    cfg = d / "collector.yaml"
    cfg.write_text(yaml.safe_dump({"quotas": QUOTAS, "quota-ttl-s": 0.2, "auth-token": TOKEN, "tick-s": 0.1}))
    ledger = f"sqlite:///{d / 'ledger.db'}"
    a = Collector(ledger, "--config", str(cfg), log_path=d / "a.log").start()
    b = Collector(ledger, "--config", str(cfg), log_path=d / "b.log").start()
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


def test_quota_config_accepts_usd_or_tokens_per_team_and_optional_task_type() -> None:
    cfg = build_config({"quotas": QUOTAS, "quota_ttl_s": "2"})
    assert cfg.quotas == [
        Quota("secops", None, 2000.0, "tokens", "hard"),
        Quota("secops", "triage", 1000.0, "usd", "soft"),
        Quota("ml", None, 5.0, "usd", "hard"),
    ]
    assert cfg.quota_ttl_s == 2.0


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"team": "a", "usd": 1, "tokens": 2}, "exactly one of usd"),
        ({"team": "a"}, "exactly one of usd"),
        ({"usd": 1}, "with team"),
        ({"team": "a", "usd": "ten"}, "quotas[0].usd must be a number"),
        ({"team": "a", "usd": 1, "mode": "strict"}, "mode must be hard or soft"),
        ({"team": "a", "usd": 1, "teams": "b"}, "unknown key(s) teams"),
    ],
)
def test_quota_config_names_the_bad_entry_and_what_to_write(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        build_config({"quotas": [entry]})


def test_quota_period_is_the_utc_calendar_month_and_december_rolls_into_january() -> None:
    at = calendar.timegm((2026, 12, 31, 23, 59, 59))
    period, lo, hi = month_bounds(at)
    assert period == "2026-12"
    assert lo == calendar.timegm((2026, 12, 1, 0, 0, 0)) * 10**9
    assert hi == calendar.timegm((2027, 1, 1, 0, 0, 0)) * 10**9


def test_quotas_endpoint_reports_month_to_date_use_from_the_ledger(collectors: tuple[Collector, Collector]) -> None:
    a, _ = collectors
    triage: dict[str, Any] = {semconv.TASK_TYPE: "triage"}
    post_spans(a, call_span(team="secops", **triage), call_span(team="secops", **triage))  # 2 x 1,100 tokens
    post_spans(a, call_span(team="ml", input_tokens=10, output_tokens=5))
    state = wait_for(a, lambda s: by_key(s)[("secops", None)]["used_tokens"] >= 2200)
    q = by_key(state)
    assert q[("secops", None)] == {
        "team": "secops", "task_type": None, "limit_tokens": 2000, "used_tokens": 2200,
        "mode": "hard", "exceeded": True, "period": state["period"],
    }  # fmt: skip
    assert 0 < q[("secops", "triage")]["used_usd"] < 1000
    assert q[("secops", "triage")]["exceeded"] is False and q[("secops", "triage")]["mode"] == "soft"
    assert 0 < q[("ml", None)]["used_usd"] < 5 and q[("ml", None)]["exceeded"] is False
    assert state["period"] == time.strftime("%Y-%m", time.gmtime())
    assert state["as_of"].endswith("Z")


def test_replicas_sharing_one_ledger_serve_the_same_quota_state(collectors: tuple[Collector, Collector]) -> None:
    a, b = collectors
    post_spans(b, call_span(team="ml", input_tokens=20, output_tokens=5))
    want = by_key(wait_for(b, lambda s: by_key(s)[("secops", None)]["used_tokens"] >= 2200))
    got = by_key(wait_for(a, lambda s: by_key(s)[("ml", None)]["used_usd"] == want[("ml", None)]["used_usd"]))
    assert got == want


@pytest.mark.parametrize("port", ["metrics", "otlp_http"])
def test_quotas_endpoint_requires_the_bearer_token_like_the_otlp_endpoints(
    collectors: tuple[Collector, Collector], port: str
) -> None:
    a, _ = collectors
    assert get(a.ports[port], token=None)[0] == 401
    assert get(a.ports[port], token="wrong")[0] == 401
    status, state = get(a.ports[port])
    assert status == 200 and len(state["quotas"]) == 3


def test_replicas_sharing_a_postgresql_ledger_serve_the_same_exact_quota_state(pg_schemas: Any, tmp_path: Path) -> None:
    cfg = tmp_path / "collector.yaml"
    cfg.write_text(yaml.safe_dump({"quotas": QUOTAS, "quota-ttl-s": 0.1, "auth-token": TOKEN, "tick-s": 0.1}))
    ledger = pg_schemas()
    a = Collector(ledger, "--config", str(cfg), log_path=tmp_path / "a.log").start()
    try:
        b = Collector(ledger, "--config", str(cfg), log_path=tmp_path / "b.log").start()
        try:
            post_spans(a, call_span(team="secops", input_tokens=700, output_tokens=200))
            post_spans(b, call_span(team="secops", input_tokens=300, output_tokens=100))
            post_spans(b, call_span(team="ml", input_tokens=10, output_tokens=5))
            want = by_key(wait_for(a, lambda s: by_key(s)[("secops", None)]["used_tokens"] >= 1300
                                   and by_key(s)[("ml", None)]["used_usd"] > 0))  # fmt: skip
            got = by_key(wait_for(b, lambda s: by_key(s) == want))
            assert got == want
            assert want[("secops", None)]["used_tokens"] == 1300 and want[("secops", None)]["exceeded"] is False
        finally:
            b.stop()
    finally:
        a.stop()
