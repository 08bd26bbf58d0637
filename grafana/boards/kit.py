"""Building blocks shared by the llm-otel boards: datasources, label filters, panels, variables.

Metric names are the contract in docs/metrics.md. Every Prometheus query filters with `=~"$var"`
on the board's template variables (multi-value, "All" = `.*`).
"""

from collections.abc import Sequence
from typing import Any

from grafana_foundation_sdk.builders import bargauge, common, dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as dashboard_models

PROM = dashboard_models.DataSourceRef(type_val="prometheus", uid="${datasource}")
# Provisioned in grafana/provisioning/datasources/llm-otel.yaml.
LEDGER = dashboard_models.DataSourceRef(type_val="grafana-postgresql-datasource", uid="llm-otel-ledger")
TEMPO_UID = "tempo"

# Label filters, one per metric family (each family has a different label set).
CALL = 'team=~"$team", task_type=~"$task_type", provider=~"$provider", model=~"$model"'
TASK = 'team=~"$team", task_type=~"$task_type"'
MODEL = 'provider=~"$provider", model=~"$model"'
INPUT_TYPES = 'token_type=~"input|cache_read|cache_write"'

# Grafana picks a range that covers at least four scrapes.
RI = "$__rate_interval"

NEEDS_7D = " Needs 7d history: empty until Prometheus has kept a week of data."
NEEDS_RULES = " Needs the recording rules of collector/rules/ loaded in Prometheus."

USD = "currencyUSD"


# --- queries -------------------------------------------------------------------------------------


class SQLQuery(cogvariants.Dataquery):
    """A raw-SQL target for Grafana's PostgreSQL datasource (the SDK has no builder for it)."""

    def __init__(self, ref_id: str, raw_sql: str, fmt: str = "table") -> None:
        self.ref_id = ref_id
        self.raw_sql = raw_sql
        self.fmt = fmt

    def to_json(self) -> dict[str, object]:
        return {
            "datasource": LEDGER,
            "editorMode": "code",
            "format": self.fmt,
            "rawQuery": True,
            "rawSql": self.raw_sql,
            "refId": self.ref_id,
        }


class SQL(cogbuilder.Builder[cogvariants.Dataquery]):
    def __init__(self, ref_id: str, raw_sql: str) -> None:
        self._query = SQLQuery(ref_id, raw_sql)

    def build(self) -> cogvariants.Dataquery:
        return self._query


def prom(expr: str, legend: str = "__auto", *, instant: bool = False, exemplar: bool = False) -> prometheus.Dataquery:
    """One PromQL target; refIds are assigned by `with_targets`."""
    q = prometheus.Dataquery().expr(" ".join(expr.split())).legend_format(legend).datasource(PROM)
    q = q.instant() if instant else q.range()
    if exemplar:
        q = q.exemplar(True)
    return q


def with_targets(panel: Any, targets: Sequence[prometheus.Dataquery]) -> Any:
    for i, target in enumerate(targets):
        panel = panel.with_target(target.ref_id(chr(ord("A") + i)))
    return panel


# --- panels --------------------------------------------------------------------------------------


def ts(
    title: str,
    description: str,
    targets: Sequence[prometheus.Dataquery],
    *,
    unit: str = "short",
    w: int = 12,
    h: int = 8,
    stack: bool = False,
    bars: bool = False,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(PROM)
        .unit(unit)
        .span(w)
        .height(h)
        .fill_opacity(20 if stack else 10)
        .legend(
            common.VizLegendOptions()
            .display_mode(common_models.LegendDisplayMode.TABLE)
            .placement(common_models.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["mean", "max"])
        )
    )
    if stack:
        panel = panel.stacking(common.StackingConfig().mode(common_models.StackingMode.NORMAL))
    if bars:
        panel = panel.draw_style(common_models.GraphDrawStyle.BARS)
    return with_targets(panel, targets)


def single(
    title: str,
    description: str,
    targets: Sequence[prometheus.Dataquery],
    *,
    unit: str = "short",
    w: int = 4,
    h: int = 4,
    time_from: str | None = None,
) -> stat.Panel:
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(PROM)
        .unit(unit)
        .span(w)
        .height(h)
        .graph_mode(common_models.BigValueGraphMode.NONE)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    if time_from:
        panel = panel.time_from(time_from)
    return with_targets(panel, targets)


def bars(
    title: str,
    description: str,
    targets: Sequence[prometheus.Dataquery],
    *,
    unit: str = "short",
    w: int = 8,
    h: int = 8,
    time_from: str | None = None,
    maximum: float | None = None,
) -> bargauge.Panel:
    panel = (
        bargauge.Panel()
        .title(title)
        .description(description)
        .datasource(PROM)
        .unit(unit)
        .span(w)
        .height(h)
        .min(0)
        .display_mode(common_models.BarGaugeDisplayMode.GRADIENT)
        .orientation(common_models.VizOrientation.HORIZONTAL)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    if maximum is not None:
        panel = panel.max(maximum)
    if time_from:
        panel = panel.time_from(time_from)
    return with_targets(panel, targets)


def quantiles(metric: str, by: str, selector: str) -> list[prometheus.Dataquery]:
    """p50/p95/p99 of a histogram, one series per `by` value."""
    return [
        prom(
            f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket{{{selector}}}[$__rate_interval])))",
            f"p{round(q * 100)} {{{{{by}}}}}",
        )
        for q in (0.5, 0.95, 0.99)
    ]


# --- variables -----------------------------------------------------------------------------------


def label_variable(name: str, label: str, metric: str, selector: str) -> dashboard.QueryVariable:
    query = f"label_values({metric}{{{selector}}}, {name})" if selector else f"label_values({metric}, {name})"
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(PROM)
        .query(query)
        .refresh(dashboard_models.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dashboard_models.VariableSort.ALPHABETICAL_CASE_INSENSITIVE_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(dashboard_models.VariableOption(selected=True, text="All", value="$__all"))
    )


def variables() -> list[cogbuilder.Builder[dashboard_models.VariableModel]]:
    return [
        dashboard.DatasourceVariable("datasource")
        .label("Prometheus")
        .type("prometheus")
        .current(dashboard_models.VariableOption(selected=True, text="Prometheus", value="prometheus")),
        label_variable("team", "Team", "llm_calls_total", ""),
        label_variable("task_type", "Task type", "llm_calls_total", 'team=~"$team"'),
        label_variable("provider", "Provider", "llm_calls_total", TASK),
        label_variable("model", "Model", "llm_calls_total", f'{TASK}, provider=~"$provider"'),
    ]


def board(uid: str, title: str, description: str, tags: list[str]) -> dashboard.Dashboard:
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["llm-otel", *tags])
        .editable()
        .refresh("1m")
        .time("now-6h", "now")
        .timezone("browser")
        .tooltip(dashboard_models.DashboardCursorSync.CROSSHAIR)
        .variables(variables())
        .link(
            dashboard.DashboardLink("llm-otel boards")
            .type(dashboard_models.DashboardLinkType.DASHBOARDS)
            .tags(["llm-otel"])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )
