"""The normalized token buckets of one LLM call: what the span contract carries and pricing consumes.

Counts are ``None`` when the provider did not report them (the span then leaves the
attribute out); ``0`` means reported as zero. ``input_tokens`` is INCLUSIVE of cache
reads and cache writes for every provider; ``output_tokens`` includes reasoning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from llm_otel import semconv


@dataclass(frozen=True, slots=True)
class IterationUsage:
    """One entry of Anthropic ``usage.iterations`` (compaction, advisor) billed on top of top-level usage."""

    kind: str
    model: str | None = None
    input_tokens: int = 0  # inclusive of cache_read and cache_write, like the top level
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    cache_write_5m_tokens: int | None = None
    cache_write_1h_tokens: int | None = None
    cache_write_30m_tokens: int | None = None
    cache_write_12h_tokens: int | None = None
    reasoning_tokens: int | None = None
    iterations: tuple[IterationUsage, ...] = field(default=())
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        """Billed tokens of the top-level usage (input inclusive + output)."""
        return (self.input_tokens or 0) + (self.output_tokens or 0)

    def attributes(self) -> dict[str, int | bool | str]:
        """Span attributes for this usage; unreported counts are left out."""
        # Hot path (once per call, ``benchmarks/sdk_overhead.py``): plain ifs, no tuple of pairs per call.
        out: dict[str, int | bool | str] = {}
        if self.input_tokens is not None:
            out[semconv.GEN_AI_USAGE_INPUT_TOKENS] = self.input_tokens
        if self.output_tokens is not None:
            out[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] = self.output_tokens
        if self.cache_read_tokens is not None:
            out[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = self.cache_read_tokens
        if self.cache_write_tokens is not None:
            out[semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] = self.cache_write_tokens
        if self.cache_write_5m_tokens is not None:
            out[semconv.USAGE_CACHE_WRITE_5M] = self.cache_write_5m_tokens
        if self.cache_write_1h_tokens is not None:
            out[semconv.USAGE_CACHE_WRITE_1H] = self.cache_write_1h_tokens
        if self.cache_write_30m_tokens is not None:
            out[semconv.USAGE_CACHE_WRITE_30M] = self.cache_write_30m_tokens
        if self.cache_write_12h_tokens is not None:
            out[semconv.USAGE_CACHE_WRITE_12H] = self.cache_write_12h_tokens
        if self.reasoning_tokens is not None:
            out[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = self.reasoning_tokens
        for it in self.iterations:
            if it.model:
                out[semconv.iteration_attribute(it.kind, "model")] = it.model
            for bucket, value in (
                ("input_tokens", it.input_tokens),
                ("output_tokens", it.output_tokens),
                ("cache_read.input_tokens", it.cache_read_tokens),
                ("cache_write.input_tokens", it.cache_write_tokens),
            ):
                key = semconv.iteration_attribute(it.kind, bucket)
                out[key] = int(out.get(key, 0)) + value
        if self.estimated:
            out[semconv.USAGE_ESTIMATED] = True
        return out
