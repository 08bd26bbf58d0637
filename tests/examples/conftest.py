"""Runs an example as its own process (a fresh interpreter: instrument() and tracer providers are per process).

``run_example("policy_review.py", "--documents", "2000")`` imports the example in a child Python,
calls its ``main(argv)`` and returns (what it printed, the dict ``main`` returned, JSON-decoded).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

_RUNNER = """
import importlib, json, sys
from pathlib import Path
path, out = Path(sys.argv[1]), sys.argv[2]
sys.path.insert(0, str(path.parent))
result = importlib.import_module(path.stem).main(sys.argv[3:])
Path(out).write_text(json.dumps(result, default=str))
"""

RunExample = Callable[..., tuple[str, dict[str, Any]]]


@pytest.fixture
def run_example(tmp_path: Path) -> RunExample:
    def run(relative: str, *argv: str, timeout: float = 240) -> tuple[str, dict[str, Any]]:
        out = tmp_path / "result.json"
        proc = subprocess.run(
            [sys.executable, "-c", _RUNNER, str(EXAMPLES / relative), str(out), *argv],
            capture_output=True, text=True, timeout=timeout, cwd=tmp_path,
        )
        assert proc.returncode == 0, f"{relative} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        return proc.stdout, json.loads(out.read_text())

    return run
