"""The demo's simulated agent fleet, driving the real ``openai`` and ``anthropic`` clients.

Each scenario shows one economic effect the boards and reports should make visible:
multi-turn agents whose context grows every turn (cost about quadratic in turns), tool
schemas re-sent on every call, retry loops after errors, one runaway task costing ~30x
its peers, and the same summarization task run with and without prompt caching.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import llm_otel

OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-haiku-4-5"

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": f"{desc} Returns JSON. " * 6,
            "parameters": {
                "type": "object",
                "properties": {p: {"type": "string", "description": f"The {p} to use for {name}."} for p in params},
                "required": list(params),
            },
        },
    }
    for name, desc, params in (
        ("run_sql", "Runs a read-only SQL query against the analytics warehouse.", ("query", "database")),
        ("describe_table", "Describes the columns and types of a warehouse table.", ("table", "schema")),
        ("plot", "Plots a result set as a chart for the analyst.", ("kind", "x", "y", "title")),
    )
]

POLICY = "Least privilege. Deny wildcard actions. Require MFA for console access. " * 60
MANUAL = "Section: the product manual describes setup, billing, limits and troubleshooting. " * 90


@dataclass
class Clients:
    openai: Any
    anthropic: Any


def _fail_headers(fail: bool) -> dict[str, str]:
    return {"x-fake-fail": "500"} if fail else {}


def sql_agent(c: Clients, rng: random.Random, turns: int, tool_output_chars: int = 1200) -> None:
    """A tool-using agent: every turn re-sends the whole conversation and the tool schemas."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a data analyst agent. Use the tools."},
        {"role": "user", "content": f"Question {rng.randint(1, 10**6)}: weekly revenue by region?"},
    ]
    with llm_otel.prompt("sql-agent", version="v3"):
        for turn in range(turns):
            stream = turn % 3 == 2
            if stream:
                chunks = c.openai.chat.completions.create(
                    model=OPENAI_MODEL, messages=messages, tools=TOOLS, max_tokens=300, stream=True
                )
                text = "".join((ch.choices[0].delta.content or "") for ch in chunks if ch.choices)
            else:
                resp = c.openai.chat.completions.create(
                    model=OPENAI_MODEL, messages=messages, tools=TOOLS, max_tokens=300
                )
                text = resp.choices[0].message.content or ""
            messages.append({"role": "assistant", "content": text})
            messages.append({"role": "user", "content": "tool result: " + "row,value;" * (tool_output_chars // 10)})


def with_retries(call: Callable[[bool], None], failures: int) -> None:
    """Calls ``call`` until it succeeds; the first ``failures`` attempts hit an injected 500."""
    for attempt in range(failures + 1):
        try:
            call(attempt < failures)
            return
        except Exception:
            time.sleep(0.001)


def ticket_triage(c: Clients, rng: random.Random, failures: int) -> None:
    """A single Anthropic call that sometimes needs retries after server errors."""
    ticket = f"Ticket {rng.randint(1, 10**6)}: " + "customer cannot log in after password reset. " * rng.randint(5, 20)

    def call(fail: bool) -> None:
        c.anthropic.messages.create(
            model=ANTHROPIC_MODEL,
            max_tokens=200,
            system="Classify the support ticket by urgency and product area.",
            messages=[{"role": "user", "content": ticket}],
            extra_headers=_fail_headers(fail),
        )

    with llm_otel.prompt("ticket-triage", version="v1"):
        with_retries(call, failures)


def doc_summary(c: Clients, rng: random.Random, cached: bool, questions: int = 4) -> None:
    """Several questions over one long manual, with or without an Anthropic cache breakpoint."""
    block: dict[str, Any] = {"type": "text", "text": MANUAL}
    if cached:
        block["cache_control"] = {"type": "ephemeral"}
    with llm_otel.prompt("doc-qa", version="cached" if cached else "uncached"):
        for q in range(questions):
            if q % 2:
                with c.anthropic.messages.stream(
                    model=ANTHROPIC_MODEL, max_tokens=250, system=[block],
                    messages=[{"role": "user", "content": f"Question {q}: {rng.random()}"}],
                ) as s:
                    s.get_final_message()
            else:
                c.anthropic.messages.create(
                    model=ANTHROPIC_MODEL, max_tokens=250, system=[block],
                    messages=[{"role": "user", "content": f"Question {q}: {rng.random()}"}],
                )


def policy_review(c: Clients, rng: random.Random) -> None:
    """One OpenAI call over a policy whose long shared prefix OpenAI caches automatically."""
    with llm_otel.prompt("policy-review", version="v2"):
        c.openai.chat.completions.create(
            model=OPENAI_MODEL,
            max_tokens=150,
            messages=[
                {"role": "system", "content": POLICY},
                {"role": "user", "content": f"Review policy document {rng.randint(1, 10**6)}."},
            ],
        )


def run(c: Clients, *, seed: int = 7, rounds: int = 1) -> dict[str, int]:
    """Runs the fleet ``rounds`` times; returns how many tasks of each type ran."""
    rng = random.Random(seed)
    counts: dict[str, int] = {}

    def task(kind: str, team: str, fn: Callable[[], None]) -> None:
        counts[kind] = counts.get(kind, 0) + 1
        try:
            with llm_otel.task(kind, team=team), llm_otel.agent(f"{kind}-agent"):
                fn()
        except Exception:
            pass  # a failed task is still a task: its span says status=error

    for _ in range(rounds):
        for i in range(10):
            # Most tickets go through; some need one retry; one is stuck in a retry loop.
            failures = 5 if i == 4 else (1 if i % 3 == 0 else 0)
            task("sql-agent", "data", lambda: sql_agent(c, rng, turns=rng.randint(3, 6)))
            task("ticket-triage", "support", functools.partial(ticket_triage, c, rng, failures))
            task("policy-review", "secops", lambda: policy_review(c, rng))
        for i in range(6):
            cached = i % 2 == 0
            task("doc-qa", "research", functools.partial(doc_summary, c, rng, cached))
        # The runaway: the same agent stuck in a loop, re-sending an ever larger context.
        task("sql-agent", "data", lambda: sql_agent(c, rng, turns=26, tool_output_chars=2400))
    # Calls outside any task: the unattributed share. One goes to a fine-tune no price list knows:
    # it is counted as unpriced (add it to a price book to price it), never as $0.
    for model in (OPENAI_MODEL, OPENAI_MODEL, "ft:gpt-4o-mini:acme:triage:2026"):
        c.openai.chat.completions.create(
            model=model, max_tokens=50, messages=[{"role": "user", "content": "ad-hoc question"}]
        )
    return counts
