"""The Prometheus rules in collector/rules/ load, and their promtool unit tests pass.

`promtool` comes with the Debian package `prometheus` (`.ci/run` installs it). Every alert must be
unit-tested both firing and not firing, and link to its own section of docs/runbook.md.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "collector" / "rules"
RULE_FILES = sorted(RULES_DIR.glob("*.rules.yaml"))
TEST_FILES = sorted((RULES_DIR / "tests").glob("*.test.yaml"))
RUNBOOK = ROOT / "docs" / "runbook.md"


def promtool() -> str:
    """Path of promtool, or a failure that says how to get it (never a skip: CI must run these)."""
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found: install the Debian package `prometheus` (apt-get install prometheus)")
    return path


def alerts() -> list[dict[str, Any]]:
    """Every alerting rule of every rule file."""
    found: list[dict[str, Any]] = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            found.extend(rule for rule in group["rules"] if "alert" in rule)
    return found


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    slug = heading.strip().lower()
    slug = re.sub(r"[^\w\- ]", "", slug)
    return slug.replace(" ", "-")


@pytest.fixture(scope="module")
def unit_test_results() -> Iterator[dict[Path, subprocess.CompletedProcess[str]]]:
    """Run every promtool unit-test file at once (in parallel: the 7-day tests take seconds each)."""
    tool = promtool()
    procs = {
        path: subprocess.Popen(
            [tool, "test", "rules", path.name],
            cwd=path.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for path in TEST_FILES
    }
    results = {}
    for path, proc in procs.items():
        out, _ = proc.communicate(timeout=240)
        results[path] = subprocess.CompletedProcess(proc.args, proc.returncode, out, "")
    yield results


def test_rule_files_exist_and_have_unit_tests() -> None:
    assert RULE_FILES, f"no *.rules.yaml in {RULES_DIR}"
    assert TEST_FILES, f"no *.test.yaml in {RULES_DIR / 'tests'}"


def test_promtool_check_rules_accepts_every_rule_file() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", *map(str, RULE_FILES)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("test_file", TEST_FILES, ids=lambda p: p.name)
def test_promtool_unit_tests_pass(
    test_file: Path, unit_test_results: dict[Path, subprocess.CompletedProcess[str]]
) -> None:
    result = unit_test_results[test_file]
    assert result.returncode == 0, result.stdout
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_summary_a_description_and_a_runbook_url() -> None:
    for rule in alerts():
        annotations = rule.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            assert annotations.get(key), f"{rule['alert']} has no {key}"
        assert "{{" in annotations["description"], f"{rule['alert']}: the description should carry the numbers"
        assert rule.get("labels", {}).get("severity") in {"page", "warning"}, rule["alert"]


def test_every_runbook_url_points_to_its_own_section_of_the_runbook() -> None:
    anchors = {github_anchor(line.lstrip("#")) for line in RUNBOOK.read_text().splitlines() if line.startswith("## ")}
    for rule in alerts():
        url = rule["annotations"]["runbook_url"]
        path, _, anchor = url.partition("#")
        assert path == "docs/runbook.md", url
        assert anchor == github_anchor(rule["alert"]), f"{rule['alert']} links to #{anchor}"
        assert anchor in anchors, f"docs/runbook.md has no section '## {rule['alert']}'"


def test_every_alert_is_unit_tested_both_firing_and_not_firing() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in TEST_FILES:
        for group in yaml.safe_load(path.read_text())["tests"]:
            for case in group.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    names = {rule["alert"] for rule in alerts()}
    assert names - firing == set(), "alerts never tested firing"
    assert names - quiet == set(), "alerts never tested quiet"


def test_every_unit_test_file_fixes_the_rule_group_order() -> None:
    # Without it promtool evaluates groups in random order and annotation queries flake.
    for path in TEST_FILES:
        test = yaml.safe_load(path.read_text())
        groups = [
            group["name"]
            for rule_file in test["rule_files"]
            for group in yaml.safe_load((path.parent / rule_file).read_text())["groups"]
        ]
        assert test.get("group_eval_order") == groups, path.name
