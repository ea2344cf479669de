"""``FleetView``s on a terminal (rich: colour, a table per fleet) or as plain text (no ANSI codes,
no box drawing) when the output is not a terminal — a pipe, a file, ``watch``, a CI log."""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from judge0_operator.status.view import Cell, FleetView, Tone

STYLE: dict[Tone, str] = {"good": "green", "warn": "yellow", "bad": "bold red", "dim": "dim", "": ""}
MARK: dict[Tone, str] = {"good": "✓", "warn": "~", "bad": "✗", "dim": "·", "": " "}


def _text(cell: Cell) -> Text:
    return Text(cell.text, style=STYLE[cell.tone])


def fleet_renderable(view: FleetView, *, plain: bool = False) -> RenderableType:
    """A fleet's header, its unexpected conditions, then its instance table."""
    header = Text()
    header.append(f"{MARK[view.tone]} ", style=STYLE[view.tone])
    header.append(f"{view.namespace}/{view.name}", style="bold")
    header.append(f"  {view.counts}")
    parts: list[RenderableType] = [header]
    for c in view.conditions:
        line = Text("  ")
        line.append(f"{MARK[c.tone]} {c.type}={c.status}", style=STYLE[c.tone])
        line.append(f" {c.reason} ({c.age})")
        if c.message:
            line.append(f": {c.message}", style="" if plain else "italic")
        parts.append(line)
    if not view.conditions:
        parts.append(Text("  all conditions as expected", style=STYLE["good"]))
    if view.instances:
        table = Table(
            box=None if plain else box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            padding=(0, 2, 0, 0) if plain else (0, 1),
            header_style="" if plain else "bold",
        )
        columns = ["INSTANCE", "SLOT", "ZONE", "STATE", "HEALTH", *(s.upper() for s in view.signals)]
        for column in [*columns, "TRAFFIC", "LAST ACTION"]:
            table.add_column(column, no_wrap=True)
        for row in view.instances:
            table.add_row(
                row.instance_id,
                row.slot,
                row.zone,
                _text(row.state),
                _text(row.health),
                *(_text(row.signals[s]) for s in view.signals),
                _text(row.traffic),
                _text(row.last_action),
            )
        parts.append(Text(""))
        parts.append(table)
    else:
        parts.append(Text("  no instances", style=STYLE["dim"]))
    return Group(*parts)


def status_renderable(views: Sequence[FleetView], *, plain: bool = False, empty: str = "") -> RenderableType:
    if not views:
        return Text(empty or "no Judge0Fleets found", style=STYLE["dim"])
    blocks: list[RenderableType] = []
    for i, view in enumerate(views):
        if i:
            blocks.append(Text(""))
        blocks.append(fleet_renderable(view, plain=plain))
    return Group(*blocks)


def plain_text(renderable: RenderableType, width: int = 250) -> str:
    """The renderable as plain text: no colour codes, no trailing blanks (rich pads table cells)."""
    buffer = io.StringIO()
    Console(file=buffer, width=width, force_terminal=False, no_color=True, highlight=False, soft_wrap=True).print(
        renderable
    )
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"
