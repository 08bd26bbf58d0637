"""Every replayable OpenAI-shaped exchange of the corpus, through the real openai client, gives the expected span.

One test per exchange (openai provider, plus the Anthropic OpenAI-compatible endpoint):
the recorded request is sent with the real client (async when recorded from an async
client, streamed as recorded, streams read to the end) to the local replay server, and
the one usage-bearing span must match ``expected`` exactly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai_helpers import fast_server, mismatches, replay_async, replay_sync, usage_spans

import llm_otel
from llm_otel.sdk import openai as llm_openai
from replay import corpus

EXCHANGES = [
    ex
    for ex in corpus.exchanges()
    if ex["provider"] == "openai" or (ex["provider"] == "anthropic" and ex["path"] == "/v1/chat/completions")
]


@pytest.fixture(scope="module")
def replay() -> Iterator[dict[str, Any]]:
    llm_otel.instrument(providers=("openai",))  # as users do; installs llm_otel.sdk.openai
    assert llm_openai.installed()
    loop = asyncio.new_event_loop()
    with fast_server() as server:
        sync_client = openai.OpenAI(api_key="test", base_url=server.base_url("none"), max_retries=0)
        async_client = openai.AsyncOpenAI(api_key="test", base_url=server.base_url("none"), max_retries=0)
        yield {"server": server, "sync": sync_client, "async": async_client, "loop": loop}
        sync_client.close()
        loop.run_until_complete(async_client.close())
    loop.close()
    llm_otel.uninstrument()


def test_the_corpus_has_every_openai_shaped_replayable_exchange() -> None:
    # The dev corpus's README counts; another corpus (LLM_OTEL_CORPUS=...) only has to have some.
    assert len(EXCHANGES) == 1811 if corpus.IS_DEV else len(EXCHANGES) > 0


@pytest.mark.parametrize("ex", EXCHANGES, ids=[ex["id"] for ex in EXCHANGES])
def test_replayed_exchange_produces_exactly_the_expected_span(replay: dict[str, Any], spans: Any, ex: Any) -> None:
    key = str(EXCHANGES.index(ex))
    server = replay["server"]
    server.add(key, ex)
    base_url = server.base_url(key) + "/v1"
    if corpus.is_async(ex):
        client = replay["async"].with_options(base_url=base_url)
        replay["loop"].run_until_complete(replay_async(client, ex))
    else:
        replay_sync(replay["sync"].with_options(base_url=base_url), ex)
    found = usage_spans(spans.get_finished_spans())
    assert len(found) == 1, [s.name for s in spans.get_finished_spans()]
    assert mismatches(ex["expected"], dict(found[0].attributes)) == {}
