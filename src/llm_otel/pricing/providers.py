"""Who bills a call: ``gen_ai.provider.name`` values mapped to genai-prices billing providers.

The conventions name the API surface a call went to; the bill comes from the entity
that runs it. ``azure.ai.openai`` is Azure (its own price list, falling back to
OpenAI's where genai-prices says Azure resells at OpenAI's rates), never OpenAI.
"""

from __future__ import annotations

from typing import Final

from llm_otel import semconv

# gen_ai.provider.name (and a few older gen_ai.system spellings) -> genai-prices provider id.
BILLING_PROVIDER: Final[dict[str, str]] = {
    semconv.PROVIDER_OPENAI: "openai",
    semconv.PROVIDER_ANTHROPIC: "anthropic",
    semconv.PROVIDER_AZURE_OPENAI: "azure",
    "azure.ai.inference": "azure",
    "az.ai.openai": "azure",
    "az.ai.inference": "azure",
    semconv.PROVIDER_AWS_BEDROCK: "aws",
    semconv.PROVIDER_GCP_VERTEX_AI: "google",
    "gcp.gemini": "google",
    "gcp.gen_ai": "google",
    "vertex_ai": "google",
    "gemini": "google",
    "mistral_ai": "mistral",
    "x_ai": "x-ai",
    "xai": "x-ai",
    "deepseek": "deepseek",
    "groq": "groq",
    "cohere": "cohere",
    "perplexity": "perplexity",
}

# TTL a cache write is billed at when the provider reports no split. Anthropic's default is
# 5 minutes, on its own API and on Bedrock and Vertex; OpenAI's in-memory retention is the
# shortest TTL too (its writes are billed as input unless a price book says otherwise).
DEFAULT_CACHE_TTL: Final[dict[str, str]] = {
    "anthropic": "5m",
    "openai": "5m",
    "azure": "5m",
    "aws": "5m",
    "google": "5m",
}
FALLBACK_CACHE_TTL: Final = "5m"

# Service-tier values that mean "no special tier": priced at standard rates.
STANDARD_TIERS: Final = frozenset({"", "default", "standard", "auto", "on_demand", "on-demand"})


def billing_provider(provider: str) -> str:
    """The genai-prices provider id for a ``gen_ai.provider.name`` value (unknown names pass through)."""
    name = provider.strip().lower()
    return BILLING_PROVIDER.get(name, name)


def default_cache_ttl(billing_id: str) -> str:
    """The TTL an unsplit cache write is priced at for this billing provider."""
    return DEFAULT_CACHE_TTL.get(billing_id, FALLBACK_CACHE_TTL)


def price_context(billing_id: str, service_tier: str | None, processing: str | None) -> tuple[tuple[str, str], ...]:
    """The genai-prices price context (``when`` keys of price variants) for a call, as a sorted tuple.

    ``batch`` may arrive as a processing mode or as a tier; Anthropic's ``fast`` mode is a
    ``speed`` in the price data, OpenAI's is a service tier.
    """
    ctx: dict[str, str] = {}
    tier = (service_tier or "").strip().lower()
    proc = (processing or "").strip().lower()
    if proc == "batch" or tier == "batch":
        ctx["processing"] = "batch"
    if proc == "fast" or (tier == "fast" and billing_id == "anthropic"):
        ctx["speed"] = "fast"
    elif proc and proc not in ("batch", "standard", "default", "sync", "interactive"):
        ctx["processing"] = proc
    if tier and tier not in STANDARD_TIERS and tier != "batch" and not (tier == "fast" and billing_id == "anthropic"):
        ctx["service_tier"] = tier
    return tuple(sorted(ctx.items()))
