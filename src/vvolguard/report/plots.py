"""Timeline plots for the HTML report, as inline SVG drawn by matplotlib (no pyplot, no display).

The plots answer one question at a glance: did a migration storm push the provider to its ceiling,
and did the failures happen while it was there? So every plot shares one time axis (same range,
same left and right margins, so they line up when stacked in the page), every plot shades the storm
windows, and every plot marks each failed migration with a vertical line.

Size is bounded whatever the incident length: all series are put on one grid of at most
:data:`MAX_POINTS` cells (peaks kept with max, counts summed), text stays text
(``svg.fonttype=none``), and matplotlib's path simplification drops collinear vertices. Output is
deterministic (fixed hash salt, no date metadata), so the same Diagnosis gives the same bytes.
"""

from __future__ import annotations

import io
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import matplotlib
import matplotlib.dates as mdates
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from vvolguard.analysis.model import Diagnosis
from vvolguard.report.view import as_datetime, failure_label, fmt_clock, fmt_time, numbered_failures

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

#: Context shown either side of the incident on the time axis, at least.
MIN_CONTEXT_S = 120
#: Cells on the shared time grid; ~ one per horizontal pixel of the plot area, no more.
MAX_POINTS = 600
#: Bars in the waits plot; at ~700 px of plot width more would be thinner than 2 px.
MAX_BARS = 300
#: Failed migrations drawn as separate dashed lines (each with its own SVG id); more share one path.
MAX_FAILURE_LINES = 60
#: Share of the time axis one failure label needs (``10–12`` at 7.5 pt on ~520 pt of axis);
#: failures closer than this to the first of a group share that group's label (``3–7``).
LABEL_SPAN = 0.055
#: Provider panels in the outstanding plot; the most pressured ones are kept.
MAX_PROVIDER_PANELS = 6

FIG_WIDTH_IN = 10.0
LEFT_IN = 0.75
RIGHT_IN = 2.1  # room for the legend, identical on every figure so the axes align

HOST_COLOURS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#7f7f7f", "#bcbd22", "#e377c2")
PROVIDER_COLOURS = ("#1565c0", "#6a1b9a", "#00897b", "#5d4037", "#546e7a", "#827717")
FAIL_COLOUR = "#d50000"
CEILING_COLOUR = "#b71c1c"
STORM_COLOUR = "#90a4ae"
AT_CEILING_COLOUR = "#ef9a9a"
#: Not red: red is kept for failures and the ceiling, so they stand out on every plot.
WAIT_COLOURS = {"no_free_conn": "#e65100", "busy": "#ffb300", "timeout": "#6a1b9a"}
WAIT_LABELS = {
    "no_free_conn": "waits for a free connection",
    "busy": "PROVIDER_BUSY",
    "timeout": "timeouts",
}

_RC: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",
    "path.simplify": True,
    "path.simplify_threshold": 0.5,
    "font.size": 9,
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial", "Helvetica"],
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e6e6e6",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "axes.edgecolor": "#888888",
    "xtick.color": "#444444",
    "ytick.color": "#444444",
    "axes.labelcolor": "#333333",
    "legend.fontsize": 8,
    "legend.frameon": False,
}


@dataclass(frozen=True)
class Plot:
    """One figure for the page: ``svg`` is inline markup, or ``None`` with ``empty_note`` saying why."""

    id: str
    title: str
    caption: str
    svg: str | None
    empty_note: str | None = None


@dataclass(frozen=True)
class _Grid:
    """The shared time axis: ``n`` cells of ``cell_s`` seconds from ``start``."""

    start: datetime
    cell_s: float
    n: int
    #: What the evidence covers, when the axis shows only the part around the incident.
    data_start: datetime | None = None
    data_end: datetime | None = None

    def index(self, t: datetime) -> int | None:
        """The cell holding ``t``, or ``None`` outside the axis (such points are not drawn)."""
        i = math.floor((t - self.start).total_seconds() / self.cell_s)
        return i if 0 <= i < self.n else None

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.n * self.cell_s)

    @property
    def zoomed(self) -> bool:
        return bool(
            (self.data_start and self.data_start < self.start) or (self.data_end and self.data_end > self.end)
        )

    def x(self) -> np.ndarray:
        base = mdates.date2num(self.start)
        return base + np.arange(self.n) * (self.cell_s / 86400.0)

    def xlim(self) -> tuple[float, float]:
        base = mdates.date2num(self.start)
        return base, base + self.n * self.cell_s / 86400.0


@dataclass(frozen=True)
class _Context:
    grid: _Grid
    failures: list[tuple[float, int]]  # (x, number in the failed-migrations table)
    storms: list[tuple[float, float, str]]  # (x0, x1, source host)
    host_colour: dict[str, str]


def timeline_plots(d: Diagnosis) -> list[Plot]:
    """The four timeline plots, in reading order. Without timed signals, each says why it is empty."""
    signals = d.signals or {}
    timeline, in_flight = _timed(signals)
    grid = _grid(d, timeline, in_flight, _bucket(signals))
    specs = [
        ("plot-inflight", "Migrations in flight per source host", _inflight_caption(d)),
        (
            "plot-outstanding",
            "VASA operations outstanding vs the provider ceiling",
            "Highest '#outstanding' vvold printed per time step, per host, one panel per provider. "
            "Red bands: the time steps in which it reached the ceiling, where new operations must "
            "wait for a connection (the signals table says how long it stayed there).",
        ),
        (
            "plot-waits",
            "Waits for a free connection and PROVIDER_BUSY",
            "vvold lines per time step, all hosts and providers together.",
        ),
        (
            "plot-latency",
            "createVirtualVolume latency",
            "95th percentile (solid) and slowest (dotted) per time step; swap vVols are created "
            "during every vMotion, so this climbs when the provider is saturated.",
        ),
    ]
    if grid is None:
        note: str | None = "No timed vvold or migration data in the evidence."
        return [Plot(pid, title, caption, None, note) for pid, title, caption in specs]
    ctx = _context(d, grid, timeline, in_flight)
    drawers = {
        "plot-inflight": lambda: _plot_inflight(ctx, in_flight),
        "plot-outstanding": lambda: _plot_outstanding(ctx, timeline),
        "plot-waits": lambda: _plot_waits(ctx, timeline, grid),
        "plot-latency": lambda: _plot_latency(ctx, timeline),
    }
    plots = []
    for pid, title, caption in specs:
        with matplotlib.rc_context({**_RC, "svg.hashsalt": f"vvolguard-{pid}"}):
            fig, note = drawers[pid]()
            svg = _to_svg(fig, pid) if fig is not None else None
        plots.append(Plot(pid, title, caption, svg, note))
    return plots


def _inflight_caption(d: Diagnosis) -> str:
    failed = len(d.migrations.failed)
    text = "Concurrent migrations from each source host; shaded: detected migration storms."
    if 0 < failed <= MAX_FAILURE_LINES:
        plural = "s" if failed != 1 else ""
        text += (
            f" Dashed red lines: the {failed} failed migration{plural}, on every plot, numbered as "
            "in the failed-migrations table."
        )
    elif failed:
        text += f" Red ticks along the top: the {failed} failed migrations, on every plot."
    return text


# --------------------------------------------------------------------------------------------
# the shared axis
# --------------------------------------------------------------------------------------------


def _grid(d: Diagnosis, timeline: list[dict], in_flight: list[dict], bucket_s: float) -> _Grid | None:
    """The axis: the incident with some context either side, not the whole log.

    A vvold.log often covers hours around a storm of a minute or two; drawn whole, the storm is a
    sliver. So the axis spans the incident window (or else the storms and failures), padded by half
    its length (at least :data:`MIN_CONTEXT_S` and five buckets), within what the data covers."""
    data: list[datetime] = [as_datetime(p["t"]) for p in timeline + in_flight]  # type: ignore[misc]
    if not data:
        return None
    events = [t for f in d.migrations.failed if (t := as_datetime(f.time))]
    for s in d.migrations.storms:
        events += [t for t in (as_datetime(s.start), as_datetime(s.end)) if t]
    focus = [t for t in map(as_datetime, d.incident_window or ()) if t] or events
    data_start, data_end = min(data + events), max(data + events) + timedelta(seconds=bucket_s)
    if focus:
        lo, hi = min(focus + events), max(focus + events)
        pad = timedelta(seconds=max((hi - lo).total_seconds() / 2, 5 * bucket_s, MIN_CONTEXT_S))
        start, end = max(data_start, lo - pad), min(data_end, hi + pad)
        if end <= start:  # the incident lies outside the data: show both
            start, end = min(data_start, lo), max(data_end, hi)
    else:
        start, end = data_start, data_end
    # Cells start on bucket boundaries, so a cell never splits one of the analysis' buckets.
    epoch = start.timestamp()
    start = datetime.fromtimestamp(epoch - epoch % bucket_s, UTC)
    span = max((end - start).total_seconds(), bucket_s)
    cell = bucket_s * _nice_multiple(span / MAX_POINTS / bucket_s)
    n = max(1, math.ceil(span / cell))
    return _Grid(start, cell, n, data_start.astimezone(UTC), data_end.astimezone(UTC))


def timeline_note(d: Diagnosis) -> str | None:
    """Says so when the plots show only the part of the evidence around the incident."""
    signals = d.signals or {}
    grid = _grid(d, *_timed(signals), _bucket(signals))
    if grid is None or not grid.zoomed:
        return None
    return (
        f"Showing {fmt_time(grid.start)} → {fmt_clock(grid.end)} around the incident; "
        f"the evidence covers {fmt_time(grid.data_start)} → {fmt_time(grid.data_end)}."
    )


def _timed(signals: Mapping[str, Any]) -> tuple[list[dict], list[dict]]:
    def timed(key: str) -> list[dict]:
        return [p for p in signals.get(key) or [] if isinstance(p, dict) and as_datetime(p.get("t"))]

    return timed("timeline"), timed("migrations_in_flight")


def _bucket(signals: Mapping[str, Any]) -> float:
    bucket = signals.get("bucket_seconds")
    if isinstance(bucket, int | float) and not isinstance(bucket, bool) and bucket > 0:
        return float(bucket)
    return 60.0


def _context(d: Diagnosis, grid: _Grid, timeline: list[dict], in_flight: list[dict]) -> _Context:
    failures = []
    for number, f in numbered_failures(d):
        t = as_datetime(f.time)
        if t is not None:
            failures.append((float(mdates.date2num(t)), number))
    storms = []
    for s in d.migrations.storms:
        t0, t1 = as_datetime(s.start), as_datetime(s.end)
        if t0 and t1:
            storms.append((float(mdates.date2num(t0)), float(mdates.date2num(t1)), s.source_host))
    hosts = sorted(
        {str(p.get("source_host")) for p in in_flight}
        | {str(p.get("host")) for p in timeline if p.get("host")}
        | set(d.hosts)
    )
    colours = {h: HOST_COLOURS[i % len(HOST_COLOURS)] for i, h in enumerate(hosts)}
    return _Context(grid, sorted(failures), storms, colours)


def _figure(height_in: float, rows: int = 1) -> tuple[Figure, list[Any]]:
    fig = Figure(figsize=(FIG_WIDTH_IN, height_in))
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0].tolist()
    fig.subplots_adjust(
        left=LEFT_IN / FIG_WIDTH_IN,
        right=1 - RIGHT_IN / FIG_WIDTH_IN,
        top=1 - 0.3 / height_in,
        bottom=0.5 / height_in,
        hspace=0.35,
    )
    return fig, axes


def _decorate(
    ax: Any, ctx: _Context, *, mark: str, label_failures: bool = False, time_labels: bool = True
) -> None:
    """Storm shading, failure lines and the shared x range: identical on every plot.

    ``mark`` prefixes the SVG ids of the storm spans and failure lines (``<mark>-failure-<i>``),
    unique in the page, so a reader or a test can find each failed migration on each plot."""
    for i, (x0, x1, _host) in enumerate(ctx.storms):
        ax.axvspan(x0, x1, color=STORM_COLOUR, alpha=0.25, lw=0, zorder=0, gid=f"{mark}-storm-{i}")
    if len(ctx.failures) <= MAX_FAILURE_LINES:
        for i, (x, _label) in enumerate(ctx.failures):
            ax.axvline(x, color=FAIL_COLOUR, lw=1.2, ls=(0, (4, 2)), zorder=4, gid=f"{mark}-failure-{i}")
    elif ctx.failures:
        # Hundreds of failures: full-height lines would paint the plot red and hide the data, so
        # a rug of ticks along the top, as one path (NaN-separated segments) to keep bytes down.
        xs = np.repeat([x for x, _ in ctx.failures], 3)
        ys = np.tile([0.9, 1.0, np.nan], len(ctx.failures))
        xs[2::3] = np.nan
        ax.plot(
            xs, ys, transform=ax.get_xaxis_transform(), color=FAIL_COLOUR, lw=1.0, zorder=4,
            gid=f"{mark}-failures", clip_on=False,
        )  # fmt: skip
    if label_failures and 0 < len(ctx.failures) <= MAX_FAILURE_LINES:
        # Above the plot area, centred on the group's lines: a label never hides a line or data;
        # alternate rows, so neighbouring groups never touch.
        for row, (x, numbers) in enumerate(_label_groups(ctx)):
            ax.annotate(
                failure_label(numbers),
                xy=(x, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(0, 1 + 9 * (row % 2)),
                textcoords="offset points",
                va="bottom",
                ha="center",
                fontsize=7.5,
                fontweight="bold",
                color=FAIL_COLOUR,
                annotation_clip=False,
                gid=f"{mark}-label-{numbers[0]}-{numbers[-1]}",
            )
    ax.set_xlim(*ctx.grid.xlim())
    locator = mdates.AutoDateLocator(tz=UTC, minticks=5, maxticks=12)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC, show_offset=time_labels))
    if not time_labels:
        ax.tick_params(labelbottom=False)


def _label_groups(ctx: _Context) -> list[tuple[float, list[int]]]:
    """Failures in time order, grouped so each group's label has room: every failure line is
    covered by exactly one label, the number(s) of its row in the failed-migrations table."""
    lo, hi = ctx.grid.xlim()
    room = (hi - lo) * LABEL_SPAN
    groups: list[tuple[float, float, list[int]]] = []  # (first x, last x, numbers)
    for x, number in sorted(ctx.failures):
        if groups and x - groups[-1][0] < room:
            groups[-1] = (groups[-1][0], x, [*groups[-1][2], number])
        else:
            groups.append((x, x, [number]))
    return [((x0 + x1) / 2, sorted(numbers)) for x0, x1, numbers in groups]


def _legend(ax: Any, handles: list[Any], ctx: _Context) -> None:
    extra: list[Any] = []
    if ctx.storms:
        extra.append(Patch(color=STORM_COLOUR, alpha=0.4, label="migration storm"))
    if 0 < len(ctx.failures) <= MAX_FAILURE_LINES:
        extra.append(Line2D([], [], color=FAIL_COLOUR, ls=(0, (4, 2)), label="failed migration"))
    elif ctx.failures:
        extra.append(Line2D([], [], color=FAIL_COLOUR, marker="|", ls="", ms=8, label="failed migration"))
    ax.legend(handles=handles + extra, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


# --------------------------------------------------------------------------------------------
# the plots
# --------------------------------------------------------------------------------------------


def _plot_inflight(ctx: _Context, in_flight: list[dict]) -> tuple[Figure | None, str | None]:
    grid = ctx.grid
    by_host: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    for p in in_flight:
        by_host[str(p.get("source_host"))].append((as_datetime(p["t"]), _float(p.get("in_flight"))))  # type: ignore[arg-type]
    # Before a host's first point nothing was in flight from it (the exports list every start).
    per_host = {
        h: np.nan_to_num(_steps(sorted(points, key=lambda tp: tp[0]), grid), nan=0.0)
        for h, points in by_host.items()
    }
    busy_hosts = {h: s for h, s in per_host.items() if np.nanmax(s, initial=0) > 0}
    fig, (ax,) = _figure(2.6)
    handles = []
    for host in sorted(busy_hosts, key=lambda h: -np.nanmax(busy_hosts[h])):
        (line,) = ax.step(
            grid.x(),
            busy_hosts[host],
            where="post",
            color=ctx.host_colour.get(host),
            lw=1.8,
            label=_safe(host),
        )
        handles.append(line)
    peak = max((np.nanmax(s) for s in busy_hosts.values()), default=0)
    ax.set_ylim(0, max(2, peak * 1.25 + 0.5))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("in flight")
    if not busy_hosts:
        _note(ax, "no migrations in flight in the evidence")
    _decorate(ax, ctx, mark="plot-inflight", label_failures=True)
    _legend(ax, handles, ctx)
    return fig, None


def _plot_outstanding(ctx: _Context, timeline: list[dict]) -> tuple[Figure | None, str | None]:
    grid = ctx.grid
    by_vp: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
    ceilings: dict[str, float] = {}
    for p in timeline:
        vp = str(p.get("vp") or "?")
        host = str(p.get("host") or "?")
        value = _float(p.get("outstanding_max"))
        printed = _float(p.get("ceiling"))
        if not math.isnan(printed):
            ceilings[vp] = max(ceilings.get(vp, 0.0), printed)
        if math.isnan(value):
            continue
        i = grid.index(as_datetime(p["t"]))  # type: ignore[arg-type]
        if i is None:
            continue
        series = by_vp[vp].setdefault(host, np.full(grid.n, np.nan))
        series[i] = np.fmax(series[i], value)
    if not by_vp:
        return None, "vvold printed no '#outstanding' counts in the evidence."

    def pressure(vp: str) -> tuple[float, str]:
        peak = max(np.nanmax(s) for s in by_vp[vp].values())
        ceiling = ceilings.get(vp)
        return (-(peak / ceiling if ceiling else peak / 100.0), vp)

    vps = sorted(by_vp, key=pressure)[:MAX_PROVIDER_PANELS]
    fig, axes = _figure(0.6 + 1.75 * len(vps), rows=len(vps))
    x = grid.x()
    host_handles: dict[str, Any] = {}
    ceiling_handle = None
    any_at_ceiling = False
    for n, (ax, vp) in enumerate(zip(axes, vps, strict=True)):
        ceiling = ceilings.get(vp)
        peak = 0.0
        for host in sorted(by_vp[vp]):
            series = by_vp[vp][host]
            mask = ~np.isnan(series)
            peak = max(peak, float(np.nanmax(series)))
            (line,) = ax.step(
                x[mask],
                series[mask],
                where="post",
                lw=1.5,
                color=ctx.host_colour.get(host),
                label=_safe(host),
            )
            host_handles.setdefault(host, line)
        if ceiling:
            ceiling_handle = ax.axhline(ceiling, color=CEILING_COLOUR, ls="--", lw=1.2, label="ceiling")
            ax.annotate(
                f"ceiling {ceiling:g}", xy=(1.0, ceiling), xycoords=("axes fraction", "data"),
                xytext=(-2, 2), textcoords="offset points", color=CEILING_COLOUR, fontsize=7.5,
                va="bottom", ha="right",
            )  # fmt: skip
            any_at_ceiling |= _shade_at_ceiling(ax, x, by_vp[vp].values(), ceiling, grid)
        top = max(peak, ceiling or 0)
        ax.set_ylim(0, top * 1.2 + 0.5)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=4))
        ax.set_title(_safe(vp), loc="left", fontsize=8.5, fontweight="bold", pad=3)
        ax.set_ylabel("outstanding")
        _decorate(ax, ctx, mark=f"plot-outstanding-{n}", time_labels=n == len(vps) - 1)
    handles = [host_handles[h] for h in sorted(host_handles)]
    if ceiling_handle is not None:
        handles.append(ceiling_handle)
    if any_at_ceiling:
        handles.append(Patch(color=AT_CEILING_COLOUR, alpha=0.5, label="reached the ceiling"))
    _legend(axes[0], handles, ctx)
    note = None
    if len(by_vp) > len(vps):
        note = f"{len(by_vp) - len(vps)} less pressured providers not drawn."
    return fig, note


def _shade_at_ceiling(
    ax: Any, x: np.ndarray, series: Iterable[np.ndarray], ceiling: float, grid: _Grid
) -> bool:
    """Red bands where any host sat at the ceiling: merged spans, so a few rectangles, not thousands."""
    at = np.zeros(grid.n, dtype=bool)
    for s in series:
        at |= np.nan_to_num(s, nan=-1) >= ceiling
    step = grid.cell_s / 86400.0
    i = 0
    while i < grid.n:
        if at[i]:
            j = i
            while j + 1 < grid.n and at[j + 1]:
                j += 1
            ax.axvspan(x[i], x[j] + step, color=AT_CEILING_COLOUR, alpha=0.45, lw=0, zorder=0.5)
            i = j + 1
        else:
            i += 1
    return bool(at.any())


def _plot_waits(ctx: _Context, timeline: list[dict], grid: _Grid) -> tuple[Figure | None, str | None]:
    sums = {k: np.zeros(grid.n) for k in WAIT_COLOURS}
    for p in timeline:
        i = grid.index(as_datetime(p["t"]))  # type: ignore[arg-type]
        if i is None:
            continue
        for k in WAIT_COLOURS:
            v = _float(p.get(k))
            if not math.isnan(v):
                sums[k][i] += v
    # Bars narrower than ~2 px only add bytes: sum neighbouring cells down to MAX_BARS.
    pool = _nice_multiple(grid.n / MAX_BARS)
    cells = math.ceil(grid.n / pool)
    sums = {
        k: np.pad(v, (0, cells * pool - grid.n)).reshape(cells, pool).sum(axis=1) for k, v in sums.items()
    }
    fig, (ax,) = _figure(2.4)
    lo, _hi = ctx.grid.xlim()
    edges = lo + np.arange(cells + 1) * (grid.cell_s * pool / 86400.0)
    base = np.zeros(cells)
    handles = []
    for k, colour in WAIT_COLOURS.items():
        if not sums[k].any():
            continue
        top = base + sums[k]
        ax.stairs(top, edges, baseline=base.copy(), fill=True, color=colour, alpha=0.9, lw=0)
        handles.append(Patch(color=colour, alpha=0.9, label=WAIT_LABELS[k]))
        base = top
    peak = float(base.max()) if cells else 0.0
    ax.set_ylim(0, max(2.0, peak * 1.15))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
    ax.set_ylabel(f"lines per {_duration(grid.cell_s * pool)}")
    if not handles:
        _note(ax, "no waits, PROVIDER_BUSY or timeouts logged")
    _decorate(ax, ctx, mark="plot-waits")
    _legend(ax, handles, ctx)
    return fig, None


def _plot_latency(ctx: _Context, timeline: list[dict]) -> tuple[Figure | None, str | None]:
    grid = ctx.grid
    p95: dict[str, np.ndarray] = {}
    mx: dict[str, np.ndarray] = {}
    for p in timeline:
        vp = str(p.get("vp") or "?")
        i = grid.index(as_datetime(p["t"]))  # type: ignore[arg-type]
        if i is None:
            continue
        for store, key in ((p95, "create_ms_p95"), (mx, "create_ms_max")):
            v = _float(p.get(key))
            if not math.isnan(v):
                series = store.setdefault(vp, np.full(grid.n, np.nan))
                series[i] = np.fmax(series[i], v / 1000.0)
    if not p95 and not mx:
        return None, "No createVirtualVolume completions in the evidence."
    fig, (ax,) = _figure(2.6)
    x = grid.x() + grid.cell_s / 86400.0 / 2  # a bucket's value belongs to its middle
    handles = []
    peak = 0.0
    for n, vp in enumerate(sorted(set(p95) | set(mx))):
        colour = PROVIDER_COLOURS[n % len(PROVIDER_COLOURS)]
        if vp in mx:
            s = mx[vp]
            m = ~np.isnan(s)
            ax.plot(x[m], s[m], color=colour, lw=0.9, ls=":", alpha=0.9)
            peak = max(peak, float(np.nanmax(s)))
        if vp in p95:
            s = p95[vp]
            m = ~np.isnan(s)
            marker = "o" if m.sum() <= 120 else None
            (line,) = ax.plot(x[m], s[m], color=colour, lw=1.6, marker=marker, ms=2.5, label=_safe(vp))
            handles.append(line)
            peak = max(peak, float(np.nanmax(s)))
    handles.append(Line2D([], [], color="#555555", lw=0.9, ls=":", label="slowest (max)"))
    ax.set_ylim(0, max(1.0, peak * 1.15))
    ax.set_ylabel("seconds")
    _decorate(ax, ctx, mark="plot-latency")
    _legend(ax, handles, ctx)
    return fig, None


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


#: Multiples that keep "per N s" labels and cell boundaries readable (30 s buckets -> 1, 2, 5 min).
_NICE = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60, 120, 180, 240, 360, 720, 1440)


def _nice_multiple(at_least: float) -> int:
    """The smallest nice integer multiple >= ``at_least`` (beyond the table: round up)."""
    return next((m for m in _NICE if m >= at_least), max(1, math.ceil(at_least)))


def _note(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="#777777")


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)


def _steps(points: list[tuple[datetime, float]], grid: _Grid) -> np.ndarray:
    """A step function (each value holds until the next point) on the grid: each cell shows the
    highest value in force during it, so a short peak is never lost between cells, and the value
    carried to the next cell is the last one, so a drop to 0 is never hidden by an earlier peak."""
    out = np.full(grid.n, np.nan)
    carry = np.nan  # value in force at the start of the current cell
    i = 0
    for cell in range(grid.n):
        cell_end = grid.start + timedelta(seconds=(cell + 1) * grid.cell_s)
        peak = carry
        while i < len(points) and points[i][0] < cell_end:
            t, v = points[i]
            if math.isnan(v):
                i += 1
                continue
            if t < grid.start:
                carry = peak = v  # before the axis: only sets the starting value
            else:
                peak = v if math.isnan(peak) else max(peak, v)
                carry = v
            i += 1
        out[cell] = peak
    return out


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:g} s"
    if seconds < 7200:
        return f"{seconds / 60:g} min"
    return f"{seconds / 3600:g} h"


def _safe(label: str) -> str:
    """Labels come from evidence: keep matplotlib from reading ``$...$`` as mathtext."""
    return str(label).replace("$", r"\$")


_SVG_PROLOGUE = re.compile(r"^.*?(?=<svg\b)", re.S)
_SVG_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)


_PATH_DATA = re.compile(r'(?<= d=")[^"]*')
_DECIMAL = re.compile(r"-?\d+\.\d+")


def _one_decimal(match: re.Match[str]) -> str:
    text = f"{float(match.group(0)):.1f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


_ID = re.compile(r'(?<=\sid=")([^"]+)(?=")')
_REF = re.compile(r'(?:url\(#|href="#)([^)"]+)')


def _unique_ids(svg: str, prefix: str) -> str:
    """matplotlib names its groups ``figure_1``, ``axes_1``... in every figure; several figures in
    one page would repeat them. Prefix those (not the hashed, referenced defs, nor our own gids)."""
    referenced = set(_REF.findall(svg))

    def rename(m: re.Match[str]) -> str:
        name = m.group(1)
        return name if name in referenced or name.startswith("plot-") else f"{prefix}-{name}"

    return _ID.sub(rename, svg)


def _to_svg(fig: Figure, pid: str) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, dpi=72)
    svg = _SVG_PROLOGUE.sub("", buf.getvalue(), count=1)
    svg = _SVG_METADATA.sub("", svg, count=1)
    # Path coordinates are in points on a 720 pt wide canvas: a tenth of a point is invisible,
    # and matplotlib's six decimals would double the file.
    svg = _PATH_DATA.sub(lambda m: _DECIMAL.sub(_one_decimal, m.group(0)), svg)
    return _unique_ids(svg, pid).strip()
