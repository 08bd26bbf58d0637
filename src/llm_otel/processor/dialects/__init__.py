"""Normalization of the GenAI span dialects real deployments emit into one call record.

One module per dialect (``own``: llm-otel's spans; ``anthropic_native``; ``otel_genai``:
the official contrib instrumentations; ``openllmetry``; ``openinference``; ``openlit``),
``dispatch`` to choose among them, ``attributes`` to decode OTLP attributes once.
A new dialect is one new module here plus a line in ``dispatch``. docs/dialects.md
lists what each one reports and how it is read.

    record = normalize(span, resource_attributes, scope_name)  # CallRecord | TaskSpanRecord | None
"""

from llm_otel.processor.dialects.attributes import decode_attributes, decode_value
from llm_otel.processor.dialects.common import MAX_TOKENS_PER_CALL
from llm_otel.processor.dialects.dispatch import normalize, normalize_decoded
from llm_otel.processor.errors import MalformedSpan

__all__ = [
    "MAX_TOKENS_PER_CALL",
    "MalformedSpan",
    "decode_attributes",
    "decode_value",
    "normalize",
    "normalize_decoded",
]
