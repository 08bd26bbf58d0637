"""Errors of the processor's stages that the receiver turns into an OTLP answer.

``MalformedSpan`` rejects one span, never the request: the receiver keeps the good
spans of the same Export and reports the rejected ones (count and reason) in
``partial_success``. Its message says what was wrong and with which attribute, so the
sender can fix the instrumentation.
"""

from __future__ import annotations


class MalformedSpan(ValueError):
    """One span that must not be counted: bad ids or times, or token counts that cannot be true."""

    def __init__(self, reason: str, *, attribute: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.attribute = attribute  # the offending attribute, when one is to blame
