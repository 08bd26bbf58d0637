"""``llm-otel price``: the breakdown as a table or JSON, exit codes, price book errors, opt-in refresh."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from llm_otel.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "collector" / "pricebook.example.yaml"
BASE = ["price", "--at", "2026-11-01"]


def run(capsys, *argv):
    code = main([*BASE, *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_output_has_total_usd_as_a_string_decimal_and_per_bucket_rows(capsys):
    code, out, _ = run(
        capsys,
        "--provider",
        "anthropic",
        "--model",
        "claude-sonnet-4-5-20250929",
        "--input-tokens",
        "10000",
        "--output-tokens",
        "2000",
        "--cache-read-tokens",
        "3000",
        "--cache-write-tokens",
        "1000",
        "--cache-write-1h-tokens",
        "400",
        "--format",
        "json",
    )
    doc = json.loads(out)
    assert code == 0
    assert doc["total_usd"] == "0.05355" and isinstance(doc["total_usd"], str)
    assert [(b["bucket"], b["tokens"], b["unit_price_per_mtok"], b["amount_usd"]) for b in doc["buckets"]] == [
        ("input", 6000, "3", "0.018"),
        ("cache_read", 3000, "0.3", "0.0009"),
        ("cache_write_5m", 600, "3.75", "0.00225"),
        ("cache_write_1h", 400, "6", "0.0024"),
        ("output", 2000, "15", "0.03"),
    ]
    assert sum(Decimal(b["amount_usd"]) for b in doc["buckets"]) == Decimal(doc["total_usd"])
    assert doc["data_version"] == "genai-prices-0.2.3" and doc["source"] == "list"


def test_tiny_amounts_print_without_exponents(capsys):
    _, out, _ = run(
        capsys,
        "--provider",
        "openai",
        "--model",
        "gpt-5-nano",
        "--input-tokens",
        "1",
        "--output-tokens",
        "0",
        "--format",
        "json",
    )
    assert json.loads(out)["total_usd"] == "0.00000005"


def test_table_output_shows_buckets_total_and_data_version(capsys):
    code, out, _ = run(
        capsys,
        "--provider",
        "openai",
        "--model",
        "gpt-5",
        "--input-tokens",
        "1000",
        "--output-tokens",
        "2000",
        "--reasoning-tokens",
        "1500",
        "--service-tier",
        "flex",
    )
    assert code == 0
    assert "genai-prices-0.2.3" in out and "0.010625" in out
    assert [line.split()[0] for line in out.splitlines()[2:5]] == ["input", "output", "total"]


def test_an_unpriced_call_prints_the_reason_and_exits_1(capsys):
    code, out, _ = run(
        capsys,
        "--provider",
        "openai",
        "--model",
        "gpt-99",
        "--input-tokens",
        "1",
        "--output-tokens",
        "1",
        "--format",
        "json",
    )
    assert code == 1 and "unknown model 'gpt-99'" in json.loads(out)["unpriced_reason"]


def test_a_price_book_applies_contracts(capsys):
    _, out, _ = run(
        capsys,
        "--provider",
        "anthropic",
        "--model",
        "claude-opus-4-5",
        "--input-tokens",
        "1000",
        "--output-tokens",
        "100",
        "--pricebook",
        str(EXAMPLE),
        "--format",
        "json",
    )
    doc = json.loads(out)
    assert (doc["source"], doc["total_usd"], doc["list_total_usd"]) == ("contract", "0.006375", "0.0075")


def test_a_malformed_price_book_exits_2_with_file_line_and_key(capsys, tmp_path):
    book = tmp_path / "book.yaml"
    book.write_text("contracts:\n  - name: x\n    match: {provider: openai}\n    multiplier: ten\n")
    code, _, err = run(capsys, "--provider", "openai", "--model", "gpt-4o", "--pricebook", str(book))
    assert code == 2
    assert f"{book}:4: contracts[0].multiplier: must be a number, got 'ten'" in err


def test_missing_provider_or_model_exits_2(capsys):
    code, _, err = run(capsys, "--model", "gpt-4o")
    assert code == 2 and "--provider and --model are required" in err


def test_the_console_script_runs_as_a_real_process():
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "llm_otel.cli",
            *BASE,
            "--provider",
            "openai",
            "--model",
            "gpt-4o",
            "--input-tokens",
            "1000",
            "--output-tokens",
            "100",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["total_usd"] == "0.0035"


# --- opt-in refresh ------------------------------------------------------------------------------------

MIRROR = [
    {
        "id": "openai",
        "name": "OpenAI",
        "api_pattern": "https://api.openai.com",
        "models": [{"id": "gpt-4o", "match": {"equals": "gpt-4o"}, "prices": {"input_mtok": 7, "output_mtok": 9}}],
    }
]


@pytest.fixture
def mirror():
    """A real HTTP server serving a genai-prices data.json mirror (and a broken one)."""
    body = json.dumps(MIRROR).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            payload = body if self.path == "/data.json" else b"{not json"
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_refresh_downloads_a_mirror_and_pricing_with_it_names_its_version(capsys, tmp_path, mirror):
    data_file = tmp_path / "prices.json"
    code, out, _ = run(capsys, "--refresh", "--prices-url", f"{mirror}/data.json", "--prices-file", str(data_file))
    assert code == 0 and data_file.exists() and "genai-prices-data-sha256:" in out
    code, out, _ = run(
        capsys,
        "--provider",
        "openai",
        "--model",
        "gpt-4o",
        "--input-tokens",
        "1000000",
        "--output-tokens",
        "0",
        "--prices-file",
        str(data_file),
        "--format",
        "json",
    )
    doc = json.loads(out)
    assert doc["total_usd"] == "7" and doc["data_version"].startswith("genai-prices-data-sha256:")


def test_a_bad_mirror_keeps_the_old_data_and_exits_2(capsys, tmp_path, mirror):
    data_file = tmp_path / "prices.json"
    data_file.write_text(json.dumps(MIRROR))
    code, _, err = run(capsys, "--refresh", "--prices-url", f"{mirror}/broken.json", "--prices-file", str(data_file))
    assert code == 2 and "not JSON" in err
    assert json.loads(data_file.read_text()) == MIRROR


def test_refresh_needs_a_url(capsys):
    code, _, err = run(capsys, "--refresh")
    assert code == 2 and "--refresh needs --prices-url" in err
