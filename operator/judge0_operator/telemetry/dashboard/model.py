"""The vocabulary the dashboard's panels are written in: ``Query``, ``Panel``, ``Row``, and the
selectors every query filters by (the ``$job``, ``$namespace`` and ``$fleet`` variables). Kept
apart from the catalogue (``panels.py``) and the JSON builder (``build.py``), which
both use it."""

from __future__ import annotations

from dataclasses import dataclass, field

FLEET = '{job=~"$job", namespace=~"$namespace", fleet=~"$fleet"}'
JOB = '{job=~"$job"}'


def fleet_sel(*matchers: str) -> str:
    """The per-fleet selector with extra matchers, e.g. ``fleet_sel('condition="Ready"')``."""
    return FLEET[:-1] + "".join(f", {m}" for m in matchers) + "}"


def job_sel(*matchers: str) -> str:
    """The operator-wide selector with extra matchers, e.g. ``job_sel('outcome="throttled"')``."""
    return JOB[:-1] + "".join(f", {m}" for m in matchers) + "}"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    instant: bool = False


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: str = "timeseries"  # timeseries, stat, bargauge
    width: int = 12
    height: int = 8
    stack: bool = False
    decimals: int | None = None
    min: float | None = None
    max: float | None = None
    thresholds: tuple[tuple[float, str], ...] = ()  # (value, colour) above a green base


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...] = field(default_factory=tuple)


def quantiles(metric: str, by: str, selector: str, window: str) -> tuple[Query, ...]:
    """p50 and p95 of a histogram over ``window``, one series per ``by`` label (instant over the range)."""
    group = f"le, {by}" if by else "le"
    label = f" {{{{{by}}}}}" if by else ""
    return tuple(
        Query(
            f"histogram_quantile({q}, sum by ({group}) (increase({metric}_bucket{selector}[{window}])))",
            f"p{round(q * 100)}{label}",
            instant=window == "$__range",
        )
        for q in (0.5, 0.95)
    )
