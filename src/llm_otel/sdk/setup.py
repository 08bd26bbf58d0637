"""A TracerProvider from the standard ``OTEL_*`` environment, for apps that configured none.

Used by ``instrument()`` only when the global provider is still OpenTelemetry's proxy
(no SDK provider set). An application that configured its own provider keeps it; we only
add the attribution span processor to it.

Environment honoured (the OpenTelemetry SDK spec names):

- ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES`` (via ``Resource.create``);
- ``OTEL_TRACES_SAMPLER`` / ``_ARG``: wrapped by ``SpendPreservingSampler``;
- ``OTEL_TRACES_EXPORTER``: ``otlp`` (default), ``console``, ``none``;
- ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` / ``OTEL_EXPORTER_OTLP_PROTOCOL``: ``http/protobuf``
  (default, per the spec), ``grpc``; endpoint, headers, timeout and compression are read
  by the exporters themselves (``OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`` ...);
- ``OTEL_BSP_*``: read by ``BatchSpanProcessor``.
"""

from __future__ import annotations

import logging
import os

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from llm_otel.sdk.sampler import sampler_from_env

log = logging.getLogger("llm_otel")


def has_sdk_provider() -> bool:
    """Whether the global tracer provider is an SDK provider (one the app or a distro configured)."""
    return isinstance(trace.get_tracer_provider(), TracerProvider)


def provider_from_env() -> TracerProvider:
    """A new SDK TracerProvider: env resource, our sampler over the env's, batch export per env."""
    provider = TracerProvider(resource=Resource.create(), sampler=sampler_from_env())
    for exporter in exporters_from_env():
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def exporters_from_env() -> list[SpanExporter]:
    names = os.environ.get("OTEL_TRACES_EXPORTER", "otlp")
    out: list[SpanExporter] = []
    for name in (n.strip().lower() for n in names.split(",")):
        if not name or name == "none":
            continue
        try:
            if name == "otlp":
                out.append(_otlp_exporter())
            elif name == "console":
                from opentelemetry.sdk.trace.export import ConsoleSpanExporter

                out.append(ConsoleSpanExporter())
            else:
                log.warning("llm-otel: OTEL_TRACES_EXPORTER=%r is not supported here; use otlp, console or none", name)
        except Exception:
            log.warning("llm-otel could not create the %r span exporter; spans are not exported", name, exc_info=True)
    return out


def _otlp_exporter() -> SpanExporter:
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip().lower()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter()
    if protocol not in ("http/protobuf", "http/json"):
        log.warning("llm-otel: unknown OTLP protocol %r; using http/protobuf", protocol)
    elif protocol == "http/json":
        log.warning("llm-otel: the OTLP exporter has no http/json; using http/protobuf")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    return HttpExporter()


def install_global_provider() -> TracerProvider | None:
    """Sets a provider from the env as the global one if none is set; returns it, or None if the app had one.

    Only when the global provider is still OpenTelemetry's proxy (nothing set): an app that
    set any provider (SDK, vendor, or deliberately no-op) keeps it, and ``OTEL_SDK_DISABLED=true``
    is respected. Never raises: on failure the app keeps the no-op provider and is told at warning level.
    """
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return None
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    try:
        provider = provider_from_env()
        trace.set_tracer_provider(provider)
    except Exception:
        log.warning("llm-otel could not set up a tracer provider; spans are not recorded", exc_info=True)
        return None
    # Another thread may have won the race: set_tracer_provider keeps the first one.
    if trace.get_tracer_provider() is not provider:
        provider.shutdown()
        return None
    return provider
