"""SQLite backend: one file, WAL journal, exact decimals kept as TEXT and added in Python.

Durability: ``synchronous=FULL`` (default) makes every commit durable on power loss, which
is what "Export answered success only after its rows are durable" needs. ``synchronous=normal``
(URL query ``?synchronous=normal``) is faster and still survives a process crash (``kill -9``)
in WAL mode, but the last commits can be lost if the machine loses power.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from llm_otel.processor.ledger.dialect import EXACT, Cursor, Dialect, Row
from llm_otel.processor.ledger.rows import dec_text

BUSY_TIMEOUT_S = 30.0
# Keys per lookup query (2 parameters each; SQLite allows 32766). The keys are a VALUES table
# CROSS JOINed to the table so SQLite probes the primary key once per key: ``(a, b) IN (VALUES ...)``
# made it scan the whole primary-key index on every query, a cost that grew with the ledger.
_CHUNK = 400
_MAX_PARAMS = 8000  # parameters per multi-row upsert (SQLite allows 32766; smaller compiles faster)


def _null(value: None) -> None:
    return None


def _register_binding_fast_paths() -> None:
    """Bind None and bool without sqlite3's adaptation protocol lookup.

    Hot path (benchmarks/processor_throughput.py): sqlite3 sends every parameter that is not an
    exact int/float/str through ``microprotocols_adapt``, which for a type without a registered
    adapter asks the ``PrepareProtocol`` type for ``__adapt__`` (raising and clearing an
    AttributeError each time). A call row has ~25 NULLs and 5 flags: that halved the binding of
    a 66-column row (25 -> 12 us). The adapters bind exactly what sqlite3 bound before (NULL;
    bool as the integer 0/1), so other sqlite3 users in the process see no difference; an
    adapter someone registered first is left alone.
    """
    if (type(None), sqlite3.PrepareProtocol) not in sqlite3.adapters:
        sqlite3.register_adapter(type(None), _null)
    if (bool, sqlite3.PrepareProtocol) not in sqlite3.adapters:
        sqlite3.register_adapter(bool, int)


_register_binding_fast_paths()


def _dec_add(a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return a if b is None else b
    return dec_text(EXACT.add(Decimal(a), Decimal(b)))


class _DecSum:
    """``dec_sum(column)``: exact SUM of TEXT decimals (SQLite's own SUM would go through float)."""

    def __init__(self) -> None:
        self.total: Decimal | None = None

    def step(self, value: str | None) -> None:
        if value is not None:
            self.total = EXACT.add(self.total or Decimal(0), Decimal(value))

    def finalize(self) -> str | None:
        return None if self.total is None else dec_text(self.total)


def _max_rowid(cur: Cursor, table: str) -> int:
    """The largest rowid of ``table`` (0 when empty): one step down the table's b-tree."""
    cur.execute(f"SELECT max(rowid) AS m FROM {table}")
    return int(cur.fetchone()["m"] or 0)


def _dict_row(cur: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {d[0]: v for d, v in zip(cur.description, row, strict=True)}


class SQLiteDialect(Dialect):
    name = "sqlite"
    dec_type = "TEXT"
    float_type = "REAL"
    for_update = ""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        path = url[len("sqlite:///") :].split("?", 1)[0] if url.startswith("sqlite:///") else ""
        if not path:
            raise ValueError(f"ledger URL {url!r}: expected sqlite:///PATH (e.g. sqlite:///llm-otel.db)")
        self.path = path
        query = parse_qs(parts.query)
        sync = query.get("synchronous", ["full"])[0].upper()
        if sync not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError(f"ledger URL {url!r}: synchronous must be full, normal or extra, got {sync!r}")
        self.synchronous = sync

    def add(self, a: str, b: str) -> str:
        return f"dec_add({a}, {b})"

    def enc(self, value: Decimal) -> str:
        return dec_text(value)

    def dec(self, value: Any) -> Decimal:
        return Decimal(value)

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        conn.row_factory = _dict_row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        conn.create_function("dec_add", 2, _dec_add, deterministic=True)
        conn.create_aggregate("dec_sum", 1, _DecSum)  # type: ignore[arg-type]
        return conn

    @contextmanager
    def transaction(self, conn: sqlite3.Connection, *, readonly: bool = False) -> Iterator[Cursor]:
        cur = conn.cursor()
        # Writers take the write lock up front: no lock-upgrade deadlocks between processes.
        cur.execute("BEGIN" if readonly else "BEGIN IMMEDIATE")
        try:
            yield cur
        except BaseException:
            conn.rollback()
            raise
        else:
            cur.execute("COMMIT")
        finally:
            cur.close()

    def upsert_rows(
        self, cur: Cursor, head: str, tail: str, rows: Sequence[Sequence[Any]], types: Sequence[str]
    ) -> list[Row]:
        """Multi-row ``VALUES`` upserts (one statement per chunk of rows instead of one per row).

        Hot path (task sums, once per batch). SQLite applies the rows in the given order, so the
        effect is that of the row-by-row version; RETURNING rows come back in no promised order.
        """
        if not rows:
            return []
        width = len(rows[0])
        per = max(1, _MAX_PARAMS // width)
        one = f"({', '.join('?' * width)})"
        out: list[Row] = []
        for k in range(0, len(rows), per):
            chunk = rows[k : k + per]
            cur.execute(f"{head} VALUES {', '.join([one] * len(chunk))} {tail}", [x for r in chunk for x in r])
            out.extend(cur.fetchall())
        return out

    def insert_new(
        self,
        cur: Cursor,
        insert_head: str,
        keys: Sequence[tuple[str, str]],
        rows: Sequence[Sequence[Any]],
        types: Sequence[str],
    ) -> list[bool]:
        """Insert the rows whose key is not in the ledger yet; True per row inserted.

        Hot path. One ``executemany`` of ``INSERT .. ON CONFLICT DO NOTHING``: its ``rowcount`` (the
        rows actually inserted, summed) equals the number of rows in the common case, and then every
        row is new without a query. Otherwise the inserted keys are the rows past the largest rowid
        seen before the insert (SQLite gives a new row ``max(rowid) + 1``), read back in one query.
        Race-free because this transaction holds SQLite's write lock (BEGIN IMMEDIATE).
        """
        if not rows:
            return []
        before = _max_rowid(cur, "ledger_calls")
        tail = "ON CONFLICT (trace_id, span_id) DO NOTHING"
        cur.executemany(f"{insert_head} VALUES ({', '.join('?' * len(rows[0]))}) {tail}", rows)
        if cur.rowcount == len(rows):
            return [True] * len(rows)
        cur.execute("SELECT trace_id, span_id FROM ledger_calls WHERE rowid > ?", (before,))
        inserted = {(r["trace_id"], r["span_id"]) for r in cur.fetchall()}
        return [k in inserted for k in keys]

    def claim_responses(self, cur: Cursor, rows: Sequence[Sequence[Any]]) -> list[Row]:
        """Claim-or-read each (provider, response id) arbiter row: safe under the write lock.

        Hot path, as ``insert_new``: claims by ``INSERT .. ON CONFLICT DO NOTHING``; the rows that
        were already held are read back only when some insert did not happen.
        """
        if not rows:
            return []
        names = ("provider", "response_id", "trace_id", "span_id", "richness")
        before = _max_rowid(cur, "ledger_responses")
        cur.executemany(
            "INSERT INTO ledger_responses (provider, response_id, trace_id, span_id, richness, start_ns) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (provider, response_id) DO NOTHING",
            rows,
        )
        if cur.rowcount == len(rows):
            return [dict(zip(names, r, strict=False)) for r in rows]  # the first 5 columns
        cur.execute("SELECT provider, response_id FROM ledger_responses WHERE rowid > ?", (before,))
        claimed = {(r["provider"], r["response_id"]) for r in cur.fetchall()}
        held = [(r[0], r[1]) for r in rows if (r[0], r[1]) not in claimed]
        found: list[Row] = []
        for k in range(0, len(held), _CHUNK):
            chunk = held[k : k + _CHUNK]
            cur.execute(
                f"WITH k(a, b) AS (VALUES {', '.join(['(?, ?)'] * len(chunk))}) SELECT r.provider, r.response_id, "
                "r.trace_id, r.span_id, r.richness FROM k CROSS JOIN ledger_responses r "
                "ON r.provider = k.a AND r.response_id = k.b",
                [x for key in chunk for x in key],
            )
            found.extend(cur.fetchall())
        return [*found, *(dict(zip(names, r, strict=False)) for r in rows if (r[0], r[1]) in claimed)]

    def retryable(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)

    def broken(self, conn: Any) -> bool:
        return False

    def migration_lock(self, cur: Cursor) -> None:
        return None  # BEGIN IMMEDIATE already holds the database's write lock

    def table_exists(self, cur: Cursor, name: str) -> bool:
        cur.execute("SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
        return cur.fetchone() is not None
