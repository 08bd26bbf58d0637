"""A multi-turn agent with tools: every turn re-sends the whole conversation, so cost grows ~n^2.

The agent answers a question with tools: each turn it sends the conversation so far plus the
tool schemas, the "tool" runs, and its result is appended. Turn n's input is therefore about
linear in n and the task's cumulative cost about quadratic. The example prints, per turn, what
llm-otel recorded (input tokens of the call, the share OpenAI served from its automatic prefix
cache, the task's running cost) and fits cumulative cost ~ a*n^2 + b*n + c.

    python examples/multi_turn_agent.py [--turns 20] [--base-url URL]
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import _common

import llm_otel
from llm_otel import semconv

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": {p: {"type": "string", "description": f"The {p} for {name}."} for p in params},
                "required": list(params),
            },
        },
    }
    for name, description, params in (
        ("search_logs", "Searches the service's logs for a pattern in a time window.", ("pattern", "since", "until")),
        ("get_metric", "Returns a Prometheus metric's values over a time window.", ("query", "since", "step")),
        ("open_runbook", "Returns the runbook section for an alert.", ("alert",)),
    )
]
TOOL_RESULT = "ts=2026-11-30T06:00:00Z level=error msg=upstream timeout route=/checkout latency_ms=5012\n" * 12


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = _common.parse_args(__doc__.splitlines()[0], argv, turns=20)
    provider, exporter = _common.memory_provider("multi-turn-agent")
    llm_otel.instrument(tracer_provider=provider)
    rows: list[dict[str, Any]] = []
    try:
        with _common.fake_api(args.base_url) as url:
            client = _common.openai_client(url)
            messages: list[dict[str, Any]] = [
                {"role": "system", "content": "You are an on-call SRE agent. Use the tools to find the cause."},
                {"role": "user", "content": "Checkout latency alert fired at 06:00. Why?"},
            ]
            with llm_otel.task("incident-triage", team="sre") as t, llm_otel.agent("sre-agent"), \
                    llm_otel.prompt("incident-triage", version="v1"):
                for turn in range(1, args.turns + 1):
                    exporter.clear()
                    resp = client.chat.completions.create(
                        model=_common.OPENAI_MODEL, messages=messages, tools=TOOLS, max_tokens=120
                    )
                    (span,) = _common.llm_spans(exporter.get_finished_spans())
                    attrs = span.attributes or {}
                    rows.append({
                        "turn": turn,
                        "messages": attrs.get(semconv.REQUEST_MESSAGES_COUNT),
                        "tools_bytes": attrs.get(semconv.REQUEST_TOOLS_BYTES),
                        "input_tokens": attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS],
                        "cache_read_tokens": attrs.get(semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, 0),
                        "output_tokens": attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS],
                        "cumulative_tokens": t.tokens,
                        "cumulative_cost_usd": t.cost_usd,
                    })
                    # The "tool call": the model's answer and the tool's output join the context.
                    messages.append({"role": "assistant", "content": resp.choices[0].message.content or ""})
                    messages.append({"role": "user", "content": f"search_logs result (turn {turn}):\n{TOOL_RESULT}"})
    finally:
        llm_otel.uninstrument()
        provider.shutdown()

    print(f"{'turn':>4} {'messages':>8} {'tools bytes':>11} {'input tok':>9} {'cached':>7} {'output':>6} "
          f"{'cum. tokens':>11} {'cum. cost USD':>13}")
    for r in rows:
        print(f"{r['turn']:>4} {r['messages']:>8} {r['tools_bytes']:>11} {r['input_tokens']:>9,} "
              f"{r['cache_read_tokens']:>7,} {r['output_tokens']:>6} {r['cumulative_tokens']:>11,} "
              f"{r['cumulative_cost_usd']:>13.6f}")
    n = [float(r["turn"]) for r in rows]
    (a, b, c), r2 = _common.fit_polynomial(n, [r["cumulative_cost_usd"] for r in rows], 2)
    _, r2_linear = _common.fit_polynomial(n, [r["cumulative_cost_usd"] for r in rows], 1)
    (ta, tb, tc), r2_tokens = _common.fit_polynomial(n, [float(r["cumulative_tokens"]) for r in rows], 2)
    (ia, ib), r2_input = _common.fit_polynomial(n, [float(r["input_tokens"]) for r in rows], 1)
    last = rows[-1]
    quad_share = a * last["turn"] ** 2 / last["cumulative_cost_usd"]
    print(f"\ninput tokens per turn ~ {ia:,.0f}*n {ib:+,.0f}  (R^2 {r2_input:.4f}): the context grows linearly")
    print(f"cumulative tokens     ~ {ta:,.1f}*n^2 {tb:+,.1f}*n {tc:+,.0f}  (R^2 {r2_tokens:.4f})")
    print(f"cumulative cost USD   ~ {a:.3e}*n^2 {b:+.3e}*n {c:+.3e}  "
          f"(R^2 {r2:.4f}; best linear fit R^2 {r2_linear:.4f})")
    print(f"at turn {last['turn']} the n^2 term is {quad_share:.0%} of the task's cost; the last turn alone sent as "
          f"many input tokens as turns 1..{_turns_matching(rows)} together "
          f"({last['cache_read_tokens'] / last['input_tokens']:.0%} of them served from OpenAI's prefix cache)")
    return {"rows": rows, "quadratic": (a, b, c), "r2": r2, "quadratic_share": quad_share,
            "r2_linear": r2_linear, "r2_tokens": r2_tokens, "input_slope": ia}


def _turns_matching(rows: list[dict[str, Any]]) -> int:
    """How many first turns together sent as many input tokens as the last turn alone."""
    total, k = 0, 0
    for r in rows:
        total += r["input_tokens"]
        if total > rows[-1]["input_tokens"]:
            break
        k += 1
    return k


if __name__ == "__main__":
    main()
    sys.exit(0)
