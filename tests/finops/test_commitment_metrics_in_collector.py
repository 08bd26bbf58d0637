"""`llm-otel collector` with a price book that has committed capacity exposes the commitment gauges."""

from __future__ import annotations

from pathlib import Path

from finops.committed import BOOK
from processor.collector_proc import Collector


def test_the_collector_serves_commitment_gauges_from_its_price_book(tmp_path: Path) -> None:
    book = tmp_path / "pricebook.yaml"
    book.write_text(BOOK)
    collector = Collector(f"sqlite:///{tmp_path / 'ledger.db'}", "--pricebook", str(book),
                          log_path=tmp_path / "collector.log").start()
    try:
        text = collector.scrape_text()
    finally:
        collector.stop()
    fee = [line for line in text.splitlines() if line.startswith("llm_commitment_fee_usd{")]
    # reserved-mini (1 USD/h, no end date) is in force this month; its fee so far is positive.
    assert any('commitment="reserved-mini"' in line and float(line.rsplit(" ", 1)[1]) > 0 for line in fee), text
