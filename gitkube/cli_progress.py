"""How ``gitkube apply`` and ``gitkube rollback`` show a sync's progress on the terminal.

Both commands get the same stream of progress events (``gitkube.sync.progress``: ``start``,
``plan``, ``wave``, ``apply``, ``health``, ``prune``, ``rollback``, ``outcome``...): ``apply`` from
the engine it runs in-process, ``rollback`` as NDJSON from the daemon. ``gitkube.cli_gitops`` feeds
each event to a display made by :func:`display_for`:

- :class:`PlainDisplay` when stdout is not a terminal (pipes, CI, the post-receive hook): each
  event's ``message`` on its own line, exactly as the hook prints it (scripts and tests grep it);
- :class:`LiveDisplay` on a terminal: the start line, the coloured plan and the rollback notice are
  printed once; below them a rich ``Live`` view of the waves (wave i/n, each object's state:
  applying, created, Progressing with its message, Healthy, Degraded in red) is redrawn as events
  come; it ends with the outcome line in the outcome's colour.

:class:`SyncView` is the state the live view draws, fed by the same events; it is pure and
thread-safe to draw (each :meth:`SyncView.render` returns a new renderable).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

import click
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

__all__ = ["Display", "LiveDisplay", "PlainDisplay", "SyncView", "display_for"]

Event = dict[str, Any]
MAX_ROWS = 30  # object rows shown per open wave; a bigger wave shows the first ones and a count
STATE_STYLE = {"applying": "cyan", "created": "blue", "configured": "blue", "deleted": "magenta",
               "waiting for endpoints": "yellow", "Progressing": "yellow", "Healthy": "green",
               "Degraded": "bold red", "Missing": "bold red", "Failed": "bold red", "Unknown": "yellow"}
OUTCOME_STYLE = {"Synced": "bold green", "RolledBack": "bold yellow", "Failed": "bold red"}


class Display(Protocol):
    """What the commands feed: one call per event, inside a ``with`` block."""

    def feed(self, event: Event) -> None: ...

    def __enter__(self) -> Display: ...

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...


class PlainDisplay:
    """One line per event: its ``message``, unchanged (the post-receive hook's format)."""

    def __init__(self, write: Callable[[str], None] | None = None) -> None:
        self._write = write or click.echo

    def feed(self, event: Event) -> None:
        self._write(str(event.get("message", "")))

    def __enter__(self) -> PlainDisplay:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None


@dataclass
class ObjectRow:
    name: str
    state: str = "applying"
    message: str = ""


@dataclass
class Wave:
    number: int
    total: int
    objects: int
    started: float
    state: str = "applying"  # applying -> waiting -> Healthy | Failed
    ended: float | None = None
    rows: dict[str, ObjectRow] = field(default_factory=dict)
    bulk: int = 0  # objects applied without a line each (waves larger than the syncer's detail limit)


@dataclass
class Phase:
    title: str  # "" for the sync itself, "rollback to SHA" for the automatic rollback after it
    waves: list[Wave] = field(default_factory=list)
    services: str = ""  # the "N Service(s) have ready endpoints" line, once it came
    pruned: list[str] = field(default_factory=list)


class SyncView:
    """The live view's state. :meth:`feed` takes one event and returns what should be printed
    once above the live view (the start line, the plan, notices); :meth:`render` draws the waves."""

    def __init__(self) -> None:
        self.phases: list[Phase] = [Phase("")]
        self.outcome: Event | None = None

    @property
    def phase(self) -> Phase:
        return self.phases[-1]

    @property
    def wave(self) -> Wave | None:
        return self.phase.waves[-1] if self.phase.waves else None

    def feed(self, event: Event) -> list[RenderableType]:
        kind, message = str(event.get("type", "")), str(event.get("message", ""))
        t = float(event.get("t") or 0.0)
        if kind == "start":
            return [Text(message, style="bold")]
        if kind == "plan":
            return [plan_text(message)]
        if kind == "wave":
            self.phase.waves.append(Wave(int(event.get("wave") or 0), _total(message), int(event.get("objects") or 0), t))
        elif kind == "apply":
            self._applied(event)
        elif kind == "health":
            self._health(event, message, t)
        elif kind == "prune":
            self.phase.pruned.append(str(event.get("object", message)))
        elif kind == "rollback":
            self._fail_open_wave(t)
            self.phases.append(Phase(f"rollback to {str(event.get('target', ''))[:12]}"))
            return [Text(message, style="bold yellow")]
        elif kind == "outcome":
            if event.get("outcome") != "Synced":
                self._fail_open_wave(t)
            self.outcome = event
        elif kind == "retry":
            return [Text(message, style="yellow")]
        else:
            return [Text(message)]
        return []

    def _applied(self, event: Event) -> None:
        wave = self.wave
        if wave is None:
            return
        if "object" in event:
            action = str(event.get("action", ""))
            wave.rows[str(event["object"])] = ObjectRow(str(event["object"]),
                                                         "created" if action == "create" else "configured")
        else:
            wave.bulk += int(event.get("count") or 0)
        if len(wave.rows) + wave.bulk >= wave.objects and wave.state == "applying":
            wave.state = "waiting"

    def _health(self, event: Event, message: str, t: float) -> None:
        status = str(event.get("status", ""))
        obj = event.get("object")
        if obj is not None:
            name = str(obj)
            prefix = f"{name}: {status}: "
            detail = message[len(prefix):] if message.startswith(prefix) else message
            row = self._row(name)
            row.state, row.message = status, detail
            return
        if "wave" in event and self.wave is not None:
            wave = self.wave
            wave.state, wave.ended = "Healthy", t
            for row in wave.rows.values():
                row.state = "waiting for endpoints" if row.name.startswith("Service ") else "Healthy"
                if row.state == "Healthy":
                    row.message = ""
            return
        self.phase.services = message  # the deferred Services are healthy
        for wave in self.phase.waves:
            for row in wave.rows.values():
                if row.name.startswith("Service "):
                    row.state, row.message = "Healthy", ""

    def _row(self, name: str) -> ObjectRow:
        for wave in reversed(self.phase.waves):
            if name in wave.rows:
                return wave.rows[name]
        row = ObjectRow(name)
        if self.wave is not None:
            self.wave.rows[name] = row
        return row

    def _fail_open_wave(self, t: float) -> None:
        wave = self.wave
        if wave is not None and wave.state not in ("Healthy", "Failed"):
            wave.state, wave.ended = "Failed", t

    def render(self) -> RenderableType:
        parts: list[RenderableType] = []
        for phase in self.phases:
            if phase.title:
                parts.append(Text(phase.title, style="bold yellow"))
            grid = Table.grid(padding=(0, 2))
            grid.add_column(no_wrap=True)
            grid.add_column(no_wrap=True)
            grid.add_column(no_wrap=True)
            grid.add_column(overflow="fold")
            parts.append(grid)
            for wave in phase.waves:
                self._render_wave(grid, wave)
            if phase.services:
                grid.add_row("", Text(phase.services), Text("Healthy", style=STATE_STYLE["Healthy"]), "")
            for name in phase.pruned[:MAX_ROWS]:
                grid.add_row("", Text(name), Text("deleted", style=STATE_STYLE["deleted"]), "")
            if len(phase.pruned) > MAX_ROWS:
                grid.add_row("", Text(f"… and {len(phase.pruned) - MAX_ROWS} more deleted"), "", "")
        return Group(*parts)

    def _render_wave(self, grid: Table, wave: Wave) -> None:
        head = Text(f"wave {wave.number}/{wave.total}", style="bold")
        count = Text(f"{wave.objects} object(s)")
        took = f"{wave.ended - wave.started:.1f}s" if wave.ended is not None else ""
        if wave.state in ("Healthy", "Failed"):
            state: RenderableType = Text(wave.state, style=STATE_STYLE[wave.state])
        else:
            label = "applying" if wave.state == "applying" else "waiting for health"
            state = Spinner("dots", Text(label, style="cyan"))
        grid.add_row(head, count, state, Text(took, style="dim"))
        settled = all(r.state == "Healthy" for r in wave.rows.values())
        if wave.state == "Healthy" and settled:
            return  # a finished wave is one line; open and failed ones list their objects
        rows = list(wave.rows.values())
        for row in rows[:MAX_ROWS]:
            grid.add_row("", Text(row.name), Text(row.state, style=STATE_STYLE.get(row.state, "")),
                         Text(row.message, style="red" if row.state in ("Degraded", "Missing") else ""))
        if len(rows) > MAX_ROWS:
            grid.add_row("", Text(f"… and {len(rows) - MAX_ROWS} more"), "", "")
        if wave.bulk:
            grid.add_row("", Text(f"{wave.bulk} objects applied"), "", "")

    def outcome_line(self) -> Text | None:
        if self.outcome is None:
            return None
        style = OUTCOME_STYLE.get(str(self.outcome.get("outcome", "")), "bold")
        return Text(str(self.outcome.get("message", "")), style=style)


def _total(message: str) -> int:
    """The n of a ``wave i/n: ...`` line (the event itself carries only i)."""
    try:
        return int(message.split("/", 1)[1].split(":", 1)[0])
    except (IndexError, ValueError):
        return 0


def plan_text(text: str) -> Text:
    """The plan as the hook prints it, coloured like ``gitkube diff`` on a terminal."""
    out = Text()
    for line in text.rstrip("\n").splitlines():
        if line.startswith(("+++", "---")):
            style = "bold"
        elif line.startswith("+ create"):
            style = "bold green"
        elif line.startswith("~ update"):
            style = "bold yellow"
        elif line.startswith("- delete"):
            style = "bold red"
        elif line.startswith("+"):
            style = "green"
        elif line.startswith("-") or line.startswith("problem:"):
            style = "red"
        elif line.startswith("@@"):
            style = "cyan"
        elif line.startswith("Plan:"):
            style = "bold"
        else:
            style = ""
        out.append(line + "\n", style=style)
    out.rstrip()
    return out


class LiveDisplay:
    """The rich live view of a sync on a terminal (see the module docstring)."""

    def __init__(self, console: Console | None = None, *, refresh_per_second: float = 8) -> None:
        self.console = console or Console(highlight=False)
        self.view = SyncView()
        self._live = Live(Text(""), console=self.console, refresh_per_second=refresh_per_second,
                          transient=False, redirect_stdout=False, redirect_stderr=False)

    def feed(self, event: Event) -> None:
        for item in self.view.feed(event):
            self._live.console.print(item)
        self._live.update(self.view.render(), refresh=True)

    def __enter__(self) -> LiveDisplay:
        self._live.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._live.update(self.view.render(), refresh=True)
        self._live.stop()
        line = self.view.outcome_line()
        if line is not None:
            self.console.print(line)


def display_for(is_terminal: bool | None = None) -> Display:
    """A live display when stdout is an interactive terminal, the plain lines otherwise."""
    if is_terminal is None:
        is_terminal = sys.stdout.isatty()
    if is_terminal:
        console = Console(highlight=False)
        if not console.is_dumb_terminal:
            return LiveDisplay(console)
    return PlainDisplay()
