from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llm_otel import semconv
from llm_otel.pricing import Usage
from llm_otel.sdk.unchanged import (
    SPAN_NAME,
    SQLiteStore,
    StoredRun,
    call_unless_unchanged,
    content_digest,
    note_call,
    skip_unchanged,
)


class CountingReview:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, doc: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        note_call("openai", "gpt-4o-mini", Usage(input_tokens=1000, output_tokens=50, cache_read_tokens=0))
        return {"id": doc["id"], "verdict": "ok"}


def test_an_unchanged_document_is_not_reviewed_again_and_its_stored_result_is_returned(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "u.db")
    review = CountingReview()
    doc = {"id": "p1", "text": "Allow s3:GetObject"}
    first = call_unless_unchanged("p1", doc["text"], lambda: review(doc), version="v1", store=store)
    second = call_unless_unchanged("p1", doc["text"], lambda: review(doc), version="v1", store=store)
    assert review.calls == 1
    assert first == second == {"id": "p1", "verdict": "ok"}


def test_a_changed_document_or_prompt_version_is_reviewed_again(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "u.db")
    review = CountingReview()
    doc = {"id": "p1", "text": "Allow s3:GetObject"}
    call_unless_unchanged("p1", doc["text"], lambda: review(doc), version="v1", store=store)
    call_unless_unchanged("p1", doc["text"] + " *", lambda: review(doc), version="v1", store=store)
    call_unless_unchanged("p1", doc["text"] + " *", lambda: review(doc), version="v2", store=store)
    assert review.calls == 3


def test_a_failed_run_is_not_stored_so_the_next_run_calls_again(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "u.db")

    def boom() -> None:
        raise RuntimeError("model down")

    with pytest.raises(RuntimeError, match="model down"):
        call_unless_unchanged("k", "same", boom, store=store)
    assert store.get("k") is None


def test_a_skip_records_the_avoided_tokens_and_cost_of_the_last_real_run(tmp_path: Path, spans: Any) -> None:
    store = SQLiteStore(tmp_path / "u.db")
    review = CountingReview()

    @skip_unchanged(key=lambda d: d["id"], content=lambda d: d["text"], version="v1", store=store)
    def run(d: dict[str, Any]) -> dict[str, Any]:
        return review(d)

    doc = {"id": "p9", "text": "Deny *"}
    run(doc)
    spans.clear()
    run(doc)
    (span,) = [s for s in spans.get_finished_spans() if s.name == SPAN_NAME]
    attrs = dict(span.attributes or {})
    assert attrs[semconv.AVOIDED_PREFIX + "calls"] == 1
    assert attrs[semconv.AVOIDED_PREFIX + "input_tokens"] == 1000
    assert attrs[semconv.AVOIDED_PREFIX + "output_tokens"] == 50
    # gpt-4o-mini list prices: 1,000 input at $0.15/M + 50 output at $0.60/M.
    assert attrs[semconv.AVOIDED_PREFIX + "cost_usd"] == pytest.approx(1000 * 0.15e-6 + 50 * 0.6e-6)


class BrokenStore:
    def get(self, key: str) -> StoredRun | None:
        raise OSError("disk gone")

    def put(self, key: str, run: StoredRun) -> None:
        raise OSError("disk gone")


def test_a_broken_store_never_breaks_the_call() -> None:
    assert call_unless_unchanged("k", "c", lambda: 42, store=BrokenStore()) == 42


def test_the_digest_depends_on_content_and_version() -> None:
    assert content_digest("a", "v1") == content_digest(b"a", "v1")
    assert content_digest("a", "v1") != content_digest("a", "v2")
    assert content_digest({"b": 1, "a": 2}, None) == content_digest({"a": 2, "b": 1}, None)
