"""Every query of the committed Grafana boards, ready to run against a real Prometheus (or PostgreSQL).

Used by tests/grafana (structure, promtool parsing) and by the end-to-end test that feeds a Prometheus
from the demo and runs every board query through its HTTP API (issue 5, item 5):

    from grafana.queries import prometheus_queries, run_query
    for q in prometheus_queries():
        result = run_query("http://127.0.0.1:9090", q)
        assert result or q.needs_history or q.needs_recording_rules, q

Grafana template variables are replaced by regex-matching values (`.*` for "All"), Grafana's interval
variables by fixed durations. A panel whose description says "Needs 7d history" (any "Needs <N><unit>
history") is marked `needs_history`; such queries must parse but may return nothing on a young
Prometheus. A query reading a recording rule (`level:metric:operation`) is marked
`needs_recording_rules`: it returns data only where collector/rules/*.rules.yaml is loaded.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "grafana" / "dashboards"

# What "All" expands to, per board variable (Grafana sends the variable's allValue).
ALL: Mapping[str, str] = {"team": ".*", "task_type": ".*", "provider": ".*", "model": ".*"}
# Grafana's built-in interval variables, for a dashboard showing the last hour.
BUILTINS: Mapping[str, str] = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}
DEFAULT_RANGE = timedelta(hours=1)

_VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)")
_NEEDS_HISTORY = re.compile(r"needs (\d+)\s*([mhdw]) history", re.IGNORECASE)
_RECORDED = re.compile(r"\b[a-zA-Z_]\w*:[a-zA-Z_]\w*:[a-zA-Z_][\w:]*")
_LABEL_VALUES = re.compile(r"^\s*label_values\((?:(.*),\s*)?(\w+)\)\s*$", re.DOTALL)
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


@dataclass(frozen=True)
class BoardQuery:
    """One query of one panel (or template variable), variables substituted."""

    board: str  # dashboard file name, e.g. "cost-per-task.json"
    panel: str  # panel title, or "variable <name>"
    ref_id: str
    expr: str  # PromQL (or SQL for the ledger datasource) with the variables substituted
    raw: str  # as written in the dashboard JSON
    instant: bool  # a table/stat query evaluated once, not over a range
    exemplar: bool
    needs_history: timedelta | None  # from the panel description: may be empty before that much data
    needs_recording_rules: bool

    def __str__(self) -> str:
        return f"{self.board} / {self.panel} / {self.ref_id}: {self.expr}"


def substitute(text: str, values: Mapping[str, str] | None = None) -> str:
    """Replace Grafana variables ($team, ${team:regex}, $__rate_interval, ...) by concrete values.

    Unknown variables are left alone, so a typo shows up as a parse error rather than a silent match.
    """
    table = {**ALL, **BUILTINS, **(values or {})}

    def replace(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(3)
        return table.get(name, m.group(0))

    return _VARIABLE.sub(replace, text)


def _needs_history(description: str) -> timedelta | None:
    longest = None
    for n, unit in _NEEDS_HISTORY.findall(description):
        span = int(n) * _UNITS[unit.lower()]
        longest = span if longest is None else max(longest, span)
    return longest


def load_boards(directory: Path = DASHBOARDS) -> dict[str, dict[str, Any]]:
    """Every committed board, by file name."""
    return {path.name: json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))}


def panels(board: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' nested panels included; rows themselves are skipped."""
    for panel in board.get("panels", []):
        if panel.get("type") == "row":
            yield from panels(panel)
        else:
            yield panel


def datasource_type(panel: Mapping[str, Any], target: Mapping[str, Any]) -> str:
    ds = target.get("datasource") or panel.get("datasource") or {}
    return str(ds.get("type", ""))


def _targets(directory: Path, kind: str, values: Mapping[str, str] | None) -> list[BoardQuery]:
    found = []
    for name, board in load_boards(directory).items():
        for panel in panels(board):
            description = panel.get("description", "")
            for target in panel.get("targets", []):
                if datasource_type(panel, target) != kind:
                    continue
                raw = target.get("expr") if kind == "prometheus" else target.get("rawSql")
                found.append(
                    BoardQuery(
                        board=name,
                        panel=panel.get("title", ""),
                        ref_id=target.get("refId", ""),
                        expr=substitute(raw or "", values),
                        raw=raw or "",
                        instant=bool(target.get("instant")) or kind != "prometheus",
                        exemplar=bool(target.get("exemplar")),
                        needs_history=_needs_history(description),
                        needs_recording_rules=bool(_RECORDED.search(raw or "")) if kind == "prometheus" else False,
                    )
                )
    return found


def prometheus_queries(directory: Path = DASHBOARDS, values: Mapping[str, str] | None = None) -> list[BoardQuery]:
    """Every PromQL panel query of every board, variables substituted."""
    return _targets(directory, "prometheus", values)


def variable_queries(directory: Path = DASHBOARDS, values: Mapping[str, str] | None = None) -> list[BoardQuery]:
    """The template variables' `label_values(metric{...}, label)` as plain PromQL (`group by (label) (...)`)."""
    found = []
    for name, board in load_boards(directory).items():
        for variable in board.get("templating", {}).get("list", []):
            if variable.get("type") != "query":
                continue
            query = variable.get("query")
            raw = query.get("query", "") if isinstance(query, dict) else str(query or "")
            m = _LABEL_VALUES.match(raw)
            if m is None:
                raise ValueError(f"{name}: variable {variable.get('name')}: not label_values(...): {raw!r}")
            selector, label = m.group(1), m.group(2)
            expr = f"group by ({label}) ({selector})" if selector else f"group by ({label}) ({{{label}!=''}})"
            found.append(
                BoardQuery(
                    board=name,
                    panel=f"variable {variable.get('name')}",
                    ref_id="",
                    expr=substitute(expr, values),
                    raw=raw,
                    instant=True,
                    exemplar=False,
                    needs_history=None,
                    needs_recording_rules=False,
                )
            )
    return found


def sql_queries(
    directory: Path = DASHBOARDS,
    values: Mapping[str, str] | None = None,
    *,
    start_ns: int = 0,
    end_ns: int = 2**62,
) -> list[BoardQuery]:
    """Every ledger (PostgreSQL) panel query, with Grafana's time macros replaced for [start_ns, end_ns)."""
    macros = {
        "$__unixEpochNanoFrom()": str(start_ns),
        "$__unixEpochNanoTo()": str(end_ns),
        "$__unixEpochFrom()": str(start_ns // 10**9),
        "$__unixEpochTo()": str(end_ns // 10**9),
    }
    found = []
    for q in _targets(directory, "grafana-postgresql-datasource", values):
        sql = q.expr
        for macro, value in macros.items():
            sql = sql.replace(macro, value)
        found.append(BoardQuery(**{**q.__dict__, "expr": sql}))
    return found


def run_query(
    base_url: str,
    query: BoardQuery,
    *,
    at: float | None = None,
    window: timedelta = DEFAULT_RANGE,
    step: str = "15s",
    timeout: float = 30.0,
) -> list[dict[str, Any]]:
    """Run one PromQL board query through Prometheus' HTTP API; return its result series.

    Instant queries run at `at` (default now); range queries over `window` ending at `at`.
    Raises RuntimeError with Prometheus' message when the query fails (e.g. does not parse).
    """
    end = time.time() if at is None else at
    if query.instant:
        path = "/api/v1/query"
        params = {"query": query.expr, "time": f"{end:.3f}"}
    else:
        path = "/api/v1/query_range"
        params = {
            "query": query.expr,
            "start": f"{end - window.total_seconds():.3f}",
            "end": f"{end:.3f}",
            "step": step,
        }
    body = urllib.parse.urlencode(params).encode()
    request = urllib.request.Request(base_url.rstrip("/") + path, data=body, method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = json.loads(response.read())
    except urllib.error.HTTPError as e:
        payload = json.loads(e.read() or b"{}")
    if payload.get("status") != "success":
        raise RuntimeError(f"{query}: {payload.get('errorType')}: {payload.get('error')}")
    result = payload["data"]["result"]
    if payload["data"].get("resultType") == "scalar":
        return [{"value": result}]
    return list(result)
