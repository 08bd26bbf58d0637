"""A batch is durable once record_calls returns: kill -9 the writer mid-load, nothing acknowledged is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from ledger_support import flat_totals, pg_schema_url, recomputed_totals, sqlite_url

from llm_otel.processor.ledger import open_ledger

WRITER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {here!r})
    from ledger_support import workload
    from llm_otel.processor.ledger import open_ledger
    calls = workload(seed=3, responses=2000, plain=0)
    with open_ledger({url!r}) as led:
        for k in range(0, len(calls), 30):
            led.record_calls(calls[k : k + 30])
            print(k + 30, flush=True)  # acknowledged: the Export would be answered success now
    """
)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
    else:
        yield from pg_schema_url()


def test_calls_acknowledged_before_a_kill_9_are_all_in_the_ledger_and_consistent(url: str) -> None:
    open_ledger(url).close()
    code = WRITER.format(here=str(Path(__file__).parent), url=url)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    acked = 0
    for line in proc.stdout:
        acked = int(line)
        if acked >= 600:
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the writer finished before it could be killed"
    with open_ledger(url) as led:
        stored = led.calls_in_range(0, 2**62, counted_only=False)
        assert len(stored) >= acked
        assert len(stored) % 30 == 0  # whole batches only: a killed transaction leaves nothing
        assert flat_totals(led) == recomputed_totals(led)
