"""The live view: the fleet's instances with health per signal, its conditions, and a scrolling
timeline of faults and actions (rich). Without a terminal (CI) or with ``--plain`` it prints
one line per timeline entry and a fleet summary every few seconds instead.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Protocol, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from judge0_operator.simulate.report.build import Report
from judge0_operator.simulate.report.text import render_text
from judge0_operator.simulate.samples import Sample
from judge0_operator.simulate.state import SimState, TimelineEntry

HEALTH_STYLE = {"Healthy": "green", "Unhealthy": "bold red", "Starting": "cyan", "Unknown": "yellow"}
LEVEL_STYLE = {"info": "", "good": "green", "warn": "yellow", "bad": "bold red"}
SIGNALS = ("ec2", "api", "workers", "canary")
CONDITIONS = ("Ready", "Available", "Progressing", "Degraded", "RemediationAllowed", "CloudAPIReady")
TIMELINE_ROWS = 14


class View(Protocol):
    def start(self) -> None: ...
    def update(self) -> None: ...
    def stop(self) -> None: ...
    def show_report(self, report: Report) -> None: ...


def _signal_cell(status: str | None, bad: bool) -> Text:
    if status is None:
        return Text("·", style="dim")
    mark = {"Healthy": "✓", "Unhealthy": "✗", "Unknown": "?"}.get(status, status[:1])
    style = HEALTH_STYLE.get(status, "")
    if status == "Healthy" and bad:
        mark, style = "!", "yellow"  # bad now, not yet for long enough
    return Text(mark, style=style)


def instances_table(sample: Sample | None) -> Table:
    table = Table(expand=True, pad_edge=False, box=None, header_style="bold")
    for column in (
        "slot",
        "instance",
        "zone",
        "state",
        "health",
        *SIGNALS,
        "tries",
        "last action",
        "world faults",
    ):
        table.add_column(column, no_wrap=True, overflow="ellipsis")
    if sample is None:
        return table
    shown = set()
    for row in sorted(sample.instances, key=lambda r: (r.slot, r.instance_id)):
        shown.add(row.instance_id)
        world = sample.world_row(row.instance_id)
        faults = ", ".join(sorted({name for _, name in world.faults})) if world else ""
        table.add_row(
            row.slot,
            row.instance_id,
            row.zone,
            row.state,
            Text(row.health, style=HEALTH_STYLE.get(row.health, "")),
            *(_signal_cell(row.signals.get(s), s in row.bad) for s in SIGNALS),
            str(row.attempts or ""),
            row.last_action or "",
            Text(faults, style="red" if faults else ""),
        )
    for world in sample.world:  # live in the world but not (yet) in the status: launches in flight, leaks
        if world.live and world.instance_id not in shown:
            table.add_row(
                world.slot or "?",
                world.instance_id,
                world.zone,
                world.state,
                Text("(not in status)", style="dim"),
                *("" for _ in SIGNALS),
                "",
                "",
                "",
            )
    return table


def conditions_line(sample: Sample | None) -> Text:
    text = Text()
    if sample is None:
        return Text("waiting for the fleet's first status…", style="dim")
    text.append(f"desired {sample.desired}  healthy {sample.healthy}  ready {sample.ready}   ", style="bold")
    for kind in CONDITIONS:
        c = sample.condition(kind)
        if c is None:
            continue
        good = (c.status == "True") != (kind == "Degraded")
        text.append(f"{kind}=", style="dim")
        text.append(c.status, style="green" if good else "bold red")
        if not good and c.reason:
            text.append(f"({c.reason})", style="yellow")
        text.append("  ")
    if sample.scaling_reason:
        text.append(f"scaling: {sample.scaling_reason}", style="dim")
    return text


def _entry_text(state: SimState, entry: TimelineEntry) -> Text:
    line = Text(f"{state.elapsed(entry.t):7.1f}s ", style="dim")
    line.append(f"{entry.kind:<9} ", style="bold")
    line.append(entry.text, style=LEVEL_STYLE[entry.level])
    return line


class LiveView:
    """A rich Live panel refreshed a few times a second."""

    def __init__(self, state: SimState, console: Console | None = None) -> None:
        self.state = state
        self.console = console or Console()
        self._live: Live | None = None

    def render(self) -> Group:
        state = self.state
        clock = (
            f"scenario {state.scenario_clock:6.1f}s"
            if state.origin is not None
            else f"setup {time.time() - state.started:5.1f}s"
        )
        header = Text.assemble(
            (f"judge0-operator simulate · {state.scenario}", "bold"),
            f" · speed {state.speed:g} · {clock} · ",
            (state.phase, "cyan"),
        )
        timeline = Group(*(_entry_text(state, e) for e in state.timeline[-TIMELINE_ROWS:]))
        return Group(
            header,
            Panel(
                Group(conditions_line(state.latest), instances_table(state.latest)),
                title="fleet",
                title_align="left",
            ),
            Panel(timeline, title="timeline", title_align="left"),
        )

    def start(self) -> None:
        self._live = Live(
            self.render(),
            console=self.console,
            refresh_per_second=4,
            transient=False,
            get_renderable=self.render,
        )
        self._live.start()

    def update(self) -> None:
        return None  # Live pulls render() on its own refresh thread

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def show_report(self, report: Report) -> None:
        self.console.print(report_table(report))
        self.console.print(_report_footer(report), highlight=False)


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}s"


def report_table(report: Report) -> Table:
    table = Table(
        title=f"{report.scenario}: {'PASS' if report.ok else 'FAIL'} "
        f"({report.duration_seconds:.0f}s at speed {report.speed:g})",
        header_style="bold",
    )
    for column in ("step", "target", "detect", "act", "recover", "result", "actions"):
        table.add_column(column, overflow="fold")
    for s in report.steps:
        actions = ", ".join(f"{a['action']}@{a['t']:.0f}s" for a in s.actions[:5])
        if len(s.actions) > 5:
            actions += f" (+{len(s.actions) - 5})"
        table.add_row(
            s.label,
            s.target,
            _seconds(s.detect_seconds),
            _seconds(s.act_seconds),
            _seconds(s.recover_seconds),
            Text(s.verdict, style="green" if s.passed else "bold red"),
            actions,
        )
    return table


def _report_footer(report: Report) -> str:
    lines = render_text(report).splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("availability:")), len(lines))
    return "\n".join(lines[start:])


class PlainView:
    """One line per timeline entry, plus a fleet summary every ``summary_every`` seconds."""

    def __init__(self, state: SimState, out: TextIO | None = None, summary_every: float = 10.0) -> None:
        self.state = state
        self.out = out or sys.stdout
        self.summary_every = summary_every
        self._last_summary = 0.0

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def _on_entry(self, entry: TimelineEntry) -> None:
        self._print(f"{self.state.elapsed(entry.t):7.1f}s {entry.kind:<9} {entry.text}")

    def start(self) -> None:
        self.state.listeners.append(self._on_entry)

    def update(self) -> None:
        sample = self.state.latest
        now = time.time()
        if sample is None or now - self._last_summary < self.summary_every:
            return
        self._last_summary = now
        conditions = " ".join(f"{k}={c.status}" for k, c in sample.conditions.items() if k in CONDITIONS)
        health: dict[str, int] = {}
        for row in sample.instances:
            health[row.health] = health.get(row.health, 0) + 1
        counts = ", ".join(f"{n} {h}" for h, n in sorted(health.items()))
        self._print(
            f"{self.state.elapsed(now):7.1f}s {'fleet':<9} desired {sample.desired} healthy "
            f"{sample.healthy} [{counts}] {conditions}"
        )

    def stop(self) -> None:
        if self._on_entry in self.state.listeners:
            self.state.listeners.remove(self._on_entry)

    def show_report(self, report: Report) -> None:
        self._print(render_text(report))


def make_view(state: SimState, *, plain: bool, stream: Any = None) -> View:
    """The rich view on a terminal, plain lines otherwise."""
    out = stream or sys.stdout
    if plain or not out.isatty():
        return PlainView(state, out)
    return LiveView(state, Console(file=out))
