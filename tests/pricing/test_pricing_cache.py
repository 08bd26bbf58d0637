"""Rates are resolved once per (provider, model, UTC day, price context), and nothing touches the network."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from llm_otel.pricing import Pricer, Usage, rates
from llm_otel.pricing.book import parse_pricebook

UTC = timezone.utc

U = Usage(input_tokens=1000, output_tokens=100)
DAY = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)


@pytest.fixture
def resolves(monkeypatch):
    calls = []
    real = rates.resolve

    def counting(q, at, data, book):
        calls.append((q.model, at))
        return real(q, at, data, book)

    monkeypatch.setattr(rates, "resolve", counting)
    return calls


def test_rates_are_resolved_once_per_model_and_utc_day(resolves):
    pricer = Pricer()
    for hour in range(24):
        pricer.price(U, provider="openai", model="gpt-4o", at=DAY + timedelta(hours=hour))
    assert len(resolves) == 1
    pricer.price(U, provider="openai", model="gpt-4o", at=DAY + timedelta(days=1))
    assert len(resolves) == 2


def test_each_price_context_has_its_own_rates(resolves):
    pricer = Pricer()
    flex = pricer.price(U, provider="openai", model="gpt-5", at=DAY, service_tier="flex")
    std = pricer.price(U, provider="openai", model="gpt-5", at=DAY)
    assert flex.total * 2 == std.total
    assert len(resolves) == 2


def test_time_of_day_prices_are_cached_per_segment_of_the_day(resolves):
    pricer = Pricer()
    totals = [
        pricer.price(U, provider="deepseek", model="deepseek-chat", at=DAY + timedelta(hours=h)).total
        for h in (0, 1, 17, 0, 1, 17)
    ]
    assert totals[:3] == totals[3:] and totals[0] != totals[1] and totals[0] == totals[2]
    assert len(resolves) == 3  # 00:00-00:30, 00:30-16:30, 16:30-24:00


def test_a_price_book_with_a_data_file_prices_with_that_data(tmp_path):
    data = tmp_path / "prices.json"
    data.write_text(
        json.dumps(
            [
                {
                    "id": "openai",
                    "name": "OpenAI",
                    "api_pattern": "x",
                    "models": [
                        {"id": "gpt-4o", "match": {"equals": "gpt-4o"}, "prices": {"input_mtok": 1, "output_mtok": 1}}
                    ],
                }
            ]
        )
    )
    book = parse_pricebook(f"data:\n  file: {data}\n")
    from llm_otel.pricing import price

    cost = price(Usage(input_tokens=1_000_000, output_tokens=0), provider="openai", model="gpt-4o", at=DAY, book=book)
    assert cost.total == 1 and cost.data_version.startswith("genai-prices-data-sha256:")


def test_a_missing_data_file_leaves_calls_unpriced_with_the_reason(tmp_path):
    from llm_otel.pricing import price

    book = parse_pricebook(f"data:\n  file: {tmp_path / 'gone.json'}\n")
    cost = price(U, provider="openai", model="gpt-4o", at=DAY, book=book)
    assert cost.source == "unpriced" and "llm-otel price --refresh" in (cost.unpriced_reason or "")


NO_NETWORK = """
import socket
def refuse(*a, **k):
    raise AssertionError("network used")
socket.socket.connect = refuse
socket.create_connection = refuse
import sys
import llm_otel.pricing.usage
assert "genai_prices" not in sys.modules, "importing Usage loaded genai-prices"
from datetime import datetime, timezone
from llm_otel.pricing import Usage, price
c = price(Usage(input_tokens=10, output_tokens=10), provider="openai", model="gpt-4o", at=datetime.now(timezone.utc))
print(c.total)
"""


def test_pricing_never_touches_the_network_and_usage_imports_stay_light():
    proc = subprocess.run([sys.executable, "-c", NO_NETWORK], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert Decimal(proc.stdout.strip()) == Decimal("0.000125")


def test_a_relative_data_file_is_found_next_to_the_price_book(tmp_path):
    from llm_otel.pricing import load_pricebook

    (tmp_path / "book.yaml").write_text("data:\n  file: prices.json\n")
    assert load_pricebook(tmp_path / "book.yaml").data_file == str(tmp_path / "prices.json")


def test_the_fast_cost_constructor_builds_the_same_objects_as_the_dataclass():
    from decimal import Decimal as D

    from llm_otel.pricing._construct import fast_constructor
    from llm_otel.pricing.cost import BucketCost, Cost

    row = fast_constructor(BucketCost)("input", 3, D(1), D(2), D(3), D(4), "m", ">200k")
    assert row == BucketCost("input", 3, D(1), D(2), D(3), D(4), "m", ">200k")
    assert fast_constructor(Cost)(D(1), D(2), "list") == Cost(D(1), D(2), "list")  # later fields: their defaults
