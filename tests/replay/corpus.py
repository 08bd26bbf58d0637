"""Loads the recorded exchanges of ``../shared/corpus/dev.jsonl.gz`` (see its README)."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

DEFAULT = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "dev.jsonl.gz"
CORPUS = Path(os.environ.get("LLM_OTEL_CORPUS", DEFAULT))
#: The shipped dev corpus (README counts hold for it); another file (LLM_OTEL_CORPUS) has its own.
IS_DEV = CORPUS.resolve() == DEFAULT.resolve()


@lru_cache(maxsize=1)
def load() -> tuple[dict[str, Any], ...]:
    with gzip.open(CORPUS, "rt", encoding="utf-8") as fh:
        return tuple(json.loads(line) for line in fh)


def exchanges(provider: str | None = None, *, replayable: bool = True) -> Iterator[dict[str, Any]]:
    """Exchanges (optionally of one provider); ``replayable``: with ``expected`` and a 2xx status."""
    for ex in load():
        if provider is not None and ex["provider"] != provider:
            continue
        if replayable and (ex["expected"] is None or not 200 <= ex["status"] < 300):
            continue
        yield ex


def is_async(ex: dict[str, Any]) -> bool:
    return str(ex.get("request_headers", {}).get("x-stainless-async", "false")).startswith("async")
