"""OTLP request bodies -> ``ExportTraceServiceRequest``: protobuf and JSON, gzip with a size cap.

OTLP/JSON carries trace and span ids as hex strings, but protobuf's stock JSON parser
reads ``bytes`` fields as base64, so a hex id parsed naively becomes a different, wrongly
sized id without any error. Here each span's ids are converted from hex before parsing.
A span whose ids are not hex, or that fails to parse, is dropped and reported (the rest of
the request is kept); a body that is not OTLP at all is a ``BadRequest`` (HTTP 400).

Hot path: ``decode_protobuf`` is one upb parse; the JSON path is slower (one ParseDict per
span) and meant for low-volume senders. Guarded by benchmarks/processor_throughput.py.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span


class BadRequest(ValueError):
    """The whole body is unusable (HTTP 400 / gRPC INVALID_ARGUMENT); the message says why."""


class TooLarge(ValueError):
    """The body, or what it inflates to, exceeds the configured cap (HTTP 413)."""


@dataclass(slots=True)
class Decoded:
    """A parsed Export request plus the spans already rejected while decoding it (JSON only)."""

    request: ExportTraceServiceRequest
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)


def inflate(body: bytes, encoding: str, limit: int) -> bytes:
    """The body without its Content-Encoding (gzip, deflate or identity), never more than ``limit`` bytes."""
    enc = encoding.strip().lower()
    if enc in ("", "identity"):
        return body
    if enc == "gzip":
        wbits = 16 + zlib.MAX_WBITS
    elif enc == "deflate":
        wbits = zlib.MAX_WBITS
    else:
        raise BadRequest(f"unsupported Content-Encoding {encoding[:40]!r}; send gzip, deflate or none")
    d = zlib.decompressobj(wbits)
    try:
        out = d.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BadRequest(f"body is not valid {enc}: {exc}") from None
    if len(out) > limit or d.unconsumed_tail:
        raise TooLarge(f"body inflates to more than {limit} bytes; split the batch (exporter max batch size)")
    if not d.eof:
        raise BadRequest(f"{enc} body is truncated")
    return out


def decode_protobuf(body: bytes) -> Decoded:
    """An ``application/x-protobuf`` Export body."""
    req = ExportTraceServiceRequest()
    try:
        req.ParseFromString(body)
    except (DecodeError, RecursionError, ValueError) as exc:
        raise BadRequest(f"body is not a valid OTLP ExportTraceServiceRequest protobuf: {exc}") from None
    return Decoded(req)


_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


def _hex_ids_to_base64(obj: dict[str, Any]) -> str | None:
    """Rewrites hex id fields of a span (or link) dict in place for json_format; returns an error or None."""
    for key in _ID_FIELDS:
        value = obj.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            return f"{key} must be a hex string, got {type(value).__name__}"
        try:
            raw = binascii.unhexlify(value)
        except (binascii.Error, ValueError):
            return f"{key} {value[:40]!r} is not hex"
        obj[key] = base64.b64encode(raw).decode("ascii")
    return None


def decode_json(body: bytes) -> Decoded:
    """An ``application/json`` Export body (OTLP/JSON: hex ids, camelCase or snake_case field names)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"body is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise BadRequest("OTLP/JSON body must be an object with resourceSpans")
    resource_spans = data.get("resourceSpans", data.get("resource_spans", []))
    if not isinstance(resource_spans, list):
        raise BadRequest("resourceSpans must be a list")
    out = Decoded(ExportTraceServiceRequest())
    try:
        for rs in resource_spans:
            if not isinstance(rs, dict):
                raise BadRequest("each resourceSpans entry must be an object")
            prs = out.request.resource_spans.add()
            resource = rs.get("resource")
            if resource is not None:
                json_format.ParseDict(resource, prs.resource, ignore_unknown_fields=True)
            prs.schema_url = str(rs.get("schemaUrl", rs.get("schema_url", "")) or "")
            scope_spans = rs.get("scopeSpans", rs.get("scope_spans", []))
            if not isinstance(scope_spans, list):
                raise BadRequest("scopeSpans must be a list")
            for ss in scope_spans:
                if not isinstance(ss, dict):
                    raise BadRequest("each scopeSpans entry must be an object")
                pss = prs.scope_spans.add()
                scope = ss.get("scope")
                if scope is not None:
                    json_format.ParseDict(scope, pss.scope, ignore_unknown_fields=True)
                spans = ss.get("spans", [])
                if not isinstance(spans, list):
                    raise BadRequest("spans must be a list")
                for span in spans:
                    _add_json_span(span, pss.spans, out)
    except json_format.ParseError as exc:
        raise BadRequest(f"resource or scope is not valid OTLP/JSON: {str(exc)[:200]}") from None
    except RecursionError:
        raise BadRequest("OTLP/JSON body is nested too deeply") from None
    return out


def _add_json_span(span: Any, spans: Any, out: Decoded) -> None:
    if not isinstance(span, dict):
        out.rejected += 1
        out.reasons.append("span is not a JSON object")
        return
    error = _hex_ids_to_base64(span)
    links = span.get("links")
    if error is None and isinstance(links, list):
        for link in links:
            if isinstance(link, dict):
                error = _hex_ids_to_base64(link) or error
    if error is not None:
        out.rejected += 1
        out.reasons.append(error)
        return
    parsed = Span()
    try:
        json_format.ParseDict(span, parsed, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError, ValueError, TypeError) as exc:
        out.rejected += 1
        out.reasons.append(f"span is not valid OTLP/JSON: {str(exc)[:160]}")
        return
    spans.append(parsed)


def decode_body(body: bytes, content_type: str, content_encoding: str, limit: int) -> Decoded:
    """Inflate and parse an OTLP/HTTP traces body by its content type."""
    raw = inflate(body, content_encoding, limit)
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype == "application/x-protobuf" or ctype == "application/protobuf":
        return decode_protobuf(raw)
    if ctype == "application/json":
        return decode_json(raw)
    raise BadRequest(f"unsupported Content-Type {content_type[:60]!r}; send application/x-protobuf or application/json")
