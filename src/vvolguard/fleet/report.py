"""The fleet report: one self-contained HTML file, in the incident report's style and under the
same rules (inline CSS from :mod:`vvolguard.report`, a Content-Security-Policy that forbids
loading anything, Jinja2 autoescaping of every value; no script, no plot that needs one)."""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2
import polars as pl

from vvolguard.report.view import fmt_int, fmt_ms

#: Hosts in the heat map (worst first); the Parquet tables hold them all.
HEAT_ROWS = 60
INCIDENTS_SHOWN = 300
WARNINGS_SHOWN = 50


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [
                jinja2.PackageLoader("vvolguard.fleet", "templates"),
                jinja2.PackageLoader("vvolguard.report", "templates"),
            ]
        ),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals.update(int=fmt_int, ms=fmt_ms, dash=lambda v: "—" if v is None else v)
    return env


def _heat_class(n: int | None) -> str:
    if n is None:
        return "hn"
    if n == 0:
        return "h0"
    if n < 3:
        return "h1"
    if n < 10:
        return "h2"
    return "h3" if n < 50 else "h4"


def heat_rows(buckets: pl.DataFrame) -> dict[str, Any]:
    from vvolguard.fleet.tables import heat_map

    grid = heat_map(buckets)
    if not grid.height:
        return {"rows": [], "days": [], "shown": 0, "total": 0}
    days = sorted(grid.get_column("day").unique().to_list())
    totals = grid.group_by("host").agg(pl.col("pressure").sum()).filter(pl.col("pressure") > 0)
    worst = totals.sort(["pressure", "host"], descending=[True, False]).get_column("host").to_list()
    values = {(h, d): p for h, d, p in grid.iter_rows()}
    rows = []
    for host in worst[:HEAT_ROWS]:
        cells = []
        for day in days:
            n = values.get((host, day))
            cells.append(
                {
                    "day": str(day),
                    "cls": _heat_class(n),
                    "text": "no evidence" if n is None else f"{n} events",
                }
            )
        rows.append({"host": host, "cells": cells})
    return {"rows": rows, "days": [str(d) for d in days], "shown": len(rows), "total": len(worst)}


def render_fleet_html(summary: dict[str, Any], built: dict[str, pl.DataFrame]) -> str:
    from vvolguard import __version__

    incidents = summary["incidents"]
    hosts = {i["host"] for i in incidents if i.get("host")}
    worst = (
        summary["providers"][0]["provider"]
        if summary["providers"] and summary["providers"][0]["pressure_events"]
        else None
    )
    headline = f"{len(incidents)} incidents on {len(hosts)} hosts" if incidents else "No incidents"
    sub = (
        f"Most pressure: {worst}. " if worst else "No provider showed pressure. "
    ) + f"{summary['inputs']['hosts']} hosts, {len(summary['providers'])} providers."
    tone = "high" if incidents else "info"
    certs = sorted(
        summary["certificates"], key=lambda c: (c["days_left"] is None, c["days_left"] or 0, c["provider"])
    )
    return (
        _environment()
        .get_template("fleet.html.j2")
        .render(
            s=summary,
            version=__version__,
            headline=headline,
            sub=sub,
            tone=tone,
            heat=heat_rows(built["buckets"]),
            certs=certs,
            incidents_shown=INCIDENTS_SHOWN,
            warnings_shown=WARNINGS_SHOWN,
        )
    )
