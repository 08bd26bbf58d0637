"""The fake API answers the real clients with usage computed from the request, caching modelled."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest

from llm_otel.demo.fake_api import FakeAPIServer
from llm_otel.demo.tokens import count_tokens


@pytest.fixture(scope="module")
def server() -> Iterator[FakeAPIServer]:
    with FakeAPIServer() as s:
        yield s


def test_openai_caches_a_repeated_prefix_of_at_least_1024_tokens(server: FakeAPIServer) -> None:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0)
    system = {"role": "system", "content": "policy text " * 600}  # ~1,800 tokens
    first = client.chat.completions.create(model="gpt-4o-mini", messages=[system, {"role": "user", "content": "a"}])
    second = client.chat.completions.create(model="gpt-4o-mini", messages=[system, {"role": "user", "content": "b"}])
    assert first.usage and second.usage
    assert first.usage.prompt_tokens_details and second.usage.prompt_tokens_details
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    cached = second.usage.prompt_tokens_details.cached_tokens or 0
    assert cached >= 1024 and cached % 128 == 0 and cached <= second.usage.prompt_tokens


def test_openai_short_prompts_are_never_cached(server: FakeAPIServer) -> None:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0)
    for _ in range(2):
        r = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "short"}])
        assert r.usage and r.usage.prompt_tokens_details
        assert r.usage.prompt_tokens_details.cached_tokens == 0


def test_tool_definitions_count_toward_input(server: FakeAPIServer) -> None:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0)
    msgs = [{"role": "user", "content": "hi"}]
    tool = {"type": "function", "function": {"name": "f", "description": "d " * 400, "parameters": {"type": "object"}}}
    bare = client.chat.completions.create(model="gpt-4o-mini", messages=msgs)  # type: ignore[arg-type]
    tooled = client.chat.completions.create(model="gpt-4o-mini", messages=msgs, tools=[tool])  # type: ignore[arg-type,list-item]
    assert bare.usage and tooled.usage
    assert tooled.usage.prompt_tokens - bare.usage.prompt_tokens >= count_tokens("d " * 400) - 10


def test_anthropic_cache_control_writes_then_reads_the_prefix(server: FakeAPIServer) -> None:
    client = anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0)
    system = [{"type": "text", "text": "manual " * 1500, "cache_control": {"type": "ephemeral"}}]
    first = client.messages.create(model="claude-haiku-4-5", max_tokens=100, system=system,  # type: ignore[arg-type]
                                   messages=[{"role": "user", "content": "q1"}])
    second = client.messages.create(model="claude-haiku-4-5", max_tokens=100, system=system,  # type: ignore[arg-type]
                                    messages=[{"role": "user", "content": "q2"}])
    assert first.usage.cache_creation_input_tokens and first.usage.cache_creation_input_tokens > 1024
    assert first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens == 0


def test_streams_carry_the_same_usage_shape_as_the_real_apis(server: FakeAPIServer) -> None:
    oc = openai.OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0)
    chunks = list(oc.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "s"}],
                                             stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    ac = anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0)
    with ac.messages.stream(model="claude-haiku-4-5", max_tokens=100,
                            messages=[{"role": "user", "content": "s"}]) as stream:
        message = stream.get_final_message()
    assert message.usage.output_tokens > 1


def test_an_injected_failure_answers_with_that_status(server: FakeAPIServer) -> None:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}],
                                       extra_headers={"x-fake-fail": "500"})
