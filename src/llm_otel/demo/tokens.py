"""Token counts and prompt caching for the fake API: deterministic, computed from the request.

Not a real tokenizer: 4 characters of serialized context make one token, which is
close enough to real English JSON for the economics the demo shows (context that
grows each turn, tool schemas re-sent on every call) and keeps the demo dependency-free.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

CHARS_PER_TOKEN = 4
OPENAI_MIN_CACHE_TOKENS = 1024  # OpenAI caches prompts of at least 1,024 tokens...
OPENAI_CACHE_STEP_TOKENS = 128  # ...in increments of 128 tokens.
ANTHROPIC_MIN_CACHE_TOKENS = 1024


def serialize(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def count_tokens(text: str) -> int:
    return max(1, (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN) if text else 0


def output_tokens_for(request: dict[str, Any], seed_text: str) -> int:
    """A deterministic completion length in [40, 400], capped by max_tokens."""
    digest = hashlib.blake2b(seed_text.encode(), digest_size=4).digest()
    n = 40 + int.from_bytes(digest, "big") % 360
    cap = request.get("max_tokens") or request.get("max_completion_tokens") or request.get("max_output_tokens")
    return min(n, int(cap)) if isinstance(cap, int) and cap > 0 else n


class PrefixCache:
    """Remembers prompt prefixes by hash, per organisation-wide namespace (provider + model)."""

    def __init__(self) -> None:
        self._seen: set[bytes] = set()
        self._lock = threading.Lock()

    @staticmethod
    def _key(namespace: str, text: str) -> bytes:
        return hashlib.blake2b(namespace.encode() + b"\0" + text.encode(), digest_size=16).digest()

    def openai_cached_tokens(self, namespace: str, prompt: str) -> int:
        """Automatic caching: the longest previously seen prefix of >= 1,024 tokens, in 128-token steps."""
        total = count_tokens(prompt)
        cached = 0
        with self._lock:
            step = OPENAI_MIN_CACHE_TOKENS
            while step <= total:
                key = self._key(namespace, prompt[: step * CHARS_PER_TOKEN])
                if key in self._seen:
                    cached = step
                else:
                    self._seen.add(key)
                step += OPENAI_CACHE_STEP_TOKENS
        return cached

    def anthropic_cache(self, namespace: str, prefixes: list[str]) -> tuple[int, int]:
        """(cache_read, cache_write) tokens for the prefixes ending at each ``cache_control`` breakpoint.

        The longest previously cached breakpoint prefix is read; everything after it up to
        the last breakpoint is written. Prefixes under the minimum size are not cached.
        """
        read = 0
        last = 0
        with self._lock:
            for prefix in prefixes:
                tokens = count_tokens(prefix)
                if tokens < ANTHROPIC_MIN_CACHE_TOKENS:
                    continue
                key = self._key(namespace, prefix)
                if key in self._seen:
                    read = max(read, tokens)
                else:
                    self._seen.add(key)
                last = max(last, tokens)
        return read, max(0, last - read)
