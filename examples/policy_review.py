"""Hash before you prompt: a weekly LLM review of thousands of policies, re-reviewing only what changed.

A synthetic corpus of IAM-like JSON policies (2,000 by default, deterministic seed) is reviewed
once a week for four weeks; about 1% of the policies change each week. The review runs twice
against the fake OpenAI API, instrumented with llm-otel, its spans exported over OTLP to a real
``llm-otel collector`` (a child process with a temporary SQLite ledger):

- WITHOUT the helper: every policy is sent to the model every week;
- WITH ``skip_unchanged``: a policy whose content hash (with the prompt version) equals the one
  stored at its last successful review is not sent; the stored verdict is returned.

It prints calls, tokens and cost per week for both runs and the reduction, then checks that the
processor's ledger holds exactly the calls, tokens and cost the example measured from the API's
responses (per run and week). Exit status 1 if the ledger disagrees.

    python examples/policy_review.py [--documents 2000] [--weeks 4] [--base-url URL]
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import _common
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import llm_otel
from llm_otel import semconv
from llm_otel.demo.run import collector
from llm_otel.pricing import Usage, price
from llm_otel.processor.ledger import open_ledger
from llm_otel.sdk.unchanged import SQLiteStore, skip_unchanged

PROMPT_VERSION = "policy-review-v3"
RUNS = ("without-helper", "with-helper")
SYSTEM_PROMPT = (
    "You are a cloud security reviewer. Review the IAM policy below for least privilege. "
    "Flag wildcard actions, wildcard resources, missing MFA conditions on sensitive actions, "
    "cross-account access, and Deny statements shadowed by broader Allows. Answer with a verdict "
    "(ok, warn, fail) and one line per finding. "
) * 3

_SERVICES = ("s3", "ec2", "iam", "lambda", "dynamodb", "kms", "sqs", "sns", "logs", "rds", "secretsmanager")
_VERBS = ("Get", "Put", "List", "Describe", "Delete", "Create", "Update", "Invoke", "Decrypt", "Publish")
_NOUNS = ("Object", "Bucket", "Instance", "Role", "Function", "Item", "Key", "Queue", "Topic", "Secret")


# --- the corpus ----------------------------------------------------------------------


def _statement(rng: random.Random, n: int, account: int) -> dict[str, Any]:
    svc = rng.choice(_SERVICES)
    actions = sorted({f"{svc}:{rng.choice(_VERBS)}{rng.choice(_NOUNS)}" for _ in range(rng.randint(1, 4))})
    if rng.random() < 0.03:
        actions = [f"{svc}:*"]
    stmt: dict[str, Any] = {
        "Sid": f"Stmt{n}",
        "Effect": "Allow" if rng.random() < 0.9 else "Deny",
        "Action": actions,
        "Resource": f"arn:aws:{svc}:us-east-1:{account}:team-{rng.randint(1, 40)}/*",
    }
    if rng.random() < 0.3:
        stmt["Condition"] = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    return stmt


def make_corpus(documents: int, seed: int = 7) -> dict[str, dict[str, Any]]:
    """``documents`` IAM-like policies, the same for the same seed: policy id -> policy."""
    rng = random.Random(seed)
    corpus = {}
    for i in range(documents):
        account = rng.randint(10**11, 10**12 - 1)
        pid = f"policy-{i:05d}"
        corpus[pid] = {
            "Version": "2012-10-17",
            "Id": pid,
            "Statement": [_statement(rng, n, account) for n in range(rng.randint(1, 4))],
        }
    return corpus


def change_some(corpus: dict[str, dict[str, Any]], rate: float, rng: random.Random) -> list[str]:
    """Edits ``rate`` of the policies in place (a statement added, replaced or widened); returns their ids."""
    ids = rng.sample(sorted(corpus), max(1, round(len(corpus) * rate)))
    for pid in ids:
        statements = corpus[pid]["Statement"]
        account = int(statements[0]["Resource"].split(":")[4])
        kind = rng.random()
        if kind < 0.4 and len(statements) < 5:
            statements.append(_statement(rng, len(statements), account))
        elif kind < 0.8:
            statements[rng.randrange(len(statements))] = _statement(rng, rng.randint(0, 9), account)
        else:
            widened = [statements[0]["Action"][0].split(":")[0] + ":*"]
            if statements[0]["Action"] == widened:  # already a wildcard: narrow it instead
                widened = [widened[0].replace("*", "Get*")]
            statements[0]["Action"] = widened
    return ids


def render(policy: dict[str, Any]) -> str:
    return json.dumps(policy, indent=2, sort_keys=True)


# --- what the example measures -------------------------------------------------------


@dataclass
class Totals:
    """Calls, tokens and cost of one run's week, as measured from the API responses (or the ledger)."""

    calls: int = 0
    input_tokens: int = 0  # inclusive of cache reads
    cache_read_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    skipped: int = 0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def add(self, other: Totals) -> None:
        self.calls += other.calls
        self.input_tokens += other.input_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.output_tokens += other.output_tokens
        self.cost_usd += other.cost_usd
        self.skipped += other.skipped

    def same_usage(self, other: Totals) -> bool:
        return (self.calls, self.input_tokens, self.cache_read_tokens, self.output_tokens, self.cost_usd) == (
            other.calls, other.input_tokens, other.cache_read_tokens, other.output_tokens, other.cost_usd)


def make_reviewer(client: Any) -> Callable[[str, int, str, str], dict[str, Any]]:
    """The review of one policy: one task, one LLM call. Returns the verdict and what the call used."""

    def review(run: str, week: int, policy_id: str, document: str) -> dict[str, Any]:
        with llm_otel.task("policy-review", id=f"{run}/week-{week}/{policy_id}", team="secops"), \
                llm_otel.agent("policy-reviewer"), llm_otel.prompt("policy-review", version=PROMPT_VERSION):
            started = time.time()
            resp = client.chat.completions.create(
                model=_common.OPENAI_MODEL,
                max_tokens=150,
                messages=[{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": document}],
            )
        u = resp.usage
        cached = (u.prompt_tokens_details.cached_tokens or 0) if u.prompt_tokens_details else 0
        usage = Usage(input_tokens=u.prompt_tokens, output_tokens=u.completion_tokens, cache_read_tokens=cached)
        cost = price(usage, provider="openai", model=resp.model, at=started, request_model=_common.OPENAI_MODEL)
        # What a real reviewer would parse out of the answer (never logged); the usage is for the tally.
        return {"policy": policy_id, "response_id": resp.id, "reviewed_week": week,
                "usage": [usage.input_tokens, usage.cache_read_tokens, usage.output_tokens], "cost": str(cost.total)}

    return review


# --- fan-out: review processes, like a fleet of agent workers ----------------------------
# One Python process drives only ~150-250 instrumented calls per second (building each request
# in the openai client dominates), so a week's documents are split over worker processes, each
# instrumented and exporting its own spans over OTLP, as a production job's workers would be.

_worker: dict[str, Any] = {}


def _init_worker(base_url: str, otlp_endpoint: str, store_path: str) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "policy-review"}))
    # A queue large enough that no span is dropped: the ledger check counts every one.
    provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=otlp_endpoint, timeout=30),
        max_queue_size=100_000, max_export_batch_size=1024, schedule_delay_millis=200,
    ))
    llm_otel.instrument(tracer_provider=provider)
    review = make_reviewer(_common.openai_client(base_url))
    _worker.update(
        provider=provider,
        without=review,
        # The helper: skip the review when the policy's content (with the prompt version) is
        # unchanged since its last successful review, and return the stored verdict instead.
        with_=skip_unchanged(
            key=lambda run, week, policy_id, document: policy_id,
            content=lambda run, week, policy_id, document: document,
            version=PROMPT_VERSION,
            store=SQLiteStore(store_path),
        )(review),
    )


def _review_shard(run: str, week: int, docs: list[tuple[str, str]], threads: int) -> Totals:
    """Reviews ``docs`` in this worker (a few threads overlap the HTTP waits); spans flushed on return."""
    review = _worker["with_" if run == RUNS[1] else "without"]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(lambda d: review(run, week, d[0], d[1]), docs))
    _worker["provider"].force_flush()
    totals = Totals()
    for r in results:
        if r["reviewed_week"] != week:  # the stored result of an earlier week: no call was made
            totals.skipped += 1
            continue
        totals.calls += 1
        totals.input_tokens += r["usage"][0]
        totals.cache_read_tokens += r["usage"][1]
        totals.output_tokens += r["usage"][2]
        totals.cost_usd += Decimal(r["cost"])
    return totals


def run_weeks(run: str, pool: Executor, *, documents: int, weeks: int, change_rate: float, processes: int,
              threads: int) -> dict[int, Totals]:
    """Reviews the whole corpus once per week; the corpus changes (same seed, same edits) between weeks."""
    corpus = make_corpus(documents)
    rng = random.Random(1234)
    out: dict[int, Totals] = {}
    for week in range(1, weeks + 1):
        if week > 1:
            change_some(corpus, change_rate, rng)
        docs = [(pid, render(policy)) for pid, policy in corpus.items()]
        shards = [docs[i::processes] for i in range(processes)]
        week_totals = Totals()
        for t in pool.map(_review_shard, [run] * processes, [week] * processes, shards, [threads] * processes):
            week_totals.add(t)
        out[week] = week_totals
    return out


def ledger_totals(ledger_url: str, expected_calls: int, timeout: float = 60.0) -> dict[tuple[str, int], Totals]:
    """What the processor's ledger holds per (run, week), once it holds ``expected_calls`` counted calls."""
    deadline = time.monotonic() + timeout
    with open_ledger(ledger_url) as ledger:
        while True:
            counted = sum(ledger.totals().get(semconv.METRIC_CALLS, {}).values())
            if counted >= expected_calls or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        out: dict[tuple[str, int], Totals] = {}
        for row in ledger.iter_calls(0, 2**62):
            run, week, _ = (row.task_id or "?/week-0/?").split("/", 2)
            t = out.setdefault((run, int(week.removeprefix("week-"))), Totals())
            t.calls += 1
            t.input_tokens += (row.tokens_input or 0) + (row.tokens_cache_read or 0) + (row.tokens_cache_write or 0)
            t.cache_read_tokens += row.tokens_cache_read or 0
            t.output_tokens += row.tokens_output or 0
            t.cost_usd += row.cost_total
    return out


def _pct(before: float, after: float) -> float:
    return 100.0 * (1.0 - after / before) if before else 0.0


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = _common.parse_args(
        __doc__.splitlines()[0], argv, documents=2000, weeks=4, change_rate=0.01,
        processes=min(4, os.cpu_count() or 1), threads=2,
    )
    started = time.monotonic()
    measured: dict[tuple[str, int], Totals] = {}
    with tempfile.TemporaryDirectory(prefix="llm-otel-policy-review-") as tmp, \
            _common.fake_api(args.base_url) as url, collector(Path(tmp)) as coll, \
            ProcessPoolExecutor(
                max_workers=args.processes, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(url, f"http://{coll.http}/v1/traces", str(Path(tmp) / "unchanged.db")),
            ) as pool:
        for run in RUNS:
            for week, totals in run_weeks(run, pool, documents=args.documents, weeks=args.weeks,
                                          change_rate=args.change_rate, processes=args.processes,
                                          threads=args.threads).items():
                measured[run, week] = totals
        expected = sum(t.calls for t in measured.values())
        ledger = ledger_totals(coll.ledger_url, expected)

    print(f"{args.documents} policies, {args.weeks} weekly reviews, {args.change_rate:.0%} changed per week "
          f"(model {_common.OPENAI_MODEL}, prompt {PROMPT_VERSION})\n")
    print(f"{'week':>4} | {'without helper: calls':>21} {'tokens':>10} {'cost USD':>10} | "
          f"{'with skip_unchanged: calls':>26} {'skipped':>7} {'tokens':>9} {'cost USD':>10} | "
          f"{'reduction tokens':>16} {'cost':>7}")
    weeks: list[dict[str, Any]] = []
    for week in range(1, args.weeks + 1):
        a, b = measured[RUNS[0], week], measured[RUNS[1], week]
        red_tokens, red_cost = _pct(a.tokens, b.tokens), _pct(float(a.cost_usd), float(b.cost_usd))
        print(f"{week:>4} | {a.calls:>21} {a.tokens:>10,} {a.cost_usd:>10.4f} | "
              f"{b.calls:>26} {b.skipped:>7} {b.tokens:>9,} {b.cost_usd:>10.4f} | "
              f"{red_tokens:>15.1f}% {red_cost:>6.1f}%")
        weeks.append({"week": week, "without_calls": a.calls, "without_tokens": a.tokens,
                      "without_cost_usd": float(a.cost_usd), "with_calls": b.calls, "with_skipped": b.skipped,
                      "with_tokens": b.tokens, "with_cost_usd": float(b.cost_usd),
                      "reduction_tokens_pct": red_tokens, "reduction_cost_pct": red_cost})
    total_a = sum((measured[RUNS[0], w].cost_usd for w in range(1, args.weeks + 1)), Decimal(0))
    total_b = sum((measured[RUNS[1], w].cost_usd for w in range(1, args.weeks + 1)), Decimal(0))
    print(f"\n{args.weeks}-week cost: {total_a:.4f} USD without, {total_b:.4f} USD with the helper "
          f"({_pct(float(total_a), float(total_b)):.1f}% less)")

    print("\nledger check (llm-otel collector's ledger vs what the example measured from the responses):")
    agree = True
    for run in RUNS:
        for week in range(1, args.weeks + 1):
            mine, theirs = measured[run, week], ledger.get((run, week), Totals())
            ok = mine.same_usage(theirs)
            agree = agree and ok
            print(f"  {run:>14} week {week}: ledger {theirs.calls:>5} calls {theirs.tokens:>10,} tokens "
                  f"{theirs.cost_usd:.9f} USD; measured {mine.calls:>5} calls {mine.tokens:>10,} tokens "
                  f"{mine.cost_usd:.9f} USD -> {'equal' if ok else 'DIFFERENT'}")
    unexpected = sorted(k for k in ledger if k not in measured)
    if unexpected:
        agree = False
        print(f"  the ledger also holds calls the example did not make: {unexpected}")
    elapsed = time.monotonic() - started
    print(f"\nledger {'agrees' if agree else 'DISAGREES'}; {elapsed:.1f}s")
    return {"weeks": weeks, "ledger_agrees": agree, "elapsed_s": elapsed,
            "total_without_usd": float(total_a), "total_with_usd": float(total_b)}


if __name__ == "__main__":
    sys.exit(0 if main()["ledger_agrees"] else 1)
