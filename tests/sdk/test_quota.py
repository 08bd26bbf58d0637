"""Quota enforcement in one process: a real openai client against the fake API, state from /v1/quotas."""

from __future__ import annotations

import json
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai
import pytest
from openai_helpers import CountingFakeAPI

import llm_otel
from llm_otel import semconv
from llm_otel.errors import BudgetExceeded, QuotaExceeded
from llm_otel.sdk import openai as llm_openai
from llm_otel.sdk import quota
from llm_otel.sdk.context import check_budget

PERIOD = time.strftime("%Y-%m", time.gmtime())


def entry(team: str, *, task_type: str | None = None, mode: str = "hard", exceeded: bool = True, **kw: Any) -> Any:
    unit = "usd" if "usd" in kw else "tokens"
    limit = kw.get(unit, 100)
    return {
        "team": team, "task_type": task_type, f"limit_{unit}": limit,
        f"used_{unit}": limit if exceeded else 0, "mode": mode, "exceeded": exceeded, "period": PERIOD,
    }  # fmt: skip


@pytest.fixture(scope="module")
def api() -> Iterator[CountingFakeAPI]:
    llm_openai.install()
    srv = CountingFakeAPI()
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def client(api: CountingFakeAPI) -> Iterator[openai.OpenAI]:
    quota.clear()
    c = openai.OpenAI(base_url=f"{api.url}/v1", api_key="test", max_retries=0)
    yield c
    c.close()
    quota.configure(None)
    quota.clear()


def chat(client: openai.OpenAI) -> Any:
    return client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])


def test_spent_hard_quota_raises_quota_exceeded_before_the_request_is_sent(
    api: CountingFakeAPI, client: openai.OpenAI
) -> None:
    quota.apply({"quotas": [entry("secops", tokens=5000)]})
    before = api.served
    with llm_otel.task("triage", team="secops"), pytest.raises(QuotaExceeded) as caught:
        chat(client)
    assert api.served == before
    err = caught.value
    assert isinstance(err, BudgetExceeded)  # what the wrappers (and user code) already let through
    assert (err.team, err.task_type, err.unit, err.limit, err.period) == ("secops", None, "tokens", 5000, PERIOD)
    assert "team 'secops' has spent 5,000 of its 5,000 tokens hard quota" in str(err)


def test_other_teams_and_calls_outside_any_task_are_not_blocked(api: CountingFakeAPI, client: openai.OpenAI) -> None:
    quota.apply({"quotas": [entry("secops", usd=10)]})
    before = api.served
    with llm_otel.task("triage", team="ml"):
        chat(client)
    chat(client)
    assert api.served == before + 2


def test_a_task_type_quota_blocks_only_that_task_type(api: CountingFakeAPI, client: openai.OpenAI) -> None:
    quota.apply({"quotas": [entry("secops", task_type="triage", usd=10), entry("secops", usd=99, exceeded=False)]})
    with llm_otel.task("review", team="secops"):
        chat(client)
    with llm_otel.task("triage", team="secops"), pytest.raises(QuotaExceeded, match="task type 'triage'"):
        chat(client)


def test_an_enclosing_tasks_team_quota_blocks_calls_in_nested_tasks(client: openai.OpenAI) -> None:
    quota.apply({"quotas": [entry("secops", usd=10)]})
    with llm_otel.task("triage", team="secops"), llm_otel.task("subtask"), pytest.raises(QuotaExceeded):
        chat(client)


def test_spent_soft_quota_warns_once_per_period_and_adds_a_span_event_per_call(
    api: CountingFakeAPI, client: openai.OpenAI, spans: Any
) -> None:
    quota.apply({"quotas": [entry("research", mode="soft", usd=25)]})
    before = api.served
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with llm_otel.task("explore", team="research"):
            chat(client)
            chat(client)
    assert api.served == before + 2
    assert [str(w.message) for w in caught if issubclass(w.category, quota.QuotaWarning)] == [
        f"llm-otel: the soft quota of team 'research' for {PERIOD} is spent ($25.00 of $25.00); "
        "calls go on (a hard quota would refuse them)"
    ]
    task_span = next(s for s in spans.get_finished_spans() if s.name == f"{semconv.TASK_SPAN_NAME_PREFIX} explore")
    events = [e for e in task_span.events if e.name == quota.EVENT_NAME]
    assert len(events) == 2
    assert events[0].attributes["llm_otel.quota.mode"] == "soft"
    assert events[0].attributes["llm_otel.quota.limit"] == 25


class QuotaEndpoint(ThreadingHTTPServer):
    """A stand-in /v1/quotas (the processor's is tested in tests/processor/test_quotas.py)."""

    daemon_threads = True

    def __init__(self, state: dict[str, Any], token: str) -> None:
        self.state, self.token, self.fail = state, token, False
        self.auth_seen: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                outer.auth_seen.append(self.headers.get("authorization", ""))
                ok = self.headers.get("authorization") == f"Bearer {outer.token}" and not outer.fail
                body = json.dumps(outer.state).encode() if ok else b"{}"
                self.send_response(200 if ok else 401)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def wait(pred: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_instrument_starts_a_background_refresher_from_the_environment(
    api: CountingFakeAPI, client: openai.OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = QuotaEndpoint({"quotas": [entry("secops", usd=1)], "as_of": "now"}, token="tok")
    try:
        monkeypatch.setenv("LLM_OTEL_QUOTA_URL", endpoint.url)
        monkeypatch.setenv("LLM_OTEL_QUOTA_INTERVAL_S", "0.05")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-other=1,Authorization=Bearer%20tok")
        llm_otel.instrument(providers=())
        try:
            assert wait(lambda: quota.state() is not None)
            with llm_otel.task("triage", team="secops"), pytest.raises(QuotaExceeded):
                chat(client)
            endpoint.state = {"quotas": [entry("secops", usd=1, exceeded=False)]}  # e.g. the quota was raised
            assert wait(lambda: not (quota.state() or {}).get("quotas", [{}])[0].get("exceeded"))
            with llm_otel.task("triage", team="secops"):
                chat(client)
            assert endpoint.auth_seen[0] == "Bearer tok"  # the OTLP exporter's header, reused
        finally:
            llm_otel.uninstrument()
        assert quota.refresher() is None and quota.state() is None
    finally:
        endpoint.shutdown()


def test_an_unreachable_processor_fails_open(api: CountingFakeAPI, client: openai.OpenAI) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    quota.configure(dead, interval_s=0.05)
    r = quota.refresher()
    assert r is not None and r.url == f"{dead}/v1/quotas"
    assert wait(lambda: r.failures >= 2)
    before = api.served
    with llm_otel.task("triage", team="secops"):
        chat(client)
    assert api.served == before + 1


def test_a_refresh_failure_keeps_the_last_good_state_and_a_wrong_token_changes_nothing(
    client: openai.OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = QuotaEndpoint({"quotas": [entry("secops", usd=1)]}, token="tok")
    try:
        monkeypatch.setenv("LLM_OTEL_QUOTA_TOKEN", "tok")
        quota.configure(endpoint.url, interval_s=0.05)
        r = quota.refresher()
        assert r is not None and wait(lambda: r.refreshed >= 1)
        endpoint.fail = True  # 401 from now on
        assert wait(lambda: r.failures >= 2)
        with llm_otel.task("triage", team="secops"), pytest.raises(QuotaExceeded):
            chat(client)
    finally:
        endpoint.shutdown()


def test_a_spent_quota_of_a_past_month_is_forgotten_when_the_processor_is_unreachable() -> None:
    quota.apply({"quotas": [{**entry("secops", usd=1), "period": "2000-01"}]})
    quota.drop_past_periods()
    with llm_otel.task("triage", team="secops"):
        check_budget()


def test_checking_quotas_on_the_call_path_stays_cheap_when_some_are_spent() -> None:
    # Guards the call path (context.check_budget -> quota.check); measured ~0.3 us per check here.
    quota.apply({"quotas": [entry("other", usd=1), entry("secops", task_type="x", usd=1)]})
    try:
        with llm_otel.task("triage", team="secops"):
            n = 100_000
            t0 = time.perf_counter()
            for _ in range(n):
                check_budget()
            per_call = (time.perf_counter() - t0) / n
    finally:
        quota.clear()
    assert per_call < 5e-6, f"{per_call * 1e6:.2f} us per check"


def _child_refreshes(out: Any) -> None:
    r = quota.refresher()
    out.put(r is not None and r.is_alive() and wait(lambda: r.refreshed >= 1))


def test_a_forked_child_process_gets_its_own_refresher(monkeypatch: pytest.MonkeyPatch) -> None:
    import multiprocessing

    endpoint = QuotaEndpoint({"quotas": [entry("secops", usd=1)]}, token="tok")
    try:
        monkeypatch.setenv("LLM_OTEL_QUOTA_TOKEN", "tok")
        quota.configure(endpoint.url, interval_s=0.05)
        ctx = multiprocessing.get_context("fork")
        out = ctx.Queue()
        child = ctx.Process(target=_child_refreshes, args=(out,))
        child.start()
        assert out.get(timeout=10) is True
        child.join(5)
    finally:
        quota.configure(None)
        endpoint.shutdown()


def test_the_core_that_opentelemetry_instrument_runs_starts_and_stops_the_refresher_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from llm_otel.sdk import instrument as core

    monkeypatch.setenv("LLM_OTEL_QUOTA_URL", "http://127.0.0.1:9/")
    core.ensure_core()
    try:
        r = quota.refresher()
        assert r is not None and r.url == "http://127.0.0.1:9/v1/quotas"
    finally:
        core.release_core()
    assert quota.refresher() is None
