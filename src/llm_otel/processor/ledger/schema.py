"""The ledger's schema, as an ordered list of forward-only migrations, and the code that applies them.

Each migration is frozen once released: never edit one, append a new one. DDL is shared
by SQLite and PostgreSQL; ``{dec}`` (exact decimal: NUMERIC / TEXT) and ``{float}`` are
filled in per dialect. Column meanings: docs/ledger.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from llm_otel.processor.ledger.dialect import Cursor, Dialect


class SchemaTooNew(RuntimeError):
    """The ledger was migrated by a newer llm-otel; this one must not write to it."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


_V1_CALLS = """
CREATE TABLE ledger_calls (
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    parent_span_id TEXT,
    start_ns BIGINT NOT NULL,
    end_ns BIGINT NOT NULL,
    recorded_ns BIGINT NOT NULL,
    provider TEXT NOT NULL,
    operation TEXT,
    request_model TEXT,
    response_model TEXT,
    model TEXT,
    response_id TEXT,
    counted BOOLEAN NOT NULL,
    superseded_by TEXT,
    richness BIGINT NOT NULL,
    tokens_input BIGINT,
    tokens_cache_read BIGINT,
    tokens_cache_write BIGINT,
    tokens_cache_write_5m BIGINT,
    tokens_cache_write_1h BIGINT,
    tokens_cache_write_30m BIGINT,
    tokens_cache_write_12h BIGINT,
    tokens_output BIGINT,
    tokens_reasoning BIGINT,
    tokens_iterations_input BIGINT NOT NULL,
    tokens_iterations_cache_read BIGINT NOT NULL,
    tokens_iterations_cache_write BIGINT NOT NULL,
    tokens_iterations_output BIGINT NOT NULL,
    iterations TEXT,
    usage_estimated BOOLEAN NOT NULL,
    cost_input {dec} NOT NULL,
    cost_cache_read {dec} NOT NULL,
    cost_cache_write {dec} NOT NULL,
    cost_output {dec} NOT NULL,
    cost_total {dec} NOT NULL,
    list_cost_input {dec} NOT NULL,
    list_cost_cache_read {dec} NOT NULL,
    list_cost_cache_write {dec} NOT NULL,
    list_cost_output {dec} NOT NULL,
    list_cost_total {dec} NOT NULL,
    cache_savings {dec} NOT NULL,
    cache_write_premium {dec} NOT NULL,
    cost_buckets TEXT NOT NULL,
    cost_source TEXT NOT NULL,
    cost_estimated BOOLEAN NOT NULL,
    unpriced_reason TEXT,
    data_version TEXT,
    billing_provider TEXT,
    priced_model TEXT,
    service_tier TEXT,
    task_id TEXT,
    task_type TEXT,
    team TEXT,
    agent_name TEXT,
    agent_id TEXT,
    prompt_template TEXT,
    prompt_version TEXT,
    tools_count BIGINT,
    tools_bytes BIGINT,
    messages_count BIGINT,
    error_type TEXT,
    dialect TEXT NOT NULL,
    flags TEXT NOT NULL,
    stream_complete BOOLEAN,
    late BOOLEAN NOT NULL,
    service_name TEXT,
    PRIMARY KEY (trace_id, span_id)
)"""

_V1_RESPONSES = """
CREATE TABLE ledger_responses (
    provider TEXT NOT NULL,
    response_id TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    richness BIGINT NOT NULL,
    start_ns BIGINT NOT NULL,
    PRIMARY KEY (provider, response_id)
)"""

_V1_TASKS = """
CREATE TABLE ledger_tasks (
    task_id TEXT PRIMARY KEY,
    task_type TEXT,
    team TEXT,
    status TEXT,
    trace_id TEXT,
    span_trace_id TEXT,
    span_id TEXT,
    start_ns BIGINT,
    end_ns BIGINT,
    budget_usd {dec},
    has_span BOOLEAN NOT NULL DEFAULT FALSE,
    calls BIGINT NOT NULL DEFAULT 0,
    error_calls BIGINT NOT NULL DEFAULT 0,
    unpriced_calls BIGINT NOT NULL DEFAULT 0,
    tokens_input BIGINT NOT NULL DEFAULT 0,
    tokens_cache_read BIGINT NOT NULL DEFAULT 0,
    tokens_cache_write BIGINT NOT NULL DEFAULT 0,
    tokens_output BIGINT NOT NULL DEFAULT 0,
    tokens_reasoning BIGINT NOT NULL DEFAULT 0,
    cost {dec} NOT NULL DEFAULT '0',
    list_cost {dec} NOT NULL DEFAULT '0',
    cache_savings {dec} NOT NULL DEFAULT '0',
    cache_write_premium {dec} NOT NULL DEFAULT '0',
    first_call_ns BIGINT,
    last_call_ns BIGINT,
    last_seen_ns BIGINT NOT NULL,
    late_spans BIGINT NOT NULL DEFAULT 0,
    finalized BOOLEAN NOT NULL DEFAULT FALSE,
    finalized_ns BIGINT
)"""

_V1_TOTALS = """
CREATE TABLE ledger_totals (
    replica TEXT NOT NULL,
    metric TEXT NOT NULL,
    labels TEXT NOT NULL,
    value {dec} NOT NULL,
    PRIMARY KEY (replica, metric, labels)
)"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "calls, response arbiter, tasks, counter totals (issue 4)",
        (
            _V1_CALLS,
            "CREATE INDEX ledger_calls_start ON ledger_calls (start_ns)",
            "CREATE INDEX ledger_calls_task ON ledger_calls (task_id)",
            _V1_RESPONSES,
            "CREATE INDEX ledger_responses_start ON ledger_responses (start_ns)",
            _V1_TASKS,
            _V1_TOTALS,
        ),
    ),
    Migration(
        2,
        "task anomalies, context economics and anomaly baselines (issue 7)",
        (
            "ALTER TABLE ledger_tasks ADD COLUMN anomaly_runaway BOOLEAN",
            "ALTER TABLE ledger_tasks ADD COLUMN anomaly_retry_loop BOOLEAN",
            "ALTER TABLE ledger_tasks ADD COLUMN anomaly_context_blowup BOOLEAN",
            "ALTER TABLE ledger_tasks ADD COLUMN anomaly_detail TEXT",
            "ALTER TABLE ledger_tasks ADD COLUMN turns BIGINT",
            "ALTER TABLE ledger_tasks ADD COLUMN tokens_resent BIGINT",
            "ALTER TABLE ledger_tasks ADD COLUMN cache_share {float}",
            "ALTER TABLE ledger_tasks ADD COLUMN tool_share {float}",
            "ALTER TABLE ledger_tasks ADD COLUMN tool_tokens BIGINT",
            "ALTER TABLE ledger_tasks ADD COLUMN first_input_tokens BIGINT",
            "ALTER TABLE ledger_tasks ADD COLUMN max_input_tokens BIGINT",
            """CREATE TABLE ledger_baselines (
                key TEXT PRIMARY KEY,
                samples TEXT NOT NULL,
                sample_count BIGINT NOT NULL,
                updated_ns BIGINT NOT NULL
            )""",
        ),
    ),
    Migration(
        3,
        "indexes for the rollup (open tasks) and FinOps (tasks by time)",
        (
            "CREATE INDEX ledger_tasks_open ON ledger_tasks (finalized, last_seen_ns)",
            "CREATE INDEX ledger_tasks_start ON ledger_tasks (start_ns)",
            "CREATE INDEX ledger_tasks_first_call ON ledger_tasks (first_call_ns)",
        ),
    ),
    Migration(
        4,
        "runs skip_unchanged avoided, counted once per span (issue 7)",
        (
            """CREATE TABLE ledger_avoided (
                trace_id TEXT NOT NULL,
                span_id TEXT NOT NULL,
                start_ns BIGINT NOT NULL,
                recorded_ns BIGINT NOT NULL,
                replica TEXT NOT NULL,
                task_id TEXT,
                task_type TEXT,
                team TEXT,
                calls BIGINT NOT NULL,
                tokens_input BIGINT NOT NULL,
                tokens_output BIGINT NOT NULL,
                tokens_cache_read BIGINT NOT NULL,
                cost_usd {dec} NOT NULL,
                PRIMARY KEY (trace_id, span_id)
            )""",
            "CREATE INDEX ledger_avoided_start ON ledger_avoided (start_ns)",
        ),
    ),
)

CURRENT_VERSION = MIGRATIONS[-1].version

_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS ledger_schema_version (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied_ns BIGINT NOT NULL
)"""


def schema_version(cur: Cursor, dialect: Dialect) -> int:
    """The version the ledger is at (0: empty database)."""
    if not dialect.table_exists(cur, "ledger_schema_version"):
        return 0
    cur.execute("SELECT MAX(version) AS v FROM ledger_schema_version")
    row = cur.fetchone()
    return int(row["v"]) if row and row["v"] is not None else 0


def migrate(cur: Cursor, dialect: Dialect, target: int = CURRENT_VERSION) -> int:
    """Bring the schema to ``target`` inside the caller's transaction; returns the version before.

    The caller holds the dialect's migration lock (SQLite: the write lock; PostgreSQL: an
    advisory lock), so replicas starting together migrate once.
    """
    before = schema_version(cur, dialect)
    if before > CURRENT_VERSION:
        raise SchemaTooNew(
            f"the ledger's schema is version {before}, newer than this llm-otel understands "
            f"({CURRENT_VERSION}); upgrade llm-otel (migrations are forward-only)"
        )
    cur.execute(_VERSION_TABLE)
    for m in MIGRATIONS:
        if before < m.version <= target:
            for stmt in m.statements:
                cur.execute(dialect.ddl(stmt))
            cur.execute(
                dialect.sql("INSERT INTO ledger_schema_version (version, description, applied_ns) VALUES (?, ?, ?)"),
                (m.version, m.description, time.time_ns()),
            )
    return before
