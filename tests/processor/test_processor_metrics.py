"""The metrics seam: cardinality guard, sanitizing, exemplars, exposition formats."""

from __future__ import annotations

from decimal import Decimal

from prometheus_client.openmetrics.parser import text_string_to_metric_families

from llm_otel.processor.config import Budget
from llm_otel.processor.metrics import OTHER, ProcessorMetrics, sanitize


def test_a_million_distinct_team_names_keep_at_most_the_cap_and_count_the_rest() -> None:
    m = ProcessorMetrics(max_label_values=100)
    guard = m.guard
    out = {guard.value("team", f"team-{i}") for i in range(1_000_000)}
    assert len(out) == 101 and OTHER in out
    assert m.label_overflow.labels("team")._value.get() == 1_000_000 - 100
    assert len(guard._accepted["team"]) == 100  # memory stays bounded by the cap


def test_missing_team_and_task_type_are_unattributed() -> None:
    m = ProcessorMetrics()
    assert m.guard.value("team", None) == "unattributed"
    assert m.guard.value("task_type", None) == "unattributed"
    assert m.guard.value("model", None) == "unknown"


def test_label_values_are_sanitized_and_truncated() -> None:
    assert sanitize("a\nb\x00c") == "a_b_c"
    assert len(sanitize("x" * 10_000)) == 100
    assert sanitize("   ") == "unknown"


def test_task_cost_observations_carry_the_trace_id_as_exemplar_in_openmetrics() -> None:
    m = ProcessorMetrics()
    m.business.observe_task("secops", "triage", "ok", 0.42, "0af7651916cd43dd8448eb211c80319c")
    body, ctype = m.exposition("application/openmetrics-text; version=1.0.0")
    assert ctype.startswith("application/openmetrics-text")
    samples = [s for f in text_string_to_metric_families(body.decode()) for s in f.samples]
    exemplars = [s.exemplar for s in samples if s.name == "llm_task_cost_usd_bucket" and s.exemplar]
    assert exemplars and exemplars[0].labels == {"trace_id": "0af7651916cd43dd8448eb211c80319c"}
    assert exemplars[0].value == 0.42


def test_the_classic_text_format_is_served_to_scrapers_that_do_not_ask_for_openmetrics() -> None:
    body, ctype = ProcessorMetrics().exposition("text/plain")
    assert ctype.startswith("text/plain") and b"# EOF" not in body


def test_budgets_are_exposed_as_a_gauge_per_team_and_task_type() -> None:
    m = ProcessorMetrics(budgets=[Budget("secops", "triage", 250.0)])
    body, _ = m.exposition("application/openmetrics-text")
    assert b'llm_budget_usd{task_type="triage",team="secops"} 250.0' in body


def test_counter_totals_are_exposed_at_full_decimal_precision_summed_exactly() -> None:
    m = ProcessorMetrics()
    key = ("llm_cost_usd", ("openai", "gpt-4o", "a", "b", "input"))
    m.business.apply_deltas([{key: Decimal("0.1")} for _ in range(10)])
    assert m.business.value("llm_cost_usd") == Decimal("1.0")  # no float drift inside
