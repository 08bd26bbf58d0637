"""Replicas sharing one ledger count every call exactly once, however deliveries interleave.

Every replica receives every span (at-least-once delivery at its worst), in its own order,
with three instrumentations reporting each response. The ledger's totals must equal one
processor's, and the deltas the replicas were told to apply must add up to those totals.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from ledger_support import flat_totals, pg_schema_url, recomputed_totals, replay, sqlite_url, workload

from llm_otel.processor.ledger import open_ledger

CALLS = workload(seed=7, responses=120, plain=60)


@pytest.fixture(scope="module")
def single_processor_totals(tmp_path_factory: pytest.TempPathFactory) -> dict:
    url = sqlite_url(tmp_path_factory.mktemp("single"))
    replay(url, CALLS, seed=0, batch=len(CALLS))
    with open_ledger(url) as led:
        totals = {(m, labels): v for m, s in led.totals().items() for labels, v in s.items()}
        return {"totals": totals, "tasks": task_sums(led)}


def task_sums(led: object) -> dict:
    return {
        t.task_id: (t.calls, t.tokens_input, t.tokens_cache_read, t.tokens_output, t.cost, t.cache_savings)
        for t in led.tasks_in_range()  # type: ignore[attr-defined]
    }


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
    else:
        yield from pg_schema_url()


def merged(parts: list[dict]) -> dict:
    out: dict = {}
    for p in parts:
        for k, v in p.items():
            out[k] = out.get(k, Decimal(0)) + v
    return {k: v for k, v in out.items() if v}


def check(url: str, deltas: list[dict], single: dict) -> None:
    expected = single["totals"]
    with open_ledger(url) as led:
        assert task_sums(led) == single["tasks"]
        assert flat_totals(led, all_replicas=True) == expected
        assert merged(deltas) == expected
        assert recomputed_totals(led) == expected
        counted = led.calls_in_range(0, 2**62)
        assert len(counted) == 180
        assert all(r.dialect == "llm_otel" for r in counted)  # the richest record of each response


def test_threads_hammering_the_same_spans_count_each_call_once(url: str, single_processor_totals: dict) -> None:
    open_ledger(url).close()  # migrate once up front, as a deployment would
    results: list[dict] = [{} for _ in range(6)]
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            results[i] = replay(url, CALLS, seed=i + 1, batch=25, replica=f"r{i}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    check(url, results, single_processor_totals)


def test_processes_sharing_one_ledger_count_each_call_once(url: str, single_processor_totals: dict) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(3) as pool:
        results = pool.starmap(replay, [(url, CALLS, seed, 40, f"p{seed}") for seed in (11, 12, 13)])
    check(url, results, single_processor_totals)
