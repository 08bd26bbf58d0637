"""The processor's settings: defaults, the YAML config file, and command-line flags, in that order of precedence.

The YAML keys are the flag names (``otlp-grpc``, ``ledger``, ...; underscores work too), so
anything said on the command line can be said in the file. See collector/config.example.yaml.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the key and what to write instead."""


@dataclass(frozen=True, slots=True)
class Budget:
    """A monthly budget in USD for one (team, task type), exported as ``llm_budget_usd``."""

    team: str
    task_type: str
    usd: float


@dataclass(frozen=True, slots=True)
class Quota:
    """A monthly limit (USD or tokens) for one team, optionally one task type; served at GET /v1/quotas.

    ``task_type`` None: every task type of the team. ``mode``: ``hard`` (the SDK refuses calls once
    spent) or ``soft`` (it warns). See docs/processor.md#quotas.
    """

    team: str
    task_type: str | None
    limit: float
    unit: str  # "usd" or "tokens"
    mode: str  # "hard" or "soft"


@dataclass(slots=True)
class ProcessorConfig:
    otlp_grpc: str | None = "127.0.0.1:4317"  # None or "off": no gRPC receiver
    otlp_http: str | None = "127.0.0.1:4318"
    metrics: str = "127.0.0.1:9464"
    ledger: str = "sqlite:///llm-otel.db"
    replica: str = ""  # stable identity when several processors share one ledger (e.g. the pod name)
    pricebook: str | None = None
    forward: str | None = None  # http(s)://host:port[/v1/traces] (OTLP/HTTP) or grpc(s)://host:port (OTLP/gRPC)
    forward_headers: dict[str, str] = field(default_factory=dict)
    # Security: a bearer token required on both OTLP endpoints; TLS on both when cert and key are given.
    auth_token: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    # Rollup
    grace_period_s: float = 30.0  # after a task span arrives, wait this long for straggling call spans
    idle_timeout_s: float = 900.0  # a task without a task span is final after this long without a call
    tick_s: float = 1.0
    # Limits and backpressure
    max_request_bytes: int = 64 * 1024 * 1024  # received body (compressed) and gRPC message limit
    max_decompressed_bytes: int = 64 * 1024 * 1024  # an inflated body beyond this is 413
    max_queue_spans: int = 200_000  # spans received and not yet ledgered; beyond: throttled (429/RESOURCE_EXHAUSTED)
    max_batch_calls: int = 5_000  # calls per ledger transaction (group commit across requests)
    retry_after_s: int = 1  # what throttled senders are told to wait
    max_label_values: int = 1_000  # distinct values per metric label; beyond: "other"
    retention_days: int | None = None
    budgets: list[Budget] = field(default_factory=list)
    quotas: list[Quota] = field(default_factory=list)
    quota_ttl_s: float = 5.0  # GET /v1/quotas recomputes month-to-date use from the ledger at most this often
    # Anomaly detection (docs/processor.md#anomalies): a task costing more than runaway-factor x the
    # median of its task type (once min-samples tasks are in the rolling window) is a runaway.
    anomaly_runaway_factor: float = 10.0
    anomaly_min_samples: int = 20
    anomaly_window: int = 500
    anomaly_max_retries: int = 3  # more retries than this within one task: retry_loop
    anomaly_blowup_factor: float = 10.0  # a later call's input above this x the first call's: context_blowup
    log_level: str = "info"
    drain_timeout_s: float = 30.0  # SIGTERM: how long in-flight requests may take to finish


_ALIASES = {"grpc": "otlp_grpc", "http": "otlp_http", "token": "auth_token"}
_FLOAT_KEYS = {"grace_period_s", "idle_timeout_s", "tick_s", "drain_timeout_s", "anomaly_runaway_factor",
               "anomaly_blowup_factor", "quota_ttl_s"}
_INT_KEYS = {
    "max_request_bytes",
    "max_decompressed_bytes",
    "max_queue_spans",
    "max_batch_calls",
    "retry_after_s",
    "max_label_values",
    "retention_days",
    "anomaly_min_samples",
    "anomaly_window",
    "anomaly_max_retries",
}
_OPTIONAL_ADDRS = {"otlp_grpc", "otlp_http"}


def _key(raw: str) -> str:
    k = raw.strip().replace("-", "_")
    return _ALIASES.get(k, k)


def load_config(
    path: str | os.PathLike[str] | None = None, overrides: Mapping[str, Any] | None = None
) -> ProcessorConfig:
    """Defaults, then the YAML file at ``path``, then ``overrides`` (flags: keys whose value is None are unset)."""
    values: dict[str, Any] = {}
    if path is not None:
        text = Path(path).read_text(encoding="utf-8")
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of settings (key: value), got {type(data).__name__}")
        for k, v in data.items():
            values[_key(str(k))] = v
    for k, v in (overrides or {}).items():
        if v is not None:
            values[_key(k)] = v
    return build_config(values, source=str(path) if path else "flags")


def build_config(values: Mapping[str, Any], source: str = "config") -> ProcessorConfig:
    """A checked ProcessorConfig from plain values; unknown keys and bad values raise ConfigError."""
    cfg = ProcessorConfig()
    known = {f.name for f in fields(ProcessorConfig)}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"{source}: unknown setting {key!r}; known: {', '.join(sorted(known))}")
        if key == "budgets":
            cfg.budgets = _budgets(value, source)
        elif key == "quotas":
            cfg.quotas = _quotas(value, source)
        elif key == "forward_headers":
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: forward-headers must be a mapping of header: value")
            cfg.forward_headers = {str(k): str(v) for k, v in value.items()}
        elif key in _FLOAT_KEYS:
            setattr(cfg, key, _number(value, key, source, float))
        elif key in _INT_KEYS:
            setattr(cfg, key, None if value is None else _number(value, key, source, int))
        elif key in _OPTIONAL_ADDRS and (value is False or str(value).lower() in ("off", "none", "")):
            setattr(cfg, key, None)
        else:
            setattr(cfg, key, None if value is None else str(value))
    for key in ("otlp_grpc", "otlp_http", "metrics"):
        addr = getattr(cfg, key)
        if addr is not None:
            parse_address(addr, key.replace("_", "-"))
    if bool(cfg.tls_cert) != bool(cfg.tls_key):
        raise ConfigError(f"{source}: tls-cert and tls-key go together; give both or neither")
    if cfg.max_label_values < 1:
        raise ConfigError(f"{source}: max-label-values must be at least 1")
    return cfg


def _number(value: Any, key: str, source: str, kind: type) -> Any:
    try:
        out = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: {key.replace('_', '-')} must be a number, got {value!r}") from None
    if out < 0:
        raise ConfigError(f"{source}: {key.replace('_', '-')} must not be negative, got {value!r}")
    return out


def _budgets(value: Any, source: str) -> list[Budget]:
    """``budgets: [{team: secops, task_type: policy-review, usd: 500}, ...]``."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(f"{source}: budgets must be a list of {{team, task_type, usd}} entries")
    out = []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict) or "usd" not in entry:
            raise ConfigError(f"{source}: budgets[{i}] must be a mapping with team, task_type and usd")
        try:
            usd = float(entry["usd"])
        except (TypeError, ValueError):
            raise ConfigError(f"{source}: budgets[{i}].usd must be a number, got {entry['usd']!r}") from None
        out.append(
            Budget(
                team=str(entry.get("team") or "unattributed"),
                task_type=str(entry.get("task_type") or entry.get("task-type") or "unattributed"),
                usd=usd,
            )
        )
    return out


def _quotas(value: Any, source: str) -> list[Quota]:
    """``quotas: [{team: secops, task_type: triage, usd: 500, mode: hard}, {team: ml, tokens: 2e9}]``."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(f"{source}: quotas must be a list of {{team, task_type, usd or tokens, mode}} entries")
    out: list[Quota] = []
    for i, entry in enumerate(value):
        where = f"{source}: quotas[{i}]"
        if not isinstance(entry, dict) or not entry.get("team"):
            raise ConfigError(f"{where} must be a mapping with team, usd or tokens, and optionally task_type and mode")
        units = [u for u in ("usd", "tokens") if entry.get(u) is not None]
        if len(units) != 1:
            raise ConfigError(f"{where} must give exactly one of usd (monthly USD) or tokens (monthly tokens)")
        unit = units[0]
        try:
            limit = float(entry[unit])
        except (TypeError, ValueError):
            raise ConfigError(f"{where}.{unit} must be a number, got {entry[unit]!r}") from None
        if limit < 0:
            raise ConfigError(f"{where}.{unit} must not be negative, got {entry[unit]!r}")
        mode = str(entry.get("mode") or "hard").lower()
        if mode not in ("hard", "soft"):
            raise ConfigError(f"{where}.mode must be hard or soft, got {entry.get('mode')!r}")
        unknown = set(entry) - {"team", "task_type", "task-type", "usd", "tokens", "mode"}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
        task_type = entry.get("task_type") or entry.get("task-type")
        out.append(Quota(str(entry["team"]), None if task_type is None else str(task_type), limit, unit, mode))
    return out


def parse_address(addr: str, key: str = "address") -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:4317`` for IPv6) as (host, port); port 0 picks a free one."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"{key}: expected HOST:PORT (e.g. 127.0.0.1:4318), got {addr!r}")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)
