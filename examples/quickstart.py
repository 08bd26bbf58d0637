"""Quickstart: one instrument() call, a task with an agent and a prompt, an OpenAI and an Anthropic call.

Prints the task's running totals (calls, tokens, cost priced in-process) and the GenAI span
attributes llm-otel exported for each call. Spans go to an in-memory exporter here so you
can see them; in production you would export them over OTLP to ``llm-otel collector``.

    python examples/quickstart.py [--base-url http://127.0.0.1:PORT]
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import _common

import llm_otel


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = _common.parse_args(__doc__.splitlines()[0], argv)
    provider, exporter = _common.memory_provider("quickstart")
    llm_otel.instrument(tracer_provider=provider)
    try:
        with _common.fake_api(args.base_url) as url:
            openai_client = _common.openai_client(url)
            anthropic_client = _common.anthropic_client(url)

            # Nested as in the README: a task, and inside it an agent working from a prompt template.
            with llm_otel.task("policy-review", id="pol-123", team="secops", budget_usd=2.0) as t:  # noqa: SIM117
                with llm_otel.agent("reviewer"), llm_otel.prompt("policy-review", version="v3"):
                    openai_client.chat.completions.create(
                        model=_common.OPENAI_MODEL,
                        max_tokens=200,
                        messages=[
                            {"role": "system", "content": "You review IAM policies for least privilege."},
                            {"role": "user", "content": 'Review: {"Effect": "Allow", "Action": "s3:*"}'},
                        ],
                    )
                    anthropic_client.messages.create(
                        model=_common.ANTHROPIC_MODEL,
                        max_tokens=200,
                        system="You double-check another model's policy review.",
                        messages=[{"role": "user", "content": "Is s3:* on every bucket acceptable?"}],
                    )
    finally:
        llm_otel.uninstrument()
        provider.shutdown()

    print(f"task {t.type}/{t.id} (team {t.team}): calls={t.calls} tokens={t.tokens} cost_usd={t.cost_usd:.6f}")
    spans = _common.llm_spans(exporter.get_finished_spans())
    for span in spans:
        print(f"\nspan {span.name!r} ({span.kind.name})")
        for key, value in sorted((span.attributes or {}).items()):
            print(f"  {key} = {value!r}")
    task_spans = [s for s in exporter.get_finished_spans() if s.name.startswith("llm_otel.task")]
    print(f"\n{len(spans)} LLM spans and {len(task_spans)} task span exported; "
          "every one carries llm_otel.task.id, llm_otel.task.type and llm_otel.team.")
    return {
        "calls": t.calls,
        "tokens": t.tokens,
        "cost_usd": t.cost_usd,
        "spans": [{"name": s.name, "attributes": dict(s.attributes or {})} for s in spans],
        "task_spans": len(task_spans),
    }


if __name__ == "__main__":
    main()
    sys.exit(0)
