"""The metric and label names a PromQL query uses, and a check of them against what is exported.

Not a full PromQL parser: a tokenizer that knows PromQL's functions, aggregations and keywords,
so every other bare identifier is a metric name, every name before a matcher operator inside
``{…}`` a label of the metric before it, and every name in ``by``/``without``/``on``/
``ignoring``/``group_left``/``group_right`` lists a label. It errs on the strict side: an
identifier it does not know as a function is taken for a metric (and then must be exported).
The queries' syntax is checked by the real Prometheus (the live test) and promtool; this module
only answers "does every name exist".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

FUNCTIONS = frozenset(
    [
        "abs",
        "absent",
        "absent_over_time",
        "acos",
        "acosh",
        "asin",
        "asinh",
        "atan",
        "atanh",
        "avg_over_time",
        "ceil",
        "changes",
        "clamp",
        "clamp_max",
        "clamp_min",
        "cos",
        "cosh",
        "count_over_time",
        "day_of_month",
        "day_of_week",
        "day_of_year",
        "days_in_month",
        "deg",
        "delta",
        "deriv",
        "exp",
        "floor",
        "histogram_avg",
        "histogram_count",
        "histogram_fraction",
        "histogram_quantile",
        "histogram_stddev",
        "histogram_stdvar",
        "histogram_sum",
        "holt_winters",
        "hour",
        "idelta",
        "increase",
        "irate",
        "label_join",
        "label_replace",
        "last_over_time",
        "ln",
        "log10",
        "log2",
        "mad_over_time",
        "max_over_time",
        "min_over_time",
        "minute",
        "month",
        "pi",
        "predict_linear",
        "present_over_time",
        "quantile_over_time",
        "rad",
        "rate",
        "resets",
        "round",
        "scalar",
        "sgn",
        "sin",
        "sinh",
        "sort",
        "sort_by_label",
        "sort_by_label_desc",
        "sort_desc",
        "sqrt",
        "stddev_over_time",
        "stdvar_over_time",
        "sum_over_time",
        "tan",
        "tanh",
        "time",
        "timestamp",
        "vector",
        "year",
    ]
)
AGGREGATIONS = frozenset(
    [
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "limitk",
        "limit_ratio",
    ]
)
LABEL_LISTS = frozenset(["by", "without", "on", "ignoring", "group_left", "group_right"])
KEYWORDS = frozenset(["and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"]) | LABEL_LISTS
# Series Prometheus makes itself: one per scrape target, and one per alert.
PROMETHEUS_MADE: dict[str, frozenset[str]] = {
    "up": frozenset({"job", "instance"}),
    "ALERTS": frozenset({"alertname", "alertstate"}),
}
TARGET_LABELS = frozenset({"job", "instance"})  # added by every scrape

_TOKEN = re.compile(
    r"""
    (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<range>\[[^\]]*\])
  | (?P<var>\$\{?[A-Za-z_][A-Za-z0-9_]*\}?)
  | (?P<number>(?:0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)(?:ms|s|m|h|d|w|y)?)
  | (?P<name>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<matcher>=~|!~|!=|==|=)
  | (?P<punct>[{}(),])
  | (?P<op>[-+*/%^<>]=?|>=|<=)
  | (?P<space>\s+)
    """,
    re.VERBOSE,
)


@dataclass
class Names:
    """What one query refers to: metrics (with the labels matched on each) and grouping labels."""

    metrics: dict[str, set[str]] = field(default_factory=dict)
    grouping: set[str] = field(default_factory=set)


def tokens(expr: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if match is None:
            raise ValueError(f"cannot tokenize {expr[pos : pos + 20]!r} in {expr!r}")
        pos = match.end()
        kind = match.lastgroup or ""
        if kind != "space":
            out.append((kind, match.group()))
    return out


def _is_call(name: str, following: tuple[str, str]) -> bool:
    """A function call, or an aggregation (whose ``by``/``without`` may come before its argument)."""
    if name in FUNCTIONS:
        return following == ("punct", "(")
    return name in AGGREGATIONS and (following == ("punct", "(") or following[1] in ("by", "without"))


def names_in(expr: str) -> Names:
    """Metric names, their matched labels and the grouping labels of ``expr``."""
    found = Names()
    toks = tokens(expr)
    i, last_metric = 0, None
    while i < len(toks):
        kind, text = toks[i]
        following = toks[i + 1] if i + 1 < len(toks) else ("", "")
        if kind == "name" and text in LABEL_LISTS and following == ("punct", "("):
            i += 2
            while i < len(toks) and toks[i] != ("punct", ")"):
                if toks[i][0] == "name":
                    found.grouping.add(toks[i][1])
                i += 1
        elif kind == "name" and _is_call(text, following):
            last_metric = None
        elif kind == "name" and text in KEYWORDS:
            pass
        elif kind == "name":
            last_metric = text
            found.metrics.setdefault(text, set())
        elif (kind, text) == ("punct", "{"):
            metric = last_metric if i and toks[i - 1][0] == "name" else None
            i += 1
            while i < len(toks) and toks[i] != ("punct", "}"):
                if toks[i][0] == "name" and i + 1 < len(toks) and toks[i + 1][0] == "matcher":
                    label = toks[i][1]
                    if metric is None:
                        found.metrics.setdefault("{}", set()).add(label)
                    else:
                        found.metrics[metric].add(label)
                i += 1
        i += 1
    return found


def legend_labels(legend: str) -> set[str]:
    """Labels a Grafana legend format refers to (``{{namespace}}/{{fleet}}``)."""
    return set(re.findall(r"{{\s*([A-Za-z_][A-Za-z0-9_]*)\s*}}", legend))


SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exported_names(
    metrics_text: str, declared: Mapping[str, Iterable[str]] | None = None
) -> tuple[dict[str, set[str]], set[str]]:
    """Sample name → label names, from a /metrics page (histograms give _bucket/_sum/_count).

    A family the page declares (HELP/TYPE) but has no sample of yet — a counter nothing has
    incremented in this run — gets its names from its type and its labels from ``declared``
    (family name → label names, as the code registers them). The second value lists those.
    """
    exported: dict[str, set[str]] = {}
    empty: set[str] = set()
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            exported.setdefault(sample.name, set()).update(sample.labels)
        if not family.samples and declared is not None and family.name in declared:
            empty.add(family.name)
            for suffix in SUFFIXES.get(family.type, ("",)):
                labels = set(declared[family.name]) | ({"le"} if suffix == "_bucket" else set())
                exported[family.name + suffix] = labels
    return exported, empty


def problems(
    expr: str, exported: Mapping[str, Iterable[str]], *, legend: str = "", extra_labels: Iterable[str] = ()
) -> list[str]:
    """Why ``expr`` (and its legend) would not find what it names; [] when everything exists.

    ``extra_labels`` are labels the scrape adds besides job and instance (a ServiceMonitor's
    namespace, pod, service).
    """
    names = names_in(expr)
    known = {name: set(labels) for name, labels in exported.items()}
    known.update({name: set(labels) for name, labels in PROMETHEUS_MADE.items()})
    added = TARGET_LABELS | set(extra_labels)
    out: list[str] = []
    available: set[str] = set(added)
    for metric, matched in names.metrics.items():
        if metric == "{}":
            out.append(f"a selector without a metric name: {expr}")
            continue
        if metric not in known:
            out.append(f"metric {metric} is not exported")
            continue
        labels = known[metric] | added
        available |= labels
        out.extend(f"{metric} has no label {label}" for label in sorted(matched - labels))
    out.extend(f"no metric here has the label {label} (by/without/on)" for label in sorted(names.grouping - available))
    # After an aggregation only its grouping labels are left to name a series by.
    shown = names.grouping if names.grouping else available
    out.extend(f"the legend's {label} is not a label of the result" for label in sorted(legend_labels(legend) - shown))
    return out
