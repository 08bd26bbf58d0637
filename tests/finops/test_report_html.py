"""The HTML report renders in a real headless Chromium (Debian package), charts and all, offline."""

from __future__ import annotations

import shutil
import struct
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from finops.month import MONTH_START, write_month
from llm_otel.finops.html import render_html
from llm_otel.finops.report import build_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("html")
    url, _ = write_month(tmp / "ledger.db", days=10)
    report = build_report(url, since=MONTH_START, until=datetime(2026, 10, 11, tzinfo=timezone.utc),
                          now=datetime(2026, 10, 10, 23, tzinfo=timezone.utc))
    out = tmp / "report.html"
    out.write_text(render_html(report), encoding="utf-8")
    return out


def chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        pytest.fail("Debian chromium is not installed: .ci/run installs it (apt-get install chromium)")
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120, check=True)


def test_the_page_references_nothing_outside_itself(page: Path) -> None:
    html = page.read_text()
    assert "<script src" not in html and "<link" not in html and "url(http" not in html


def test_the_rendered_dom_contains_the_three_charts_with_their_marks(page: Path, tmp_path: Path) -> None:
    dom = chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    assert 'id="chart-spend-by-team"' in dom
    assert 'id="chart-task-cost-distribution"' in dom
    assert 'id="chart-cache-hit-rate"' in dom
    assert dom.count('class="bar"') >= 10  # a stacked bar per team per day
    assert dom.count('class="dot"') >= 20  # one dot per task
    assert 'class="line"' in dom
    assert 'id="showback"' in dom


def test_a_screenshot_of_the_page_is_a_real_image(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,1400", page.as_uri())
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1200, 1400)
    assert len(data) > 20_000  # charts and table, not a blank page
