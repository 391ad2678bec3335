"""The live terminal table (rich): hosts x providers with their pressure, refreshed twice a
second while watch runs on a terminal."""

from __future__ import annotations

from typing import Any

from rich.live import Live
from rich.table import Table
from rich.text import Text

from vvolguard.watch.state import Pressure, WatchState

_STYLE = {Pressure.CALM: "green", Pressure.PRESSURE: "yellow", Pressure.SATURATED: "bold red"}


def render(state: WatchState) -> Table:
    table = Table(title="vvolguard watch: VASA control plane", expand=False)
    for col in ("host", "provider", "pressure", "no-free-conn", "busy", "outstanding", "why"):
        table.add_column(col, overflow="fold")
    with state.lock:
        rows = sorted(state.series.values(), key=lambda s: (-int(s.level), s.host, s.provider))
        stale = {name for name, h in state.hosts.items() if h.stale}
        for s in rows[:200]:
            level = s.level.name.lower() + (" (stale)" if s.host in stale else "")
            out = "" if s.outstanding is None else f"{s.outstanding}/{s.ceiling or '?'}"
            # names come from the network: Text, never markup
            table.add_row(
                Text(s.host),
                Text(s.provider),
                Text(level, style=_STYLE[s.level]),
                str(s.no_free_conn),
                str(s.busy),
                out,
                Text("; ".join(s.reasons)),
            )
    return table


class LiveTable:
    def __init__(self, state: WatchState) -> None:
        self.state = state
        self._live: Any = None

    def start(self) -> None:
        self._live = Live(get_renderable=lambda: render(self.state), refresh_per_second=2, transient=False)
        self._live.start()

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
