"""Fixtures of the processor tests: PostgreSQL schemas; helper modules of this folder importable."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def pg_schemas() -> Iterator[Callable[[], str]]:
    """Makes fresh PostgreSQL schemas (unique per test, dropped after); each call returns a ledger URL."""
    psycopg = pytest.importorskip("psycopg")
    try:
        conn = psycopg.connect(PG_DSN, autocommit=True, connect_timeout=3)
    except Exception as exc:
        pytest.skip(f"PostgreSQL not reachable at {PG_DSN} ({exc}); start it (CI: .ci/run does) to run this test")
    made: list[str] = []

    def make() -> str:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        conn.execute(f"CREATE SCHEMA {schema}")
        made.append(schema)
        return f"{PG_DSN}?schema={schema}"

    try:
        yield make
    finally:
        for schema in made:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
        conn.close()
