from __future__ import annotations

import random
from pathlib import Path

from analysis.support import call, sqlite_ledger, write
from llm_otel.processor.analysis.anomalies import (
    CONTEXT_BLOWUP,
    RETRY_LOOP,
    RUNAWAY,
    AnomalyConfig,
    Baselines,
    detect,
    retry_count,
)


def lognormal_costs(rng: random.Random, n: int, median: float = 0.05, sigma: float = 0.5) -> list[float]:
    return [rng.lognormvariate(0, sigma) * median for _ in range(n)]


def test_a_task_costing_30x_its_peers_is_flagged_once() -> None:
    rng = random.Random(1)
    baselines = Baselines()
    costs = lognormal_costs(rng, 200)
    costs.insert(150, 0.05 * 30)
    flagged = [i for i, c in enumerate(costs) if detect("review", c, [], baselines)]
    assert flagged == [150]


def test_normal_lognormal_variance_raises_fewer_than_one_false_alarm_in_1000_tasks() -> None:
    alarms = 0
    for seed in range(5):
        baselines = Baselines()
        for c in lognormal_costs(random.Random(seed), 1000):
            alarms += bool(detect("review", c, [], baselines))
    assert alarms < 5  # fewer than 1 per 1,000 tasks over 5,000 tasks


def test_nothing_is_flagged_before_the_baseline_has_enough_samples() -> None:
    baselines = Baselines(AnomalyConfig(min_samples=20))
    for c in [0.05] * 19:
        assert not detect("review", c, [], baselines)
    assert not detect("review", 5.0, [], Baselines(AnomalyConfig(min_samples=20)))


def test_the_baseline_survives_a_restart_through_the_ledger(tmp_path: Path) -> None:
    rng = random.Random(3)
    config = AnomalyConfig()
    with sqlite_ledger(tmp_path) as ledger:
        baselines = Baselines(config)
        for c in lognormal_costs(rng, 100):
            detect("review", c, [], baselines)
        ledger.save_baselines(baselines.snapshot())
    with sqlite_ledger(tmp_path) as ledger:
        restored = Baselines.from_saved(ledger.load_baselines(), config)
    assert restored.snapshot() == baselines.snapshot()
    assert RUNAWAY in detect("review", 0.05 * 30, [], restored)


def test_the_baseline_window_is_bounded() -> None:
    baselines = Baselines(AnomalyConfig(window=50))
    for c in lognormal_costs(random.Random(4), 500):
        detect("review", c, [], baselines)
    assert len(baselines.windows["review"]) == 50


def test_retries_after_errors_beyond_the_limit_are_a_retry_loop(tmp_path: Path) -> None:
    with sqlite_ledger(tmp_path) as ledger:
        rows = write(ledger, [
            *(call("loop", input_tokens=2000, error="InternalServerError", offset_ms=i) for i in range(4)),
            call("loop", input_tokens=2000, offset_ms=10),
        ])
    assert retry_count(rows) == 4
    assert RETRY_LOOP in detect("t", 0.01, rows, Baselines())


def test_a_normal_multi_turn_task_is_not_a_retry_loop_nor_a_blowup(tmp_path: Path) -> None:
    with sqlite_ledger(tmp_path) as ledger:
        rows = write(ledger, [
            call("ok", input_tokens=1000 + 400 * i, messages=2 + 2 * i, offset_ms=i) for i in range(6)
        ])
    assert retry_count(rows) == 0
    assert detect("t", 0.01, rows, Baselines()) == {}


def test_a_later_call_with_more_than_10x_the_first_calls_input_is_a_context_blowup(tmp_path: Path) -> None:
    with sqlite_ledger(tmp_path) as ledger:
        rows = write(ledger, [
            call("blow", input_tokens=1000, messages=2, offset_ms=0),
            call("blow", input_tokens=5000, messages=4, offset_ms=1),
            call("blow", input_tokens=12_000, messages=6, offset_ms=2),
        ])
    found = detect("t", 0.01, rows, Baselines())
    assert found[CONTEXT_BLOWUP]["ratio"] == 12.0
