"""Where list prices come from: genai-prices' bundled data, or a refreshed copy the user asked for.

Nothing here touches the network at import or when pricing. ``refresh()`` is the one
opt-in download (a mirror of genai-prices' ``data.json``), written to a file that
``PriceData.from_file`` loads; every Cost names the version it was priced with.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.request
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import genai_prices
from genai_prices import types as gp_types
from genai_prices.data_snapshot import DataSnapshot

DEFAULT_REFRESH_PATH = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "llm-otel" / "genai-prices.json"


class PriceDataError(Exception):
    """A price data file or refresh URL could not be used; the message says what to do."""


@dataclass(eq=False)
class PriceData:
    """A genai-prices snapshot and the version string that identifies it in every Cost."""

    snapshot: DataSnapshot
    version: str
    source: str = "bundled"
    _cache: dict[tuple[str, str], tuple[gp_types.Provider, gp_types.ModelInfo] | None] = field(
        default_factory=dict, repr=False
    )

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> PriceData:
        """Load a refreshed ``data.json`` (genai-prices' provider array). Raises PriceDataError."""
        p = Path(path)
        try:
            raw = p.read_bytes()
        except OSError as exc:
            raise PriceDataError(f"price data file {p}: {exc.strerror}; run `llm-otel price --refresh` first") from exc
        return cls(_snapshot_from_bytes(raw, str(p)), _version_of(raw), source=str(p))

    def find(self, billing_id: str, model: str) -> tuple[gp_types.Provider, gp_types.ModelInfo] | None:
        """The provider and model genai-prices prices ``model`` with, or None when it has no entry."""
        key = (billing_id, model)
        try:
            return self._cache[key]
        except KeyError:
            pass
        try:
            found: tuple[gp_types.Provider, gp_types.ModelInfo] | None = self.snapshot.find_provider_model(
                model, None, billing_id, None
            )
        except (LookupError, ValueError):
            found = None
        self._cache[key] = found
        return found

    def provider(self, billing_id: str) -> gp_types.Provider | None:
        """The genai-prices provider with this id, if any."""
        for p in self.snapshot.providers:
            if p.id == billing_id:
                return p
        return None


@lru_cache(maxsize=1)
def bundled() -> PriceData:
    """genai-prices' bundled data (pinned in pyproject.toml)."""
    from genai_prices.data_snapshot import _bundled_snapshot

    return PriceData(_bundled_snapshot(), f"genai-prices-{genai_prices.__version__}", source="bundled")


def _version_of(raw: bytes) -> str:
    return f"genai-prices-data-sha256:{hashlib.sha256(raw).hexdigest()[:12]}"


def _snapshot_from_bytes(raw: bytes, where: str) -> DataSnapshot:
    from genai_prices.types import _providers_from_raw

    try:
        payload: Any = json.loads(raw)
    except ValueError as exc:
        raise PriceDataError(f"{where}: not JSON ({exc}); point at genai-prices' prices/data.json or a mirror") from exc
    if not isinstance(payload, list):
        raise PriceDataError(f"{where}: expected a JSON array of providers (genai-prices data.json)")
    try:
        providers = _providers_from_raw(payload)
    except Exception as exc:  # pydantic ValidationError and friends
        first = str(exc).splitlines()[:3]
        raise PriceDataError(f"{where}: not genai-prices data ({' '.join(first)})") from exc
    if not providers:
        raise PriceDataError(f"{where}: no providers in price data")
    return DataSnapshot(providers=providers, from_auto_update=False)


def refresh(url: str, path: str | os.PathLike[str] = DEFAULT_REFRESH_PATH, *, timeout: float = 30.0) -> PriceData:
    """Download a genai-prices data file from ``url`` (opt-in), validate it, write it atomically to ``path``.

    The old file stays in place when anything fails. Raises PriceDataError.
    """
    if not url.startswith(("https://", "http://", "file://")):
        raise PriceDataError(
            f"refresh URL {url!r}: use an https:// (or file://) URL of a genai-prices data.json mirror"
        )
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            raw = resp.read()
    except OSError as exc:
        raise PriceDataError(f"refresh from {url}: {exc}; check the URL or keep the current data") from exc
    data = PriceData(_snapshot_from_bytes(raw, url), _version_of(raw), source=url)
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=dest.name, dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    data.source = str(dest)
    return data
