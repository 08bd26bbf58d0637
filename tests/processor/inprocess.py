"""A Processor running in this test process, on its own event loop thread (for tests that need
to reach inside: a stalled ledger, a fake clock, the rollup)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from llm_otel.processor.config import ProcessorConfig
from llm_otel.processor.server import Processor


class Running:
    def __init__(self, cfg: ProcessorConfig, ledger: Any = None) -> None:
        cfg.otlp_grpc = cfg.otlp_grpc and "127.0.0.1:0"
        cfg.otlp_http = cfg.otlp_http and "127.0.0.1:0"
        cfg.metrics = "127.0.0.1:0"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.proc = self.call(self._make(cfg, ledger))
        self.ports = self.call(self.proc.start())

    @staticmethod
    async def _make(cfg: ProcessorConfig, ledger: Any) -> Processor:
        return Processor(cfg, ledger=ledger)

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        try:
            self.call(self.proc.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
