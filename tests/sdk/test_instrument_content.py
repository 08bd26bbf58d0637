"""The content-capture switch: off unless OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT opts in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llm_otel.sdk import content


@pytest.fixture(autouse=True)
def _no_override() -> Iterator[None]:
    content.set_capture_content(None)
    yield
    content.refresh()  # forget what this test's environment said


def test_content_is_not_captured_when_the_variable_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(content.ENV_VAR, raising=False)
    content.refresh()
    assert content.capture_content() is False
    assert content.capture_mode() == "no_content"


@pytest.mark.parametrize("value", ["true", "TRUE", "span_only", "SPAN_ONLY", "span_and_event", " Span_And_Event "])
def test_values_that_put_content_on_spans_turn_capture_on(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(content.ENV_VAR, value)
    content.refresh()
    assert content.capture_content() is True


@pytest.mark.parametrize("value", ["false", "no_content", "NO_CONTENT", "event_only", "", "yes", "1", "maybe"])
def test_other_values_keep_capture_off(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(content.ENV_VAR, value)
    content.refresh()
    assert content.capture_content() is False


def test_event_only_is_reported_as_its_mode_but_puts_nothing_on_spans(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(content.ENV_VAR, "EVENT_ONLY")
    content.refresh()
    assert content.capture_mode() == "event_only"
    assert content.capture_content() is False


def test_the_instrument_override_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(content.ENV_VAR, "span_only")
    content.refresh()
    content.set_capture_content(False)
    assert content.capture_content() is False
    monkeypatch.setenv(content.ENV_VAR, "false")
    content.refresh()
    content.set_capture_content(True)
    assert content.capture_content() is True
    content.set_capture_content(None)
    assert content.capture_content() is False


def test_the_environment_is_read_once_until_refreshed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(content.ENV_VAR, "span_only")
    content.refresh()
    assert content.capture_content() is True
    monkeypatch.setenv(content.ENV_VAR, "false")
    assert content.capture_content() is True  # cached: no environment lookup per call
    content.refresh()
    assert content.capture_content() is False
