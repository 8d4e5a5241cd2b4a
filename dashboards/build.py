"""The RPS Quest Grafana dashboard as code (SPEC §11).

.venv/bin/python dashboards/build.py   rewrites dashboards/rps-quest.json

Counters are read with increase()/rate(), gauges with last_over_time(…[6h]) so that a function
scaled to zero still shows its last value, quantiles with histogram_quantile over the rate of the
_bucket series. Two datasources: rps-prometheus, and rps-api, the Infinity JSON plugin on
promote's admin API (URLs relative to the datasource's base URL, promote's address).
"""

from __future__ import annotations

import json
import string
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

from grafana_foundation_sdk.builders.bargauge import Panel as BarGauge
from grafana_foundation_sdk.builders.common import ReduceDataOptions, VizLegendOptions
from grafana_foundation_sdk.builders.dashboard import Dashboard, Row, ThresholdsConfig
from grafana_foundation_sdk.builders.prometheus import Dataquery as PrometheusQuery
from grafana_foundation_sdk.builders.stat import Panel as Stat
from grafana_foundation_sdk.builders.table import Panel as Table
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (
    BigValueGraphMode,
    LegendDisplayMode,
    LegendPlacement,
    VizOrientation,
)
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    DataTransformerConfig,
    DynamicConfigValue,
    Threshold,
    ThresholdsMode,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

OUTPUT = Path(__file__).with_name("rps-quest.json")
PROMETHEUS = DataSourceRef(type_val="prometheus", uid="rps-prometheus")
API = DataSourceRef(type_val="yesoreyeram-infinity-datasource", uid="rps-api")
FULL_WIDTH = 24  # Grafana's grid

Panel = TypeVar("Panel", Timeseries, Stat, BarGauge, Table)


# -- the Infinity plugin's JSON query: the SDK has no module for it -------------------------


@dataclass(frozen=True)
class Column:
    selector: str
    text: str
    type: str = "string"  # or number, timestamp


@dataclass(frozen=True)
class InfinityQuery(cogvariants.Dataquery):
    """A GET of JSON from rps-api; the table's rows are the array at `root_selector`."""

    url: str
    root_selector: str
    columns: tuple[Column, ...]
    ref_id: str = "A"

    def to_json(self) -> dict[str, object]:
        return {
            "refId": self.ref_id,
            "datasource": API,
            "type": "json",
            "source": "url",
            "parser": "backend",
            "format": "table",
            "url": self.url,
            "url_options": {"method": "GET", "data": ""},
            "root_selector": self.root_selector,
            "columns": [asdict(column) for column in self.columns],
        }


class Infinity(cogbuilder.Builder[InfinityQuery]):
    def __init__(self, url: str, root_selector: str, *columns: Column) -> None:
        self._query = InfinityQuery(url, root_selector, columns)

    def build(self) -> InfinityQuery:
        return self._query


# -- PromQL --------------------------------------------------------------------------------


def query(expr: str, legend: str = "") -> PrometheusQuery:
    return PrometheusQuery().datasource(PROMETHEUS).expr(expr).legend_format(legend)


def latest(gauge: str) -> str:
    """A gauge's last value, kept for 6 h after its function scaled to zero."""
    return f"last_over_time({gauge}[6h])"


def share(counter: str, by: str, part: str, among: str = "") -> str:
    """Of the counter's increase over the dashboard's range within `among`, the share in `part`."""
    whole = f"{counter}{{{among}}}" if among else counter
    matchers = f"{among}, {part}" if among else part
    return (
        f"sum by ({by}) (increase({counter}{{{matchers}}}[$__range]))"
        f" / sum by ({by}) (increase({whole}[$__range]))"
    )


def quantiles(
    histogram: str, by: str, window: str, selector: str = "", qs: tuple[float, ...] = (0.5, 0.95)
) -> list[PrometheusQuery]:
    return [
        query(
            f"histogram_quantile({q}, sum by (le, {by}) "
            f"(rate({histogram}_bucket{selector}[{window}])))",
            f"{{{{{by}}}}} p{round(q * 100)}",
        )
        for q in qs
    ]


# -- panels --------------------------------------------------------------------------------


def _prometheus(panel: Panel, queries: tuple[PrometheusQuery, ...], instant: bool) -> Panel:
    for ref_id, target in zip(string.ascii_uppercase, queries, strict=False):
        panel.with_target(target.ref_id(ref_id).instant() if instant else target.ref_id(ref_id))
    return panel.datasource(PROMETHEUS)


def timeseries(
    title: str, description: str, unit: str, *queries: PrometheusQuery, width: int = 8
) -> Timeseries:
    """Rates over the dashboard's time range."""
    legend = (
        VizLegendOptions()
        .display_mode(LegendDisplayMode.LIST)
        .placement(LegendPlacement.BOTTOM)
        .show_legend(True)
    )
    panel = (
        Timeseries()
        .title(title)
        .description(description)
        .unit(unit)
        .span(width)
        .height(8)
        .legend(legend)
    )
    return _prometheus(panel, queries, instant=False)


def stat(
    title: str, description: str, unit: str, *queries: PrometheusQuery, width: int = 6
) -> Stat:
    """A number per series, now; nothing counted yet shows 0."""
    panel = (
        Stat()
        .title(title)
        .description(description)
        .unit(unit)
        .span(width)
        .height(5)
        .no_value("0")
        .graph_mode(BigValueGraphMode.NONE)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]))
    )
    return _prometheus(panel, queries, instant=True)


def bars(
    title: str, description: str, unit: str, *queries: PrometheusQuery, width: int = 8
) -> BarGauge:
    """A bar per series, now."""
    panel = (
        BarGauge()
        .title(title)
        .description(description)
        .unit(unit)
        .span(width)
        .height(8)
        .orientation(VizOrientation.HORIZONTAL)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]))
    )
    return _prometheus(panel, queries, instant=True)


def ratios(
    title: str, description: str, *queries: PrometheusQuery, good_from: float | None = None
) -> BarGauge:
    """Bars of a value between 0 and 1, green from `good_from` on."""
    steps = [Threshold(value=None, color="blue")]
    if good_from is not None:
        steps.append(Threshold(value=good_from, color="green"))
    return (
        bars(title, description, "percentunit", *queries)
        .min(0)
        .max(1)
        .thresholds(ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps))
    )


def loaded_models() -> Table:
    """Per family and alias, the version play served most recently and when it was last seen."""
    seen = (
        "1000 * topk by (family, alias) (1, max by (family, alias, version, config_id) "
        "(last_over_time(timestamp(rps_model_loaded_info)[6h:$__interval])))"
    )
    panel = (
        Table()
        .title("Loaded models")
        .description(
            "Per family and alias, the version play instances served most recently in the last "
            "6 h, and when one last reported it."
        )
        .span(16)
        .height(8)
        .show_header(True)
        .override_by_name(
            "Value",
            [
                DynamicConfigValue(id_val="displayName", value="Last seen"),
                DynamicConfigValue(id_val="unit", value="dateTimeAsIso"),
            ],
        )
        .with_transformation(
            DataTransformerConfig(id_val="organize", options={"excludeByName": {"Time": True}})
        )
    )
    return _prometheus(panel, (query(seen).format(PromQueryFormat.TABLE),), instant=True)


def api_table(title: str, description: str, source: Infinity) -> Table:
    """Rows of promote's admin API."""
    return (
        Table()
        .title(title)
        .description(description)
        .datasource(API)
        .span(FULL_WIDTH)
        .height(9)
        .show_header(True)
        .with_target(source)
    )


# -- rows ----------------------------------------------------------------------------------

TRAFFIC = '{route!="/metrics"}'  # Prometheus's own scrapes are not traffic


def gameplay() -> list[Timeseries | Stat | BarGauge | Table]:
    return [
        stat(
            "Games started",
            "Games started in the time range, by source (human, telemetry, test).",
            "short",
            query("sum by (source) (increase(rps_games_started_total[$__range]))", "{{source}}"),
        ),
        stat(
            "Games finished",
            "Games finished in the time range, by winner.",
            "short",
            query("sum by (winner) (increase(rps_games_finished_total[$__range]))", "{{winner}}"),
        ),
        stat(
            "Games finished, last 7 days",
            "Human, non-test games finished in the last 7 days, by policy (from the database).",
            "short",
            query(latest("rps_games_finished_7d"), "{{policy}}"),
        ),
        stat(
            "Rounds played",
            "Rounds played in the time range, by the phase that chose the bot's move.",
            "short",
            query("sum by (phase) (increase(rps_rounds_played_total[$__range]))", "{{phase}}"),
        ),
        timeseries(
            "Games per minute",
            "Games started, by policy, and games finished.",
            "short",
            query(
                "60 * sum by (policy) (rate(rps_games_started_total[$__rate_interval]))",
                "{{policy}} started",
            ),
            query("60 * sum(rate(rps_games_finished_total[$__rate_interval]))", "finished"),
            width=12,
        ),
        timeseries(
            "Rounds per minute",
            "Rounds by phase (gambit, ml, legacy, fallback) and the player's result.",
            "short",
            query(
                "60 * sum by (phase, result) (rate(rps_rounds_played_total[$__rate_interval]))",
                "{{phase}} {{result}}",
            ),
            width=12,
        ),
        ratios(
            "Bot win rate per policy",
            "Finished games the bot won in the time range (a tie is not a win), every source.",
            query(share("rps_games_finished_total", "policy", 'winner="bot"'), "{{policy}}"),
        ),
        ratios(
            "Bot win rate per ML alias",
            "Finished games the bot won in the time range, by the alias that played them.",
            query(
                share("rps_games_finished_total", "family, alias", 'winner="bot"', 'alias!="none"'),
                "{{family}} {{alias}}",
            ),
        ),
        ratios(
            "Bot win rate, last 7 days",
            "Human, non-test games of the last 7 days the bot won (from the database); good "
            "adaptive bots win 75 to 85 % of first-to-10 matches.",
            query(latest("rps_policy_bot_win_rate_7d"), "{{policy}}"),
            good_from=0.75,
        ),
    ]


def models() -> list[Timeseries | Stat | BarGauge | Table]:
    return [
        timeseries(
            "Predictions per second",
            "Predictions of the player's next move, by alias: all four predict every ML round.",
            "short",
            query(
                "sum by (family, alias) (rate(rps_predictions_total[$__rate_interval]))",
                "{{family}} {{alias}}",
            ),
        ),
        ratios(
            "Prediction accuracy",
            "Predictions that came true in the time range, by alias; chance is 1/3.",
            query(
                share("rps_predictions_total", "family, alias", 'correct="true"'),
                "{{family}} {{alias}}",
            ),
        ),
        ratios(
            "Prediction accuracy, current assignment",
            "The promotion evidence: each alias's accuracy under its current assignment (from "
            "the database).",
            query(latest("rps_alias_prediction_accuracy"), "{{family}} {{alias}}"),
        ),
        timeseries(
            "Prediction latency",
            "Time of one ONNX run, by family.",
            "s",
            *quantiles(
                "rps_prediction_latency_seconds", "family", "$__rate_interval", qs=(0.5, 0.95, 0.99)
            ),
        ),
        timeseries(
            "Fallback rounds per minute",
            "ML rounds the legacy fallback bot played instead of a model, by alias and reason.",
            "short",
            query(
                "60 * sum by (family, alias, reason) "
                "(rate(rps_model_fallbacks_total[$__rate_interval]))",
                "{{family}} {{alias}} {{reason}}",
            ),
        ),
        bars(
            "Model reloads",
            "Manifest checks that loaded models, found nothing new or failed, by trigger.",
            "short",
            query(
                "sum by (trigger, outcome) (increase(rps_model_reloads_total[$__range]))",
                "{{trigger}} {{outcome}}",
            ),
        ),
        loaded_models(),
        stat(
            "Manifest version",
            "The serving manifest version play instances follow.",
            "none",
            query(f"max({latest('rps_manifest_version')})", "manifest"),
            width=8,
        ).height(8),
        bars(
            "Model load time",
            "Time to fetch, verify and open a family's four aliases and swap them in, over the "
            "time range; the target is under a second from the local store.",
            "s",
            *quantiles("rps_model_load_duration_seconds", "family", "$__range"),
        ),
        bars(
            "Artifact size",
            "Size of the ONNX artifact each alias is served from.",
            "bytes",
            query(
                f"max by (family, alias) ({latest('rps_model_artifact_bytes')})",
                "{{family}} {{alias}}",
            ),
        ),
        stat(
            "Since play confirmed its manifest",
            "Time since a play instance last read the model store and found its manifest the "
            "newest (every 5 s while it plays ML rounds); the oldest instance.",
            "s",
            query(f"time() - min({latest('rps_manifest_checked_timestamp_seconds')})", "age"),
            width=8,
        ).height(8),
    ]


def training_and_promotion() -> list[Timeseries | Stat | BarGauge | Table]:
    return [
        stat(
            "Training cycles",
            "Training cycles in the time range, by status.",
            "short",
            query("sum by (status) (increase(rps_training_cycles_total[$__range]))", "{{status}}"),
        ),
        stat(
            "Since the last successful training",
            "Time since the newest successful training cycle (from the database).",
            "s",
            query(f"time() - max({latest('rps_last_training_success_timestamp_seconds')})", "age"),
        ),
        stat(
            "Promotions and reorders",
            "B promoted to Production, and challengers reordered, in the time range.",
            "short",
            query(
                "sum by (family) (increase(rps_promotions_total[$__range]))", "{{family}} promoted"
            ),
            query(
                "sum by (family) (increase(rps_alias_reorders_total[$__range]))",
                "{{family}} reordered",
            ),
        ),
        stat(
            "Dead letters",
            "Events the Broker gave up delivering in the time range, by type.",
            "short",
            query("sum by (type) (increase(rps_dead_letters_total[$__range]))", "{{type}}"),
        ),
        stat(
            "Promotion lacking evidence for",
            "Per family whose every promotion evaluation since its last decision found too few "
            "games, how long that has lasted (from the database).",
            "s",
            query(
                "time() - max by (family) "
                f"({latest('rps_promotion_insufficient_data_since_timestamp_seconds')})",
                "{{family}}",
            ),
            width=12,
        ),
        stat(
            "Business gauges age",
            "Time since promote last read the business gauges from the database: more than 15 s "
            "while it is scraped means the database is unreachable.",
            "s",
            query(f"time() - max({latest('rps_business_gauges_read_timestamp_seconds')})", "age"),
            width=12,
        ),
        bars(
            "Models trained",
            "Models trained in the time range, by family and status.",
            "short",
            query(
                "sum by (family, status) (increase(rps_training_runs_total[$__range]))",
                "{{family}} {{status}}",
            ),
        ),
        bars(
            "Training time per model",
            "Time to train, export, strength-check and register one model, over the time range.",
            "s",
            *quantiles("rps_training_duration_seconds", "family", "$__range"),
        ),
        bars(
            "Promotion evaluations",
            "Evaluations in the time range, by family and decision.",
            "short",
            query(
                "sum by (family, decision) (increase(rps_promotion_evaluations_total[$__range]))",
                "{{family}} {{decision}}",
            ),
        ),
        ratios(
            "P(B better than Production)",
            "Posterior probability that B's bot win rate beats Production's; B is promoted from "
            "0.95 on, once both have enough games.",
            query(latest("rps_promotion_posterior_b_better"), "{{family}}"),
            good_from=0.95,
        ),
        bars(
            "Evidence games per alias",
            "Finished human, non-test games of each alias's current assignment (from the "
            "database).",
            "short",
            query(latest("rps_alias_games"), "{{family}} {{alias}}"),
        ),
        ratios(
            "Evidence bot win rate per alias",
            "The bot win rate of those games: what the promotion rule compares.",
            query(latest("rps_alias_bot_win_rate"), "{{family}} {{alias}}"),
        ),
        ratios(
            "Arena headline per alias",
            "Train's strength check of each alias's current version: its policy's mean match win "
            "rate over the zoo's types, from the database (none where the check did not run).",
            query(latest("rps_alias_arena_headline"), "{{family}} {{alias}}"),
        ),
        bars(
            "Telemetry games",
            "Games legacy bots played against the ML policies in the time range, by winner.",
            "short",
            query(
                "sum by (policy, winner) (increase(rps_telemetry_games_total[$__range]))",
                "{{policy}} {{winner}}",
            ),
            width=16,
        ),
        api_table(
            "Promotion ledger",
            "The 20 newest promotion evaluations, newest first (promote's GET /promotions).",
            Infinity(
                "/promotions?limit=20",
                "promotions",
                Column("created_at", "Time", "timestamp"),
                Column("family", "Family"),
                Column("decision", "Decision"),
                Column("reorder_applied", "Reordered"),
                Column("inputs.posterior_b_better", "P(B better)", "number"),
                Column("state", "State"),
                Column("reason", "Reason"),
                Column("trigger_type", "Trigger"),
                Column("trigger_event_id", "Event"),
            ),
        ),
        api_table(
            "Alias table",
            "Every alias's lineage and its evidence so far (promote's GET /aliases).",
            Infinity(
                "/aliases",
                "aliases",
                Column("family", "Family"),
                Column("alias", "Alias"),
                Column("version", "Version", "number"),
                Column("config_id", "Config"),
                Column("assignment_id", "Assignment", "number"),
                Column("assigned_at", "Assigned", "timestamp"),
                Column("games", "Games", "number"),
                Column("bot_wins", "Bot wins", "number"),
                Column("bot_win_rate", "Bot win rate", "number"),
                Column("predictions", "Predictions", "number"),
                Column("accuracy", "Accuracy", "number"),
                Column("arena_headline", "Arena headline", "number"),
            ),
        ),
    ]


def functions() -> list[Timeseries | Stat | BarGauge | Table]:
    return [
        timeseries(
            "Requests per second",
            "HTTP requests answered, by function; Prometheus's scrapes left out.",
            "reqps",
            query(
                f"sum by (function) (rate(rps_http_requests_total{TRAFFIC}[$__rate_interval]))",
                "{{function}}",
            ),
        ),
        timeseries(
            "Errors per second",
            "Answers with a non-2xx status, by function, route and code.",
            "reqps",
            query(
                "sum by (function, route, code) "
                '(rate(rps_http_requests_total{code!~"2.."}[$__rate_interval]))',
                "{{function}} {{route}} {{code}}",
            ),
        ),
        timeseries(
            "Request latency",
            "Time to answer, by function; Prometheus's scrapes left out.",
            "s",
            *quantiles(
                "rps_http_request_duration_seconds", "function", "$__rate_interval", TRAFFIC
            ),
        ),
        bars(
            "Events",
            "CloudEvents handled in the time range, by function, type and outcome.",
            "short",
            query(
                "sum by (function, type, outcome) (increase(rps_events_total[$__range]))",
                "{{function}} {{type}} {{outcome}}",
            ),
            width=FULL_WIDTH,
        ),
    ]


def runtime() -> list[Timeseries | Stat | BarGauge | Table]:
    """prometheus_client's process, platform and garbage-collector collectors, per function."""
    return [
        timeseries(
            "CPU per function",
            "CPU time used per second of wall time (1 = a whole core), by function.",
            "percentunit",
            query("sum by (job) (rate(process_cpu_seconds_total[$__rate_interval]))", "{{job}}"),
        ),
        timeseries(
            "Memory per function",
            "Resident and virtual memory of each function's largest instance.",
            "bytes",
            query("max by (job) (process_resident_memory_bytes)", "{{job}} resident"),
            query("max by (job) (process_virtual_memory_bytes)", "{{job}} virtual"),
        ),
        timeseries(
            "Open file descriptors",
            "File descriptors open in each function's busiest instance, and the limit.",
            "short",
            query("max by (job) (process_open_fds)", "{{job}} open"),
            query("min by (job) (process_max_fds)", "{{job}} limit"),
        ),
        timeseries(
            "Garbage collections per minute",
            "Collections by function and generation; a full (generation 2) one stalls requests.",
            "short",
            query(
                "60 * sum by (job, generation) "
                "(rate(python_gc_collections_total[$__rate_interval]))",
                "{{job}} gen {{generation}}",
            ),
        ),
        timeseries(
            "Objects collected per second",
            "Objects the garbage collector freed, and uncollectable ones found, by function.",
            "short",
            query(
                "sum by (job) (rate(python_gc_objects_collected_total[$__rate_interval]))",
                "{{job}} collected",
            ),
            query(
                "sum by (job) (rate(python_gc_objects_uncollectable_total[$__rate_interval]))",
                "{{job}} uncollectable",
            ),
        ),
        bars(
            "Uptime",
            "Time since each function's newest instance started.",
            "s",
            query("time() - max by (job) (process_start_time_seconds)", "{{job}}"),
        ),
        stat(
            "Python",
            "Instances scraped in the last 6 h, by Python implementation and version.",
            "short",
            query(
                f"count by (implementation, version) ({latest('python_info')})",
                "{{implementation}} {{version}}",
            ),
            width=FULL_WIDTH,
        ),
    ]


ROWS = {
    "Gameplay": gameplay,
    "Models": models,
    "Training and promotion": training_and_promotion,
    "Functions": functions,
    "Runtime": runtime,
}


def build() -> Dashboard:
    dashboard = (
        Dashboard("RPS Quest")
        .uid("rps-quest")
        .description(
            "Games, models, training and promotion, and the four functions and their runtime "
            "(SPEC §11)."
        )
        .tags(["rps-quest"])
        .time("now-6h", "now")
        .refresh("30s")
    )
    for title, panels in ROWS.items():
        dashboard.with_row(Row(title))
        for panel in panels():
            dashboard.with_panel(panel)
    return dashboard


def render() -> str:
    """The dashboard's JSON, panels (rows included) numbered in order: the same every run."""
    model = build().build()
    for number, panel in enumerate(model.panels, 1):
        panel.id_val = number
    return json.dumps(model, cls=JSONEncoder, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    OUTPUT.write_text(render())
