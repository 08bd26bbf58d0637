"""Generate the llm-otel Grafana dashboards (grafana/dashboards/*.json) with grafana-foundation-sdk.

Run `python grafana/generate.py` after editing (needs `pip install -e '.[grafana]'`); the committed JSON
must equal its output (tests/grafana checks). Metric names are the contract in docs/metrics.md.

Conventions the tests and the end-to-end query test rely on:
- every board has the template variables datasource, team, task_type, provider, model (multi-value,
  "All" = `.*`), and every Prometheus query filters with `=~"$var"`;
- a panel whose queries need days of data says so in its description: "needs 7d history";
- a panel that reads recording rules from collector/rules/ says "needs the recording rules".
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

sys.path.insert(0, str(Path(__file__).resolve().parent))

from boards import BOARDS

OUT_DIR = Path(__file__).resolve().parent / "dashboards"


def render(build: Callable[[], dashboard.Dashboard]) -> str:
    """The board as stable, reviewable JSON (sorted keys, trailing newline)."""
    data = json.loads(JSONEncoder().encode(build().build()))
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=f"output directory (default {OUT_DIR})")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, build in BOARDS.items():
        (args.out / name).write_text(render(build))
        print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
