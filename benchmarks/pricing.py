"""Pricing hot path: ``llm_otel.pricing.price`` (cached rates) vs ``genai_prices.calc_price``, same run.

Run: ``python benchmarks/pricing.py [--n 20000]``. Prints µs/call for each and the ratio.
The engine's docstring points here: a cached price must stay a few µs.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone

import genai_prices

from llm_otel.pricing import Usage, price

UTC = timezone.utc

AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
CASES = [
    (
        "anthropic",
        "claude-sonnet-4-5-20250929",
        dict(input_tokens=12_000, output_tokens=800, cache_read_tokens=9_000, cache_write_tokens=1_000),
    ),
    ("openai", "gpt-4o-2024-08-06", dict(input_tokens=3_000, output_tokens=500, cache_read_tokens=1_024)),
]


def bench(fn, n: int) -> float:
    fn()
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20_000)
    n = parser.parse_args().n
    print(f"{'case':42} {'calc_price µs':>14} {'ours µs':>9} {'ratio':>7}")
    for provider, model, counts in CASES:
        ours_usage = Usage(**counts)
        gp_usage = genai_prices.Usage(**counts)

        def ours(u=ours_usage, p=provider, m=model):
            return price(u, provider=p, model=m, at=AT)

        def theirs(u=gp_usage, p=provider, m=model):
            return genai_prices.calc_price(u, m, provider_id=p, genai_request_timestamp=AT)

        assert ours().total == theirs().total_price
        t_ours = bench(ours, n)
        t_theirs = bench(theirs, max(n // 10, 100))
        print(f"{provider + '/' + model:42} {t_theirs:14.2f} {t_ours:9.2f} {t_theirs / t_ours:6.1f}x")


if __name__ == "__main__":
    main()
