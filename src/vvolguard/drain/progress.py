"""The live drain display: the limit, in flight, done, failed, left and *why* it is slow.

A person watching a drain needs one thing beyond counters: the reason the limit moved ("hold:
no free connections to VP ×3"), so a slow drain reads as caution and not as a hang. On a
terminal this is a rich ``Live`` panel; when stdout is not a terminal (CI, ``| tee``) it prints
one plain line whenever something changed, so logs stay readable.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from vvolguard.drain.controller import Progress
from vvolguard.drain.signal import PressureLevel

_STYLE = {PressureLevel.CALM: "green", PressureLevel.WARM: "yellow", PressureLevel.CONGESTED: "red"}
_NAME = {PressureLevel.CALM: "calm", PressureLevel.WARM: "warm", PressureLevel.CONGESTED: "congested"}


def render(p: Progress, title: str = "vvolguard drain") -> Group:
    """A small panel: counters table plus a pressure line."""
    table = Table(title=title, show_header=True, header_style="bold", expand=False)
    for col in ("limit", "in flight", "done", "failed", "left", "remaining"):
        table.add_column(col, justify="right")
    limit = f"{p.allowed}/{p.ceiling}" if p.allowed != p.limit else f"{p.limit}/{p.ceiling}"
    table.add_row(limit, str(p.inflight), str(p.done), str(p.failed), str(p.left), str(p.remaining))
    level = p.pressure.level
    pressure = Text.assemble(
        ("pressure: ", "bold"),
        (_NAME[level], _STYLE[level]),
        f" ({p.pressure.reason})" if p.pressure.reasons else "",
    )
    state = Text.assemble(("controller: ", "bold"), p.state)
    lines: list[Any] = [table, pressure, state]
    if p.create_wait:
        lines.append(Text(f"waiting: {p.create_wait}", style="yellow"))
    if p.stopping:
        lines.append(Text("stopping: no new migrations; waiting for those in flight", style="yellow"))
    return Group(*lines)


def line(p: Progress) -> str:
    """The same facts as one plain line."""
    return (
        f"limit {p.allowed}/{p.ceiling} in-flight {p.inflight} done {p.done} failed {p.failed} "
        f"left {p.left} remaining {p.remaining} | {_NAME[p.pressure.level]}: {p.pressure.reason}"
        f" | {p.state}"
        + (f" | waiting: {p.create_wait}" if p.create_wait else "")
        + (" | stopping" if p.stopping else "")
    )


class ProgressDisplay:
    """Context manager used as the controller's ``on_progress`` callback."""

    def __init__(self, console: Console | None = None, title: str = "vvolguard drain") -> None:
        self.console = console or Console()
        self.title = title
        self._live: Live | None = None
        self._last_line: str | None = None
        self.last: Progress | None = None

    def __enter__(self) -> ProgressDisplay:
        if self.console.is_terminal:
            self._live = Live(console=self.console, refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None

    def __call__(self, p: Progress) -> None:
        self.last = p
        if self._live is not None:
            self._live.update(render(p, self.title))
            return
        text = line(p)
        if text != self._last_line:
            self.console.print(text, markup=False, highlight=False, soft_wrap=True)
            self._last_line = text
