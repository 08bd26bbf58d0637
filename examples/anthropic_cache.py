"""An Anthropic agent with explicit ``cache_control``: cache-hit rate and what caching saved.

The same support-agent conversation (a long handbook as system prompt, tool definitions,
several turns) runs twice through the real ``anthropic`` client: once without and once with a
cache breakpoint (``cache_control`` on the system prompt: tools and handbook, the static prefix
every turn re-sends, are written to the cache once and read on later turns). llm-otel records cache reads and
writes on each span; the example prints the per-call split, the cache-hit rate (cache-read
tokens / all input tokens) and the cost of both runs priced with ``llm_otel.pricing``.

    python examples/anthropic_cache.py [--turns 8] [--base-url URL]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import _common

import llm_otel
from llm_otel import semconv
from llm_otel.pricing import Usage, price

MODEL = "claude-sonnet-4-6"
HANDBOOK = (
    "Support handbook. Refunds: within 30 days, to the original payment method, never as credit "
    "unless the customer asks. Outages: link the status page, apologise once, never promise a time. "
    "Accounts: verify the email on file before any change; never read out a password or a token. "
) * 40
TOOLS = [
    {
        "name": "lookup_order",
        "description": "Returns an order's items, amounts, payment method and shipping state.",
        "input_schema": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
    },
    {
        "name": "issue_refund",
        "description": "Refunds an order, fully or partly, to its original payment method.",
        "input_schema": {
            "type": "object",
            "properties": {"order_id": {"type": "string"}, "amount": {"type": "number"}},
            "required": ["order_id", "amount"],
        },
    },
]
QUESTIONS = [
    "My order 1042 arrived broken, can I get a refund?",
    "It was the blue kettle, paid by card.",
    "Can I get store credit instead?",
    "How long will the refund take?",
    "Also, your site was down this morning. When is it fixed?",
    "Please change my email to new@example.com.",
    "Thanks. Can you confirm the refund amount?",
    "And the second item of that order?",
    "Is there a restocking fee?",
    "Can I speak to a human?",
]


def converse(client: Any, turns: int, cached: bool) -> list[dict[str, Any]]:
    """One support conversation; returns what each call used (from the response) and cost."""
    system: list[dict[str, Any]] = [{"type": "text", "text": HANDBOOK}]
    if cached:
        system[0]["cache_control"] = {"type": "ephemeral"}
    messages: list[dict[str, Any]] = []
    calls = []
    for turn in range(turns):
        messages.append({"role": "user", "content": [{"type": "text", "text": QUESTIONS[turn % len(QUESTIONS)]}]})
        started = time.time()
        resp = client.messages.create(
            model=MODEL, max_tokens=40, system=system, tools=TOOLS,
            messages=messages,
        )
        u = resp.usage
        read, write = u.cache_read_input_tokens or 0, u.cache_creation_input_tokens or 0
        usage = Usage(input_tokens=u.input_tokens + read + write, output_tokens=u.output_tokens,
                      cache_read_tokens=read, cache_write_tokens=write, cache_write_5m_tokens=write)
        cost = price(usage, provider="anthropic", model=resp.model, at=started)
        calls.append({"turn": turn + 1, "usage": usage, "cost": cost.total, "cache_savings": cost.cache_savings})
        # A fixed-length answer keeps the two runs' conversations the same size, turn by turn.
        messages.append({"role": "assistant", "content": [{"type": "text", "text": f"Answer to question {turn + 1}."}]})
    return calls


def _int_attr(attributes: Mapping[str, Any] | None, key: str) -> int:
    value = (attributes or {}).get(key, 0)
    return int(value) if isinstance(value, int) else 0


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = _common.parse_args(__doc__.splitlines()[0], argv, turns=8)
    provider, exporter = _common.memory_provider("anthropic-cache")
    llm_otel.instrument(tracer_provider=provider)
    runs: dict[str, list[dict[str, Any]]] = {}
    tasks: dict[str, Any] = {}
    try:
        with _common.fake_api(args.base_url) as url:
            client = _common.anthropic_client(url)
            for name, cached in (("without cache_control", False), ("with cache_control", True)):
                with llm_otel.task("support-chat", team="support") as t, llm_otel.agent("support-agent"), \
                        llm_otel.prompt("support-chat", version="cached" if cached else "uncached"):
                    runs[name] = converse(client, args.turns, cached)
                tasks[name] = t
    finally:
        llm_otel.uninstrument()
        provider.shutdown()

    spans = _common.llm_spans(exporter.get_finished_spans())
    results: dict[str, dict[str, Any]] = {}
    for name, calls in runs.items():
        print(f"\n{name}:")
        print(f"{'turn':>4} {'input (incl.)':>13} {'cache read':>10} {'cache write':>11} {'output':>6} "
              f"{'cost USD':>10}")
        for c in calls:
            u = c["usage"]
            print(f"{c['turn']:>4} {u.input_tokens:>13,} {u.cache_read_tokens:>10,} {u.cache_write_tokens:>11,} "
                  f"{u.output_tokens:>6} {c['cost']:>10.6f}")
        total_in = sum(c["usage"].input_tokens for c in calls)
        read = sum(c["usage"].cache_read_tokens for c in calls)
        cost = sum((c["cost"] for c in calls), Decimal(0))
        results[name] = {"input_tokens": total_in, "cache_read_tokens": read, "hit_rate": read / total_in,
                         "cost_usd": cost, "task_cost_usd": tasks[name].cost_usd,
                         "pricing_cache_savings_usd": sum((c["cache_savings"] for c in calls), Decimal(0))}
        print(f"cache-hit rate {read / total_in:.1%}; cost {cost:.6f} USD (the task's running total: "
              f"{tasks[name].cost_usd:.6f})")
    plain, with_cache = results["without cache_control"], results["with cache_control"]
    savings = plain["cost_usd"] - with_cache["cost_usd"]
    span_reads = sum(_int_attr(s.attributes, semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS) for s in spans)
    print(f"\ncache_control saved {savings:.6f} USD on this conversation ({savings / plain['cost_usd']:.0%}); "
          f"pricing's own cache_savings (cached tokens at the uncached rate, minus their cost) says "
          f"{with_cache['pricing_cache_savings_usd']:.6f} USD before the cache-write premium")
    print(f"llm-otel's spans recorded {span_reads:,} cache-read tokens (gen_ai.usage.cache_read.input_tokens), "
          f"matching the responses: {span_reads == with_cache['cache_read_tokens']}")
    return {"without": plain, "with": with_cache, "savings_usd": float(savings),
            "savings_pct": float(savings / plain["cost_usd"]) * 100, "span_cache_reads": span_reads}


if __name__ == "__main__":
    main()
    sys.exit(0)
