"""Background responses: their usage is known only when retrieved in a terminal state, and counts once.

Real ``openai`` clients (sync and async) over HTTP to the local replay server: ``create(background=True)``
answers ``queued`` (no usage), a retrieve while ``in_progress`` has none either, the retrieve that
sees it ``completed`` gets the one usage-bearing span, and any later retrieve of it gets none.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai_helpers import fast_server, llm_spans, usage_spans

from llm_otel import semconv
from llm_otel.sdk import openai as llm_openai
from llm_otel.sdk.openai import _recorded
from replay.server import ReplayServer

MODEL = "gpt-5.4-mini-2026-03-17"


def response(rid: str, status: str, usage: dict[str, Any] | None) -> dict[str, Any]:
    body = {
        "id": rid, "object": "response", "created_at": 1, "status": status, "background": True, "model": MODEL,
        "output": [], "parallel_tool_calls": True, "tool_choice": "auto", "tools": [], "usage": usage,
        "error": None, "incomplete_details": None, "instructions": None, "metadata": {}, "temperature": 1.0,
        "top_p": 1.0,
    }  # fmt: skip
    return {"status": 200, "stream": False, "response_body": json.dumps(body)}


USAGE = {"input_tokens": 5000, "input_tokens_details": {"cached_tokens": 4096}, "output_tokens": 900,
         "output_tokens_details": {"reasoning_tokens": 700}, "total_tokens": 5900}  # fmt: skip


@pytest.fixture(scope="module")
def server() -> Iterator[ReplayServer]:
    llm_openai.install()
    with fast_server() as srv:
        for rid in ("resp_bg1", "resp_bg2"):
            srv.add(f"{rid}_queued", response(rid, "queued", None))
            srv.add(f"{rid}_progress", response(rid, "in_progress", None))
            srv.add(f"{rid}_done", response(rid, "completed", USAGE))
        srv.add("resp_fg_done", response("resp_fg", "completed", USAGE))
        yield srv
    llm_openai.uninstall()


@pytest.fixture(autouse=True)
def _forget() -> None:
    _recorded.clear()


def client(server: ReplayServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(api_key="test", base_url=server.base_url(key) + "/v1", max_retries=0)


def aclient(server: ReplayServer, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key="test", base_url=server.base_url(key) + "/v1", max_retries=0)


def assert_usage(span: Any, rid: str) -> None:
    a = span.attributes
    assert a[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 5000
    assert a[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 4096
    assert a[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 900
    assert a[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 700
    assert a[semconv.GEN_AI_RESPONSE_ID] == rid
    assert a[semconv.GEN_AI_RESPONSE_MODEL] == MODEL
    assert a[semconv.GEN_AI_OPERATION_NAME] == "chat"


def test_a_polled_background_response_counts_once_when_it_completes(server: ReplayServer, spans: Any) -> None:
    created = client(server, "resp_bg1_queued").responses.create(model="gpt-5.4-mini", input="x", background=True)
    assert created.status == "queued"
    assert usage_spans(spans.get_finished_spans()) == []  # nothing billed is known yet
    assert client(server, "resp_bg1_progress").responses.retrieve("resp_bg1").status == "in_progress"
    done = client(server, "resp_bg1_done").responses.retrieve("resp_bg1")
    assert done.usage is not None and done.usage.input_tokens == 5000  # the app's object is untouched
    for _ in range(3):  # read again later: no second count
        client(server, "resp_bg1_done").responses.retrieve("resp_bg1")
    (span,) = usage_spans(spans.get_finished_spans())
    assert_usage(span, "resp_bg1")
    assert span.start_time is not None and span.end_time is not None and span.start_time <= span.end_time
    assert len(llm_spans(spans)) == 2  # the create's span (no usage) and the completing retrieve's


def test_retrieving_a_response_whose_create_recorded_the_usage_counts_nothing(
    server: ReplayServer, spans: Any
) -> None:
    client(server, "resp_fg_done").responses.create(model="gpt-5.4-mini", input="x")
    client(server, "resp_fg_done").responses.retrieve("resp_fg")
    (span,) = usage_spans(spans.get_finished_spans())
    assert_usage(span, "resp_fg")
    assert len(llm_spans(spans)) == 1


def test_async_polling_counts_once(server: ReplayServer, spans: Any) -> None:
    async def run() -> None:
        for key in ("resp_bg2_progress", "resp_bg2_done", "resp_bg2_done"):
            c = aclient(server, key)
            await c.responses.retrieve("resp_bg2")
            await c.close()

    asyncio.run(run())
    (span,) = usage_spans(spans.get_finished_spans())
    assert_usage(span, "resp_bg2")


def test_other_gets_and_raw_retrieves_get_no_span(server: ReplayServer, spans: Any) -> None:
    c = client(server, "resp_bg1_done")
    raw = c.responses.with_raw_response.retrieve("resp_bg1")
    assert raw.parse().status == "completed"
    c.responses.input_items.list("resp_bg1")  # GET /responses/{id}/input_items: not a response
    assert llm_spans(spans) == []


def test_a_failing_retrieve_raises_unchanged_and_records_nothing(spans: Any) -> None:
    llm_openai.install()
    c = openai.OpenAI(api_key="test", base_url="http://127.0.0.1:9/v1", max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        c.responses.retrieve("resp_x")
    assert llm_spans(spans) == []
