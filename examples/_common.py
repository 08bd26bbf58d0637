"""What every example needs: the fake OpenAI/Anthropic API (or a URL), real clients, a span exporter.

Not part of llm-otel: plumbing so that each example file shows one idea and nothing else.
Each example runs against the demo's fake API server (``llm_otel.demo.fake_api``), started
in this process unless ``--base-url URL`` points at one already running (for instance
another example's, or ``llm-otel demo --serve``'s).
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llm_otel.demo.fake_api import FakeAPIServer

OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-haiku-4-5"


def parse_args(description: str, argv: Sequence[str] | None = None, **extra: Any) -> argparse.Namespace:
    """``--base-url`` (the fake API to use; default: start one here) plus ``extra`` int options."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--base-url", help="URL of a running fake API server (default: start one in-process)")
    for name, default in extra.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    return parser.parse_args(argv)


@contextlib.contextmanager
def fake_api(base_url: str | None = None) -> Iterator[str]:
    """Yields the base URL of the fake API: ``base_url`` as given, or a server started in-process."""
    if base_url:
        yield base_url.rstrip("/")
        return
    with FakeAPIServer() as server:
        yield server.url


def openai_client(base_url: str) -> Any:
    """A real ``openai.OpenAI`` client talking to the fake API (no retries: every call is visible)."""
    import openai

    return openai.OpenAI(base_url=f"{base_url}/v1", api_key="example-key", max_retries=0)


def anthropic_client(base_url: str) -> Any:
    """A real ``anthropic.Anthropic`` client talking to the fake API."""
    import anthropic

    return anthropic.Anthropic(base_url=base_url, api_key="example-key", max_retries=0)


def memory_provider(service_name: str) -> tuple[TracerProvider, InMemorySpanExporter]:
    """A TracerProvider that keeps finished spans in memory, so the example can print them."""
    from opentelemetry.sdk.resources import Resource

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def llm_spans(spans: Sequence[ReadableSpan]) -> list[ReadableSpan]:
    """The GenAI client spans (one per LLM call) among ``spans``, in end order."""
    return [s for s in spans if s.attributes and "gen_ai.operation.name" in s.attributes]


def fit_polynomial(xs: Sequence[float], ys: Sequence[float], degree: int) -> tuple[list[float], float]:
    """Least-squares polynomial fit (no numpy): (coefficients, highest power first; R^2)."""
    n = degree + 1
    # Normal equations A^T A c = A^T y, solved by Gaussian elimination with partial pivoting.
    ata = [[sum(x ** (i + j) for x in xs) for j in range(n)] for i in range(n)]
    aty = [sum(y * x**i for x, y in zip(xs, ys, strict=True)) for i in range(n)]
    m = [[*row, b] for row, b in zip(ata, aty, strict=True)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(n):
            if r != col and m[col][col]:
                f = m[r][col] / m[col][col]
                m[r] = [a - f * b for a, b in zip(m[r], m[col], strict=True)]
    coef_low_first = [m[i][n] / m[i][i] if m[i][i] else 0.0 for i in range(n)]
    predicted = [sum(c * x**i for i, c in enumerate(coef_low_first)) for x in xs]
    mean = sum(ys) / len(ys)
    ss_tot = sum((y - mean) ** 2 for y in ys)
    ss_res = sum((y - p) ** 2 for y, p in zip(ys, predicted, strict=True))
    r2 = 1.0 - ss_res / ss_tot if ss_tot else 1.0
    return list(reversed(coef_low_first)), r2
