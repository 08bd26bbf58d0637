"""The FinOps Foundation's focus-validator on our export (installed with the `focus-check` extra).

The index serves focus-validator 1.0.0, whose newest rule set is "1.0" (it knows 0.5, 1.0-preview
and 1.0; nothing of 1.1-1.3). Its "1.0" rules still carry five pre-1.0 names: it requires the
columns InvoiceIssuer, Provider, Publisher and ResourceID (FOCUS 1.0 calls them InvoiceIssuerName,
ProviderName, PublisherName and ResourceId, which we write) and its SkuPriceId rule queries
ChargeType (renamed ChargeCategory in 1.0). Those five fail on any correct 1.0+ file; the test
pins exactly them, and checks that with the old names aliased every one of its 133 rules passes.
"""

from __future__ import annotations

import csv
import importlib.util
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from finops.committed import SINCE, UNTIL, book, write_week
from llm_otel.finops.focus import build_rows, write_csv
from llm_otel.processor.ledger import open_ledger

PRE_1_0_NAMES = {
    "InvoiceIssuer_Required :: ColumnRequired",
    "Provider_Required :: ColumnRequired",
    "Publisher_Required :: ColumnRequired",
    "ResourceID_Required :: ColumnRequired",
    "SkuPriceId_Nullable :: SQLQueryCheck",
}
ALIASES = {"InvoiceIssuer": "InvoiceIssuerName", "Provider": "ProviderName", "Publisher": "PublisherName",
           "ResourceID": "ResourceId", "ChargeType": "ChargeCategory"}


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("focus-validator")
    url, _ = write_week(tmp / "ledger.db")
    with open_ledger(url) as ledger:
        rows = build_rows(ledger.iter_calls(SINCE, UNTIL), committed=book().committed, since=SINCE, until=UNTIL).rows
    out = tmp / "focus.csv"
    write_csv(rows, str(out))
    return out


def validate(data: Path, tmp: Path) -> dict[str, bool]:
    """Runs the validator CLI; rule name -> passed."""
    # The script beside this interpreter (the venv's bin/, which need not be on PATH), else PATH's.
    beside = Path(sys.executable).with_name("focus-validator")
    exe = str(beside) if beside.exists() else shutil.which("focus-validator")
    spec = importlib.util.find_spec("focus_validator")
    if exe is None or spec is None or spec.origin is None:
        pytest.fail("focus-validator is not installed: pip install -e '.[focus-check]'")
    report = tmp / "report.xml"
    # cwd: the validator reads its currency-code list from a path relative to the working directory.
    subprocess.run([exe, "--data-file", str(data), "--validate-version", "1.0", "--output-type", "unittest",
                    "--output-destination", str(report)], cwd=Path(spec.origin).parent.parent,
                   check=True, capture_output=True, text=True, timeout=120)
    return {tc.get("name") or "": tc.find("failure") is None and tc.find("error") is None
            for tc in ET.parse(report).getroot().iter("testcase")}


def test_our_csv_passes_every_focus_1_0_rule_but_the_validators_five_pre_1_0_names(
    export: Path, tmp_path: Path,
) -> None:
    results = validate(export, tmp_path)
    assert len(results) == 133
    assert {name for name, ok in results.items() if not ok} == PRE_1_0_NAMES


def test_with_the_pre_1_0_names_aliased_every_validator_rule_passes(export: Path, tmp_path: Path) -> None:
    aliased = tmp_path / "aliased.csv"
    with export.open(newline="") as src, aliased.open("w", newline="") as dst:
        reader = csv.DictReader(src)
        writer = csv.DictWriter(dst, fieldnames=[*(reader.fieldnames or []), *ALIASES])
        writer.writeheader()
        for row in reader:
            writer.writerow({**row, **{old: row[new] for old, new in ALIASES.items()}})
    results = validate(aliased, tmp_path)
    assert [name for name, ok in results.items() if not ok] == []
