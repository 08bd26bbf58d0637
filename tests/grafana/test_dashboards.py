"""The committed Grafana boards: generated from grafana/boards/, complete, and every query parses.

Running the queries against a Prometheus fed by the demo is the end-to-end test's job (it uses
tests/grafana/queries.py); here every PromQL query is parsed by promtool (Debian package `prometheus`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from .queries import (
    DASHBOARDS,
    ROOT,
    load_boards,
    panels,
    prometheus_queries,
    sql_queries,
    substitute,
    variable_queries,
)

BOARDS = load_boards()
VARIABLES = ("datasource", "team", "task_type", "provider", "model")
PROVISIONING = ROOT / "grafana" / "provisioning"
RULE_FILES = sorted((ROOT / "collector" / "rules").glob("*.rules.yaml"))
BUSINESS = re.compile(r"\bllm_(?!otel_)\w+")


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found: install the Debian package `prometheus` (apt-get install prometheus)")
    return path


def test_the_four_boards_are_committed() -> None:
    assert set(BOARDS) == {
        "spend-overview.json",
        "cost-per-task.json",
        "context-economics.json",
        "processor-health.json",
    }


@pytest.mark.skipif(sys.version_info < (3, 11), reason="grafana-foundation-sdk needs Python 3.11")
def test_committed_boards_equal_the_generator_output(tmp_path: Path) -> None:
    pytest.importorskip("grafana_foundation_sdk", reason="pip install -e '.[grafana]'")
    result = subprocess.run(
        [sys.executable, str(ROOT / "grafana" / "generate.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    generated = {p.name: p.read_text() for p in tmp_path.glob("*.json")}
    committed = {p.name: p.read_text() for p in DASHBOARDS.glob("*.json")}
    assert generated.keys() == committed.keys()
    stale = [name for name in generated if generated[name] != committed[name]]
    assert not stale, f"run `python grafana/generate.py`: {stale} differ from grafana/boards/"


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_board_has_the_five_template_variables(name: str) -> None:
    variables = {v["name"]: v for v in BOARDS[name]["templating"]["list"]}
    assert set(VARIABLES) <= variables.keys()
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for label in VARIABLES[1:]:
        v = variables[label]
        assert v["type"] == "query", label
        assert v["multi"] and v["includeAll"], label
        assert v["allValue"] == ".*", label
        assert v["datasource"]["uid"] == "${datasource}", label


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_panel_has_a_title_a_description_and_a_query(name: str) -> None:
    for panel in panels(BOARDS[name]):
        title = panel.get("title")
        assert title, panel
        assert panel.get("description"), title
        targets = panel.get("targets") or []
        assert targets, f"{title} has no query"
        for target in targets:
            assert (target.get("expr") or target.get("rawSql") or "").strip(), f"{title} {target.get('refId')}"


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_panels_do_not_overlap_on_the_grid(name: str) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in BOARDS[name]["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel.get("title")
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel.get('title')} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel.get("title", "")


def test_every_prometheus_target_uses_the_datasource_variable() -> None:
    for name, board in BOARDS.items():
        for panel in panels(board):
            for target in panel["targets"]:
                ds = target.get("datasource") or panel["datasource"]
                if ds["type"] == "prometheus":
                    assert ds["uid"] == "${datasource}", f"{name} / {panel['title']}"


def test_prometheus_queries_filter_with_multi_value_matchers() -> None:
    for q in prometheus_queries():
        # A multi-value variable expands to a|b: only a regex matcher accepts it.
        assert '="$' not in q.raw and '!="$' not in q.raw, q
        for selector in re.findall(r"\b(llm_(?!otel_)\w+)\{([^}]*)\}", q.raw):
            metric, matchers = selector
            assert "$team" in matchers or "$provider" in matchers, f"{metric} unfiltered in {q}"
        assert not re.search(r"(?<![:\w])llm_(?!otel_)\w+(?![\w{])", q.raw.replace("_bucket{", "{")), (
            f"a business metric without label filters in {q}"
        )


def test_every_prometheus_query_parses_with_promtool(tmp_path: Path) -> None:
    queries = prometheus_queries() + variable_queries()
    assert len(queries) > 60
    records = [{"record": f"board:query:{i}", "expr": q.expr} for i, q in enumerate(queries)]
    rules = {"groups": [{"name": "boards", "rules": records}]}
    path = tmp_path / "boards.rules.yaml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        failing = [str(queries[int(i)]) for i in re.findall(r"board:query:(\d+)", result.stdout + result.stderr)]
        pytest.fail(f"{result.stdout}{result.stderr}\n" + "\n".join(failing))


def test_no_grafana_variable_is_left_after_substitution() -> None:
    for q in prometheus_queries() + variable_queries() + sql_queries():
        assert not re.search(r"\$(\{|\w)", q.expr), q


def test_cost_per_task_quantiles_show_exemplars() -> None:
    quantiles = [q for q in prometheus_queries() if "llm_task_cost_usd_bucket" in q.expr]
    assert len(quantiles) == 3
    assert all(q.exemplar and not q.instant for q in quantiles)


def test_queries_that_reach_back_days_are_marked_as_needing_history() -> None:
    for q in prometheus_queries():
        reach = [int(n) for n in re.findall(r"(?:offset\s+|\[)(\d+)d\b", q.raw)]
        if reach:
            assert q.needs_history is not None, f"mark the panel 'Needs {max(reach)}d history': {q}"
            assert q.needs_history.days >= max(reach), q
    assert any(q.needs_history for q in prometheus_queries()), "the 7d comparison panel lost its marker"


def test_queries_on_recording_rules_name_existing_rules_and_say_so() -> None:
    recorded = {
        rule["record"]
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    }
    users = [q for q in prometheus_queries() if q.needs_recording_rules]
    assert users
    for q in users:
        for name in re.findall(r"\b[a-z_]+:[a-z_0-9]+:[a-z_0-9:]+", q.expr):
            assert name in recorded, f"{name} is not a recording rule in collector/rules: {q}"
    for name, board in BOARDS.items():
        for panel in panels(board):
            exprs = " ".join(t.get("expr", "") for t in panel["targets"])
            if re.search(r"\b[a-z_]+:[a-z_0-9]+:[a-z_0-9:]+", exprs):
                assert "recording rules" in panel["description"], f"{name} / {panel['title']}"


def test_provisioned_datasources_have_the_uids_the_boards_use() -> None:
    provisioned = yaml.safe_load((PROVISIONING / "datasources" / "llm-otel.yaml").read_text())["datasources"]
    by_uid = {ds["uid"]: ds for ds in provisioned}
    assert by_uid["prometheus"]["type"] == "prometheus"
    assert by_uid["tempo"]["type"] == "tempo"
    exemplar_links = by_uid["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert exemplar_links == [{"name": "trace_id", "datasourceUid": "tempo"}]
    used: set[tuple[str, str]] = set()
    for board in BOARDS.values():
        for panel in panels(board):
            for target in panel["targets"]:
                ds = target.get("datasource") or panel["datasource"]
                if ds["uid"] != "${datasource}":
                    used.add((ds["type"], ds["uid"]))
    for ds_type, uid in used:
        assert uid in by_uid and by_uid[uid]["type"] == ds_type, (ds_type, uid)


def test_dashboard_provider_points_at_a_folder() -> None:
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "llm-otel.yaml").read_text())["providers"]
    assert providers[0]["type"] == "file"
    assert providers[0]["options"]["path"]


def test_substitute_expands_all_to_a_regex_and_keeps_unknown_variables() -> None:
    assert substitute('x{team=~"$team"}[$__rate_interval]') == 'x{team=~".*"}[1m]'
    assert substitute("'^(${team:regex})$'", {"team": "search"}) == "'^(search)$'"
    assert substitute("$unknown") == "$unknown"


PG_URL = os.environ.get("LLM_OTEL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
PG_HOWTO = (
    "needs PostgreSQL at 127.0.0.1:5432, database 'test', user 'postgres' without password "
    "(or LLM_OTEL_TEST_PG=postgresql://...); CI runs it"
)


def test_the_ledger_table_query_runs_on_a_real_postgresql_ledger() -> None:
    psycopg = pytest.importorskip("psycopg")
    from llm_otel.processor.ledger import open_ledger

    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        pytest.skip(f"{PG_HOWTO} ({exc})")
    (query,) = sql_queries()
    schema = f"grafana_test_{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in PG_URL else "?"
    ledger = open_ledger(f"{PG_URL}{sep}schema={schema}")  # creates the schema at the current version
    try:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{schema}"')
            for task_id, team, cost in (("t-cheap", "search", "0.01"), ("t-dear", "search", "3.5"), ("t-x", None, "1")):
                conn.execute(
                    "INSERT INTO ledger_tasks"
                    " (task_id, team, task_type, status, first_call_ns, last_seen_ns, calls, cost)"
                    " VALUES (%s, %s, 'rag', 'ok', 1000, 1000, 2, %s)",
                    (task_id, team, cost),
                )
            rows = conn.execute(query.expr).fetchall()
    finally:
        ledger.close()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    assert [row[0] for row in rows] == ["t-dear", "t-x", "t-cheap"]
    assert rows[1][1] == "unattributed"
