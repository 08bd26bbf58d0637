"""Arguments of ``llm-otel demo``."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=0.0, metavar="SECONDS",
                        help="repeat the workload until this many seconds have passed (default: one round)")
    parser.add_argument("--serve", action="store_true",
                        help="keep the processor and /metrics running after the workload, until Ctrl-C")
    parser.add_argument("--metrics", default=None, metavar="HOST:PORT",
                        help="where the processor serves /metrics (default: a free loopback port)")
    parser.add_argument("--keep-ledger", metavar="FILE",
                        help="copy the demo's SQLite ledger here before exiting (for reports and pictures)")


def run(args: argparse.Namespace) -> int:
    from llm_otel.demo.run import run_demo

    return run_demo(duration_s=args.duration, serve=args.serve, metrics_addr=args.metrics,
                    keep_ledger=args.keep_ledger)
