"""The report shows each group's context economics, as the processor stored them on task rows."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from analysis.support import T0, call, sqlite_ledger, write
from llm_otel.finops.render import render_table
from llm_otel.finops.report import build_report
from llm_otel.processor.analysis.economics import task_economics


def test_the_report_shows_tokens_resent_tool_share_and_turns_of_a_three_turn_conversation(tmp_path: Path) -> None:
    with sqlite_ledger(tmp_path) as ledger:
        rows = write(ledger, [
            call("conv", input_tokens=1000, tools_bytes=1600, messages=2, offset_ms=0),
            call("conv", input_tokens=1250, cache_read=1000, tools_bytes=1600, messages=4, offset_ms=10),
            call("conv", input_tokens=1550, cache_read=1250, tools_bytes=1600, messages=6, offset_ms=20),
        ])
        ledger.finalize_task("conv")
        ledger.set_task_analysis("conv", anomalies=["context_blowup"], economics=task_economics(rows))
    at = datetime.fromtimestamp(T0 / 1e9, timezone.utc)
    report = build_report(f"sqlite:///{tmp_path / 'ledger.db'}", since=at.replace(hour=0, minute=0, second=0),
                          until=at.replace(hour=23, minute=59), by=["task_type"], now=at)
    (group,) = report["groups"]
    context = group["context"]
    assert context["turns_per_task"] == 3
    assert context["tokens_resent"] == 1000 + 1250
    assert context["resent_share"] == round(2250 / 3800, 6)
    assert context["tool_tokens"] == 1200
    assert context["tool_share"] == round(1200 / 3800, 6)
    assert context["anomalies"] == {"context_blowup": 1}
    table = render_table(report)
    assert "59.2%" in table and "31.6%" in table
