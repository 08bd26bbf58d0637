"""task() / agent() / prompt() scopes: nesting, decorators, async, threads, ids."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from opentelemetry import baggage

import llm_otel
from llm_otel import semconv
from llm_otel.sdk import context


def test_no_task_is_current_outside_every_scope() -> None:
    assert llm_otel.current_task() is None


def test_task_is_current_inside_its_block_and_gone_after() -> None:
    with llm_otel.task("review", id="r-1", team="secops") as t:
        assert llm_otel.current_task() is t
        assert (t.type, t.id, t.team) == ("review", "r-1", "secops")
    assert llm_otel.current_task() is None
    assert t.status == "ok"


def test_task_without_id_gets_a_fresh_random_id_each_time() -> None:
    with llm_otel.task("review") as a, llm_otel.task("review") as b:
        pass
    assert a.id and b.id and a.id != b.id


def test_nested_tasks_make_the_innermost_current_and_restore_the_outer() -> None:
    with llm_otel.task("outer") as outer:
        with llm_otel.task("inner") as inner:
            assert llm_otel.current_task() is inner
            assert inner.parent is outer
        assert llm_otel.current_task() is outer


def test_agent_and_prompt_keep_the_enclosing_task() -> None:
    with llm_otel.task("t") as t, llm_otel.agent("planner", id="ag-1"), llm_otel.prompt("plan", "v3"):
        frame = context.current_frame()
        assert frame is not None
        assert frame.task is t
        assert (frame.agent_name, frame.agent_id) == ("planner", "ag-1")
        assert (frame.prompt_template, frame.prompt_version) == ("plan", "v3")
    assert context.current_frame() is None


def test_a_task_inside_an_agent_keeps_the_agent() -> None:
    with llm_otel.agent("a"), llm_otel.task("t"):
        frame = context.current_frame()
        assert frame is not None and frame.agent_name == "a"


def test_task_exits_with_error_status_when_the_block_raises_and_the_exception_passes_through() -> None:
    with pytest.raises(KeyError), llm_otel.task("t") as t:
        raise KeyError("boom")
    assert t.status == "error"
    assert llm_otel.current_task() is None


def test_decorated_function_runs_in_a_fresh_task_per_call() -> None:
    seen: list[context.Task] = []

    @llm_otel.task("job", team="ops")
    def work(x: int) -> int:
        t = llm_otel.current_task()
        assert t is not None
        seen.append(t)
        return x * 2

    assert work(2) == 4 and work(3) == 6
    assert seen[0].id != seen[1].id
    assert seen[0].team == seen[1].team == "ops"
    assert work.__name__ == "work"


def test_decorator_with_an_explicit_id_reuses_that_id() -> None:
    @llm_otel.task("job", id="fixed")
    def work() -> str | None:
        t = llm_otel.current_task()
        return t.id if t else None

    assert work() == work() == "fixed"


async def test_decorated_async_function_runs_inside_the_task() -> None:
    @llm_otel.task("async-job")
    @llm_otel.agent("bot")
    async def work() -> tuple[str | None, str | None]:
        await asyncio.sleep(0)
        frame = context.current_frame()
        assert frame is not None
        return (frame.task.type if frame.task else None), frame.agent_name

    assert await work() == ("async-job", "bot")
    assert llm_otel.current_task() is None


async def test_async_with_works_like_with() -> None:
    async with llm_otel.task("t") as t:
        assert llm_otel.current_task() is t
    assert llm_otel.current_task() is None


async def test_concurrent_asyncio_tasks_each_see_their_own_task() -> None:
    async def one(name: str) -> str:
        with llm_otel.task(name):
            await asyncio.sleep(0.01)
            t = llm_otel.current_task()
            await asyncio.sleep(0.01)
            assert t is llm_otel.current_task()
            return t.type if t else ""

    assert await asyncio.gather(*(one(f"t{i}") for i in range(20))) == [f"t{i}" for i in range(20)]


async def test_asyncio_task_created_inside_a_task_inherits_it() -> None:
    with llm_otel.task("parent") as t:
        child = await asyncio.create_task(_current())
    assert child is t


async def _current() -> context.Task | None:
    return llm_otel.current_task()


def test_threads_started_inside_a_task_do_not_inherit_it_without_bind() -> None:
    out: list[object] = []
    with llm_otel.task("t"):
        th = threading.Thread(target=lambda: out.append(llm_otel.current_task()))
        th.start()
        th.join()
    assert out == [None]


def test_bind_carries_the_task_into_a_thread_pool() -> None:
    with llm_otel.task("t") as t, ThreadPoolExecutor(4) as pool:
        results = list(pool.map(context.bind(lambda _: llm_otel.current_task()), range(8)))
    assert results == [t] * 8


def test_copy_context_carries_the_task_into_a_thread() -> None:
    out: list[object] = []
    with llm_otel.task("t") as t:
        ctx = contextvars.copy_context()
        th = threading.Thread(target=ctx.run, args=(lambda: out.append(llm_otel.current_task()),))
        th.start()
        th.join()
    assert out == [t]


def test_threads_each_with_their_own_task_do_not_mix() -> None:
    errors: list[str] = []
    barrier = threading.Barrier(8)

    def worker(i: int) -> None:
        with llm_otel.task(f"t{i}") as t:
            barrier.wait()
            for _ in range(200):
                if llm_otel.current_task() is not t:
                    errors.append(f"thread {i} saw another task")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []


def test_task_puts_id_type_and_team_into_w3c_baggage() -> None:
    with llm_otel.task("review", id="r-9", team="secops"):
        entries = baggage.get_all()
        assert entries[semconv.BAGGAGE_TASK_ID] == "r-9"
        assert entries[semconv.BAGGAGE_TASK_TYPE] == "review"
        assert entries[semconv.BAGGAGE_TEAM] == "secops"
    assert semconv.BAGGAGE_TASK_ID not in baggage.get_all()


def test_reentering_an_open_task_does_not_make_it_its_own_parent() -> None:
    with llm_otel.task("t") as t:
        with t:
            assert t.parent is None
        assert llm_otel.current_task() is t


def test_decorating_a_generator_function_fails_at_decoration_with_advice() -> None:
    def gen() -> object:
        yield 1

    with pytest.raises(TypeError, match="generator"):
        llm_otel.task("t")(gen)
