"""Anomaly detection per task type, as tasks finalize.

runaway: cost above ``k`` times the baseline median of the task type (default 10x) AND a
robust z-score (log cost against median/MAD of log cost) above ``z_min``, once the
baseline holds ``min_samples`` tasks. The z guard keeps task types whose cost naturally
spans orders of magnitude from alarming on every large task; for a type with lognormal
spread sigma=0.5 a 10x task has z=4.6, so the guard (3.5) never hides what k flags.
The baseline is a rolling window (bounded memory) of log costs per task type, persisted
in the ledger so a restart does not forget it; flagged tasks do not enter it.

retry_loop: within a task, more than ``max_retries`` calls that repeat the previous call to
the same model with the same or growing context after it failed, or near-identical
requests (input within 1% and the same message count).

context_blowup: a later call's input exceeds ``blowup_factor`` times the first call's.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import median

from llm_otel.processor.ledger import CallRow

RUNAWAY = "runaway"
RETRY_LOOP = "retry_loop"
CONTEXT_BLOWUP = "context_blowup"
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class AnomalyConfig:
    runaway_factor: float = 10.0
    runaway_z_min: float = 3.5
    min_samples: int = 20
    window: int = 500
    max_retries: int = 3
    blowup_factor: float = 10.0


@dataclass
class Baselines:
    """Rolling windows of log(cost) per task type."""

    config: AnomalyConfig = field(default_factory=AnomalyConfig)
    windows: dict[str, deque[float]] = field(default_factory=dict)

    @classmethod
    def from_saved(cls, saved: Mapping[str, Sequence[float]], config: AnomalyConfig) -> Baselines:
        b = cls(config)
        for key, values in saved.items():
            b.windows[key] = deque(values, maxlen=config.window)
        return b

    def snapshot(self) -> dict[str, list[float]]:
        return {k: list(v) for k, v in self.windows.items()}

    def judge(self, task_type: str, cost_usd: float) -> dict[str, float] | None:
        """Detail of a runaway verdict for this cost, or None; then adds normal costs to the baseline."""
        if cost_usd <= 0:
            return None
        window = self.windows.setdefault(task_type, deque(maxlen=self.config.window))
        value = math.log(cost_usd)
        verdict = None
        if len(window) >= self.config.min_samples:
            med = median(window)
            mad = median(abs(x - med) for x in window)
            sigma = max(mad * MAD_TO_SIGMA, 1e-9)
            ratio = math.exp(value - med)
            z = (value - med) / sigma
            if ratio > self.config.runaway_factor and z > self.config.runaway_z_min:
                verdict = {"ratio_to_median": round(ratio, 3), "z": round(z, 3),
                           "baseline_median_usd": math.exp(med), "samples": len(window)}
        if verdict is None:
            window.append(value)
        return verdict


def retry_count(calls: Sequence[CallRow]) -> int:
    """Calls that repeat their predecessor (same model) after an error or as a near-identical request."""
    ordered = sorted(calls, key=lambda c: (c.start_ns, c.span_id))
    count = 0
    for prev, cur in itertools.pairwise(ordered):
        if prev.model != cur.model:
            continue
        p_in, c_in = prev.inclusive_input_tokens, cur.inclusive_input_tokens
        after_error = prev.error_type is not None and c_in >= p_in * 0.99
        near_identical = (
            p_in > 0 and abs(c_in - p_in) <= 0.01 * p_in and prev.messages_count == cur.messages_count
        )
        if after_error or near_identical:
            count += 1
    return count


def context_blowup(calls: Sequence[CallRow], factor: float) -> dict[str, float] | None:
    ordered = sorted(calls, key=lambda c: (c.start_ns, c.span_id))
    inputs = [c.inclusive_input_tokens for c in ordered if c.error_type is None]
    if len(inputs) < 2 or inputs[0] <= 0:
        return None
    worst = max(inputs[1:])
    if worst > factor * inputs[0]:
        return {"first_input_tokens": inputs[0], "max_input_tokens": worst, "ratio": round(worst / inputs[0], 3)}
    return None


def detect(
    task_type: str, cost_usd: float, calls: Sequence[CallRow], baselines: Baselines
) -> dict[str, dict[str, float]]:
    """All anomalies of one finalized task: kind -> detail (empty when normal)."""
    found: dict[str, dict[str, float]] = {}
    runaway = baselines.judge(task_type, cost_usd)
    if runaway is not None:
        found[RUNAWAY] = runaway
    retries = retry_count(calls)
    if retries > baselines.config.max_retries:
        found[RETRY_LOOP] = {"retries": retries}
    blowup = context_blowup(calls, baselines.config.blowup_factor)
    if blowup is not None:
        found[CONTEXT_BLOWUP] = blowup
    return found
