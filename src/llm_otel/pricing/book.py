"""The price book: what a company's bill says that list prices don't.

A YAML file (example and reference: ``collector/pricebook.example.yaml``, ``docs/pricing.md``)
with custom models in genai-prices' own shape, "price like" aliases, list rates genai-prices
lacks, contract multipliers and committed capacity. It is data: loading validates every key
and fails with the file, line and key at fault; the engine only reads the result.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from genai_prices import types as gp_types

from llm_otel.pricing.cost import BUCKET_CACHE_READ, BUCKET_INPUT, BUCKET_OUTPUT, CACHE_WRITE_BUCKETS

# Per-MTok price keys a rate rule may set: genai-prices' token keys plus the TTLs it lacks.
RATE_KEYS = (
    "input_mtok",
    "output_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "cache_write_5m_mtok",
    "cache_write_1h_mtok",
    "cache_write_30m_mtok",
    "cache_write_12h_mtok",
)
BUCKETS = (BUCKET_INPUT, BUCKET_CACHE_READ, *CACHE_WRITE_BUCKETS, BUCKET_OUTPUT)
MATCH_KEYS = ("provider", "model", "service_tier", "region", "processing")
TOP_KEYS = ("version", "data", "models", "aliases", "rates", "contracts", "committed")


class PriceBookError(ValueError):
    """A malformed price book. ``str()`` reads ``FILE:LINE: KEY: what is wrong; what to do``."""

    def __init__(self, file: str, line: int, key: str, message: str) -> None:
        self.file, self.line, self.key, self.message = file, line, key, message
        super().__init__(f"price book {file}:{line}: {key}: {message}")


@dataclass(frozen=True)
class Match:
    """Which calls a rule applies to; every given field must match (model is a case-insensitive glob)."""

    provider: str | None = None
    model: str | None = None
    service_tier: str | None = None
    region: str | None = None
    processing: str | None = None

    def matches(
        self, provider: str, billing: str, models: tuple[str, ...], tier: str, region: str, processing: str
    ) -> bool:
        if self.provider is not None and self.provider not in (provider, billing):
            return False
        if self.model is not None and not any(fnmatch.fnmatchcase(m, self.model) for m in models):
            return False
        if self.service_tier is not None and self.service_tier != tier:
            return False
        if self.region is not None and self.region != region:
            return False
        return self.processing is None or self.processing == processing


@dataclass(frozen=True)
class Window:
    """Dates a rule is in force: ``start`` inclusive, ``end`` inclusive, both UTC days."""

    start: date | None = None
    end: date | None = None

    def active(self, day: date) -> bool:
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)


@dataclass(frozen=True)
class Alias:
    match: Match
    provider: str | None  # billing id to price like (None: same provider)
    model: str
    line: int


@dataclass(frozen=True)
class RateRule:
    """List rates the price data lacks: absolute per-MTok ``prices`` and/or an ``uplift`` multiplier."""

    match: Match
    window: Window
    prices: dict[str, Decimal]
    uplift: Decimal | None
    line: int


@dataclass(frozen=True)
class Contract:
    """A negotiated discount: effective = list x multiplier (per bucket when ``multipliers`` is given)."""

    name: str
    match: Match
    window: Window
    multipliers: dict[str, Decimal]  # bucket -> multiplier; missing buckets use "*"
    line: int

    def multiplier(self, bucket: str) -> Decimal:
        return self.multipliers.get(bucket, self.multipliers.get("*", Decimal(1)))


@dataclass(frozen=True)
class Committed:
    """Committed capacity: a fee per hour (billed elsewhere), tokens at a marginal price (zero by default)."""

    name: str
    match: Match
    window: Window
    fee_per_hour: Decimal
    marginal_multiplier: Decimal
    marginal_prices: dict[str, Decimal]
    line: int
    # Tokens (inclusive input + output) per minute the commitment can serve, when the book states it;
    # finops measures utilization and idle cost against it (docs/finops.md).
    capacity_tokens_per_minute: Decimal | None = None


@dataclass(eq=False)
class PriceBook:
    """A loaded, validated price book. Build with ``load_pricebook`` or ``PriceBook()`` (empty)."""

    path: str = "<memory>"
    digest: str = "empty"
    data_file: str | None = None
    data_url: str | None = None
    models: dict[str, list[gp_types.ModelInfo]] = field(default_factory=dict)  # billing id -> custom models
    aliases: list[Alias] = field(default_factory=list)
    rates: list[RateRule] = field(default_factory=list)
    contracts: list[Contract] = field(default_factory=list)
    committed: list[Committed] = field(default_factory=list)
    _pricer: Any = field(default=None, repr=False)

    def custom_model(self, billing: str, model: str) -> gp_types.ModelInfo | None:
        """A model defined in the book for this billing provider that matches ``model``."""
        for info in self.models.get(billing, ()):
            if info.is_match(model):
                return info
        return None

    def alias(self, provider: str, billing: str, model: str) -> Alias | None:
        """The first "price like" alias for this model, if any."""
        for a in self.aliases:
            if a.match.matches(provider, billing, (model,), "", "", ""):
                return a
        return None


# --- loading ---------------------------------------------------------------------


def load_pricebook(path: str | os.PathLike[str]) -> PriceBook:
    """Load and validate a price book. Raises PriceBookError naming file, line and key."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise PriceBookError(str(p), 0, "file", f"cannot read ({exc.strerror}); check --pricebook") from exc
    return parse_pricebook(raw.decode("utf-8", errors="replace"), str(p), digest=hashlib.sha256(raw).hexdigest())


def parse_pricebook(text: str, file: str = "<string>", *, digest: str | None = None) -> PriceBook:
    """Validate price book text (see ``load_pricebook``)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise PriceBookError(file, line, "yaml", f"{exc.problem}; fix the YAML syntax") from exc
    from llm_otel.pricing.book_reader import Reader

    r = Reader(file)
    book = PriceBook(path=file, digest=(digest or hashlib.sha256(text.encode()).hexdigest())[:12])
    if root is None:
        return book
    top = r.mapping(root, "", TOP_KEYS)
    if "version" in top:
        v = top["version"]
        if not (isinstance(v, yaml.ScalarNode) and v.value == "1"):
            r.fail(
                v,
                "version",
                f"unsupported version {getattr(v, 'value', '?')!r}; this llm-otel reads version 1",
            )
    if "data" in top:
        data = r.mapping(top["data"], "data", ("file", "url"))
        if "file" in data:
            data_file = Path(r.string(data["file"], "data.file")).expanduser()
            if not data_file.is_absolute() and not file.startswith("<"):
                data_file = Path(file).parent / data_file  # relative to the price book's directory
            book.data_file = str(data_file)
        if "url" in data:
            book.data_url = r.url(data["url"], "data.url")
    for i, node in enumerate(r.sequence(top.get("models"), "models")):
        billing, info = r.custom_model(node, f"models[{i}]")
        book.models.setdefault(billing, []).append(info)
    for i, node in enumerate(r.sequence(top.get("aliases"), "aliases")):
        book.aliases.append(r.alias(node, f"aliases[{i}]"))
    for i, node in enumerate(r.sequence(top.get("rates"), "rates")):
        book.rates.append(r.rate(node, f"rates[{i}]"))
    for i, node in enumerate(r.sequence(top.get("contracts"), "contracts")):
        book.contracts.append(r.contract(node, f"contracts[{i}]"))
    for i, node in enumerate(r.sequence(top.get("committed"), "committed")):
        book.committed.append(r.committed(node, f"committed[{i}]"))
    return book
