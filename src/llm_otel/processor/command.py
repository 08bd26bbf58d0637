"""``llm-otel collector``: flags (the same keys as the YAML config) and the handler that runs the processor."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

_FLAGS = (
    ("--otlp-grpc", "HOST:PORT", "OTLP/gRPC receiver (default 127.0.0.1:4317; 'off' disables)"),
    ("--otlp-http", "HOST:PORT", "OTLP/HTTP receiver, POST /v1/traces (default 127.0.0.1:4318; 'off' disables)"),
    ("--metrics", "HOST:PORT", "GET /metrics, /healthz, /readyz (default 127.0.0.1:9464)"),
    ("--ledger", "URL", "sqlite:///llm-otel.db (default) or postgresql://USER@HOST:PORT/DB"),
    ("--replica", "NAME", "this replica's stable identity when several share one ledger (e.g. the pod name)"),
    ("--pricebook", "FILE", "price book (contracts, custom models); default: list prices"),
    ("--forward", "URL", "OTLP endpoint that receives the priced spans: http(s)://HOST:PORT or grpc(s)://HOST:PORT"),
    ("--auth-token", "TOKEN", "require 'Authorization: Bearer TOKEN' on both OTLP endpoints"),
    ("--tls-cert", "FILE", "TLS certificate (PEM) for both OTLP endpoints"),
    ("--tls-key", "FILE", "TLS private key (PEM)"),
    ("--grace-period-s", "SECONDS", "wait after a task span before the task is final (default 30)"),
    ("--idle-timeout-s", "SECONDS", "a task without a task span is final after this idle time (default 900)"),
    ("--max-queue-spans", "N", "spans waiting for the ledger before senders are throttled (default 200000)"),
    ("--max-label-values", "N", "distinct values per metric label before 'other' (default 1000)"),
    ("--retention-days", "DAYS", "delete call rows older than this (default: keep)"),
    ("--log-level", "LEVEL", "debug, info, warning, error (default info)"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="YAML config; keys are the flag names (otlp-grpc: ...)")
    for flag, metavar, help_ in _FLAGS:
        parser.add_argument(flag, metavar=metavar, help=help_, default=None)


def run(args: argparse.Namespace, plugins: Sequence[Any] = ()) -> int:
    from llm_otel.processor.config import ConfigError, load_config
    from llm_otel.processor.server import run as serve

    overrides = {flag[2:].replace("-", "_"): getattr(args, flag[2:].replace("-", "_")) for flag, _, _ in _FLAGS}
    try:
        cfg = load_config(args.config, overrides)
    except (ConfigError, OSError) as exc:
        print(f"llm-otel collector: {exc}", file=sys.stderr)
        return 2
    return serve(cfg, plugins)
