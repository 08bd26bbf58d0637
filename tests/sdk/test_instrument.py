"""instrument() / uninstrument(): idempotent, thread-safe, restoring, never replacing the app's provider."""

from __future__ import annotations

import sys
import threading
import types
from collections.abc import Iterator
from typing import Any

import pytest
import wrapt
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llm_otel
from llm_otel import semconv
from llm_otel.sdk import attribution, call, content, instrument, setup


class Client:
    """A stand-in for a client library's request method, patched by the fake wrapper below."""

    def request(self) -> str:
        return "response"


ORIGINAL_REQUEST = Client.__dict__["request"]


def _fake_wrapper(installs: list[dict[str, Any]]) -> types.ModuleType:
    """A provider wrapper with the real interface (available/install/uninstall) that patches ``Client``."""
    mod = types.ModuleType("fake_llm_wrapper")

    def install(include_usage: bool | None = None) -> None:
        installs.append({"include_usage": include_usage})
        if not isinstance(Client.__dict__["request"], wrapt.FunctionWrapper):
            wrapt.wrap_function_wrapper(Client, "request", lambda w, i, a, k: "patched:" + w(*a, **k))

    def uninstall() -> None:
        if isinstance(Client.__dict__["request"], wrapt.FunctionWrapper):
            Client.request = ORIGINAL_REQUEST  # type: ignore[method-assign]

    mod.available = lambda: True  # type: ignore[attr-defined]
    mod.install = install  # type: ignore[attr-defined]
    mod.uninstall = uninstall  # type: ignore[attr-defined]
    return mod


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    installs: list[dict[str, Any]] = []
    monkeypatch.setitem(sys.modules, "fake_llm_wrapper", _fake_wrapper(installs))
    monkeypatch.setitem(instrument.WRAPPERS, "fake", "fake_llm_wrapper")
    yield installs
    llm_otel.uninstrument()
    Client.request = ORIGINAL_REQUEST  # type: ignore[method-assign]


def test_instrument_patches_and_uninstrument_restores(fake: list[dict[str, Any]]) -> None:
    llm_otel.instrument(providers=("fake",))
    assert Client().request() == "patched:response"
    llm_otel.uninstrument()
    assert Client.__dict__["request"] is ORIGINAL_REQUEST
    assert Client().request() == "response"


def test_instrument_twice_installs_once_and_passes_the_new_options(fake: list[dict[str, Any]]) -> None:
    llm_otel.instrument(providers=("fake",))
    llm_otel.instrument(providers=("fake",), include_usage=False)
    assert Client().request() == "patched:response"  # not patched twice
    assert fake[-1] == {"include_usage": False}
    assert instrument.options().include_usage is False


def test_uninstrument_twice_and_without_instrument_is_harmless(fake: list[dict[str, Any]]) -> None:
    llm_otel.uninstrument()
    llm_otel.instrument(providers=("fake",))
    llm_otel.uninstrument()
    llm_otel.uninstrument()
    assert Client().request() == "response"


def test_concurrent_instrument_calls_install_each_wrapper_once(fake: list[dict[str, Any]]) -> None:
    barrier = threading.Barrier(16)

    def go() -> None:
        barrier.wait()
        llm_otel.instrument(providers=("fake",))

    threads = [threading.Thread(target=go) for _ in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert Client().request() == "patched:response"
    global_provider = trace.get_tracer_provider()
    assert isinstance(global_provider, TracerProvider)
    procs = global_provider._active_span_processor._span_processors
    assert sum(isinstance(p, attribution.AttributionSpanProcessor) for p in procs) == 1


def test_an_app_configured_provider_is_never_replaced(fake: list[dict[str, Any]]) -> None:
    before = trace.get_tracer_provider()
    llm_otel.instrument(providers=("fake",))
    assert trace.get_tracer_provider() is before
    assert instrument.created_provider() is None


def test_a_given_tracer_provider_receives_our_spans_with_attribution_until_uninstrument(
    fake: list[dict[str, Any]],
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    llm_otel.instrument(tracer_provider=provider, providers=("fake",))
    with llm_otel.task("t", id="given"):
        c = call.start_call("chat", "openai", "m", {})
        assert c is not None
        c.finish()
    got = {s.name: dict(s.attributes or {}) for s in exporter.get_finished_spans()}
    assert got["chat m"][semconv.TASK_ID] == "given"
    assert "llm_otel.task t" in got
    llm_otel.uninstrument()
    assert not attribution.has_attribution(provider)


def test_capture_content_option_overrides_the_environment_until_uninstrument(
    fake: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(content.ENV_VAR, "false")
    llm_otel.instrument(providers=("fake",), capture_content=True)
    assert content.capture_content() is True
    llm_otel.uninstrument()
    assert content.capture_content() is False


def test_a_missing_wrapper_module_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(instrument.WRAPPERS, "ghost", "llm_otel.sdk.no_such_wrapper")
    try:
        llm_otel.instrument(providers=("ghost",))
        assert not instrument.is_instrumented("ghost")
    finally:
        llm_otel.uninstrument()


def test_a_wrapper_whose_library_is_not_available_is_not_installed(
    fake: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.modules["fake_llm_wrapper"], "available", lambda: False)
    llm_otel.instrument(providers=("fake",))
    assert fake == [] and Client().request() == "response"


def test_the_real_openai_wrapper_is_installed_and_restored() -> None:
    from openai._base_client import AsyncAPIClient, SyncAPIClient

    originals = (SyncAPIClient.__dict__["request"], AsyncAPIClient.__dict__["request"])
    llm_otel.instrument(providers=("openai",))
    try:
        assert instrument.is_instrumented("openai")
        assert SyncAPIClient.__dict__["request"] is not originals[0]
    finally:
        llm_otel.uninstrument()
    assert (SyncAPIClient.__dict__["request"], AsyncAPIClient.__dict__["request"]) == originals


def test_exporter_protocol_follows_otel_exporter_otlp_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", raising=False)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    assert [type(e) for e in setup.exporters_from_env()] == [Grpc]
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    assert [type(e) for e in setup.exporters_from_env()] == [Http]
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")
    assert [type(e) for e in setup.exporters_from_env()] == [Grpc]
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert setup.exporters_from_env() == []


def _must_not_set(provider: object) -> None:
    raise AssertionError("the global tracer provider must not be replaced")


def test_a_deliberately_no_op_global_provider_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: trace.NoOpTracerProvider())
    monkeypatch.setattr(trace, "set_tracer_provider", _must_not_set)
    assert setup.install_global_provider() is None


def test_otel_sdk_disabled_stops_the_provider_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: trace.ProxyTracerProvider())
    monkeypatch.setattr(trace, "set_tracer_provider", _must_not_set)
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert setup.install_global_provider() is None


def test_a_wrapper_waits_for_its_library_to_be_imported_and_then_installs(
    fake: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    (tmp_path / "fake_client_lib_for_llm_otel.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(instrument.LIBRARIES, "fake", "fake_client_lib_for_llm_otel")
    llm_otel.instrument(providers=("fake",))
    assert fake == [] and instrument.is_pending("fake")  # not imported by instrument()
    assert "fake_client_lib_for_llm_otel" not in sys.modules
    import fake_client_lib_for_llm_otel  # noqa: F401

    assert instrument.is_instrumented("fake") and not instrument.is_pending("fake")
    assert Client().request() == "patched:response"
    monkeypatch.delitem(sys.modules, "fake_client_lib_for_llm_otel")


def test_uninstrument_before_the_import_cancels_the_pending_install(
    fake: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    (tmp_path / "fake_client_lib_for_llm_otel2.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(instrument.LIBRARIES, "fake", "fake_client_lib_for_llm_otel2")
    llm_otel.instrument(providers=("fake",))
    llm_otel.uninstrument()
    import fake_client_lib_for_llm_otel2  # noqa: F401

    assert fake == [] and not instrument.is_instrumented("fake")
    monkeypatch.delitem(sys.modules, "fake_client_lib_for_llm_otel2")
