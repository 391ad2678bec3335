"""``diagnose --since 2h``: what ``vvolguard watch`` saw in a window, read back from the store.

Watch writes its state changes, and its own coverage (runs with heartbeats, hosts heard), to the
local store (:mod:`vvolguard.watch.store`). This module reads them for a window and says two
kinds of things, kept apart on purpose:

* **what watch saw**: pressure episodes per host and provider (with ``diagnose``'s reasons),
  hosts that fell silent, migrations vCenter reported failed, vCenter outages;
* **what cannot be concluded**: the parts of the window no watch run covered, hosts heard only
  for part of it, hosts heard but never from vvold. A host is called calm only when a watch run
  covered the whole window *and* that host's vvold lines reached watch from its start to its end
  with no silence watch noticed: absence of a change is evidence only where watch was listening.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

#: A run's heartbeat lags the present by up to this much (``WatchConfig.store_heartbeat`` plus
#: margin); gaps shorter than this are not holes in the coverage.
SLACK = timedelta(seconds=90)


def _t(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _clock(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _span(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


@dataclass
class WatchHistory:
    """The window, watch's coverage of it, and what it saw; :meth:`to_dict` is the ``watch``
    field of the diagnosis JSON."""

    store: str
    since: datetime
    until: datetime
    runs: list[dict[str, Any]] = field(default_factory=list)
    gaps: list[tuple[datetime, datetime]] = field(default_factory=list)
    covered_seconds: float = 0.0
    hosts: list[dict[str, Any]] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    saw: list[tuple[str, list[str]]] = field(default_factory=list)  # (sentence, hosts)
    cannot_conclude: list[str] = field(default_factory=list)
    calm_hosts: list[str] = field(default_factory=list)

    @property
    def covers_window(self) -> bool:
        return bool(self.runs) and not self.gaps

    def to_dict(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "window": [self.since, self.until],
            "covers_window": self.covers_window,
            "covered_seconds": round(self.covered_seconds, 1),
            "window_seconds": round((self.until - self.since).total_seconds(), 1),
            "gaps": [list(g) for g in self.gaps],
            "runs": self.runs,
            "hosts": self.hosts,
            "changes": self.changes,
            "saw": [text for text, _ in self.saw],
            "calm_hosts": self.calm_hosts,
            "cannot_conclude": self.cannot_conclude,
        }


def read_history(store: Path, since: datetime, until: datetime) -> WatchHistory:
    """Everything the store at ``store`` says about [``since``, ``until``] (aware datetimes).
    A missing store, or one watch never wrote to, gives a history with no runs (and says so)."""
    history = WatchHistory(str(store), since, until)
    rows = _rows(store, since, until)
    if rows is None:
        history.cannot_conclude.append(
            f"The store {store} has no watch records: vvolguard watch did not write there, so nothing "
            "can be said of the window from it."
        )
        return history
    runs, hosts, changes, before = rows
    history.changes = changes
    if runs:
        _coverage(history, runs)
    else:
        history.cannot_conclude.append(
            f"No vvolguard watch run was listening from {_clock(since)} to {_clock(until)} (store {store}): "
            "watch saw nothing of this window, which says nothing about its health."
        )
        return history
    _hosts(history, hosts, changes, before)
    _saw(history, changes, before)
    return history


def _rows(
    store: Path, since: datetime, until: datetime
) -> tuple[list[sqlite3.Row], list[sqlite3.Row], list[dict[str, Any]], dict[tuple[str, str], str]] | None:
    if not store.is_file():
        return None
    try:
        conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error:
        return None
    conn.row_factory = sqlite3.Row
    s, u = (
        since.astimezone(UTC).isoformat(timespec="milliseconds"),
        until.astimezone(UTC).isoformat(timespec="milliseconds"),
    )
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "watch_runs" not in tables:
            return None
        runs = conn.execute(
            "SELECT * FROM watch_runs WHERE started_at <= ? AND alive_at >= ? ORDER BY started_at", (u, s)
        ).fetchall()
        ids = [r["id"] for r in runs]
        hosts = (
            conn.execute(
                f"SELECT * FROM watch_hosts WHERE run_id IN ({','.join('?' * len(ids))})", ids
            ).fetchall()
            if ids
            else []
        )
        changes = [
            dict(r) | {"reasons": json.loads(r["reasons"])}
            for r in conn.execute(
                "SELECT * FROM watch_changes WHERE at >= ? AND at <= ? ORDER BY at, rowid", (s, u)
            )
        ]
        # the pressure level each series had when the window began, from the run covering it
        first_start = min((r["started_at"] for r in runs), default=s)
        before: dict[tuple[str, str], str] = {}
        for r in conn.execute(
            "SELECT host, provider, new FROM watch_changes WHERE what = 'pressure' AND at >= ? AND at < ? "
            "ORDER BY at, rowid",
            (first_start, s),
        ):
            before[(r["host"], r["provider"] or "")] = r["new"]
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return runs, hosts, changes, before


def _coverage(history: WatchHistory, runs: list[sqlite3.Row]) -> None:
    spans: list[tuple[datetime, datetime]] = []
    for r in runs:
        start, alive = _t(r["started_at"]), _t(r["alive_at"])
        assert start is not None and alive is not None
        stopped = _t(r["stopped_at"])
        # a run that is still going is alive up to now, give or take a heartbeat
        end = alive if stopped is not None else alive + SLACK
        history.runs.append(
            {
                "started": start,
                "alive": alive,
                "stopped": stopped,
                "sources": json.loads(r["sources"]),
            }
        )
        spans.append((max(start, history.since), min(end, history.until)))
    spans.sort()
    cursor = history.since
    for start, end in spans:
        if start - cursor > SLACK:
            history.gaps.append((cursor, start))
        if end > cursor:
            history.covered_seconds += (end - max(start, cursor)).total_seconds()
            cursor = end
    if history.until - cursor > SLACK:
        history.gaps.append((cursor, history.until))
    window = (history.until - history.since).total_seconds()
    sources = sorted({s for r in history.runs for s in r["sources"]})
    if history.covers_window:
        history.saw.append(
            (
                f"vvolguard watch was listening through the whole window {_clock(history.since)} to "
                f"{_clock(history.until)} ({', '.join(sources) or 'no sources'}).",
                [],
            )
        )
    else:
        holes = "; ".join(f"{_clock(a)} to {_clock(b)}" for a, b in history.gaps)
        history.saw.append(
            (
                f"vvolguard watch was listening for {_span(history.covered_seconds)} of the "
                f"{_span(window)} window ({', '.join(sources) or 'no sources'}).",
                [],
            )
        )
        history.cannot_conclude.append(
            f"No watch run covered {holes}: what happened then is unknown to watch, so no host can be "
            "called calm for the whole window."
        )


def _hosts(
    history: WatchHistory,
    rows: list[sqlite3.Row],
    changes: list[dict[str, Any]],
    before: dict[tuple[str, str], str],
) -> None:
    merged: dict[str, dict[str, Any]] = {}
    for r in rows:
        h = merged.setdefault(
            r["host"],
            {
                "host": r["host"],
                "first_heard": None,
                "last_heard": None,
                "first_vvold": None,
                "last_vvold": None,
            },
        )
        for key, pick in (
            ("first_heard", min),
            ("last_heard", max),
            ("first_vvold", min),
            ("last_vvold", max),
        ):
            value = _t(r[key])
            if value is not None:
                h[key] = value if h[key] is None else pick(h[key], value)
    went_silent = {c["host"] for c in changes if c["what"] == "stale" and c["new"] == "stale"}
    troubled = {c["host"] for c in changes if c["what"] == "pressure"}
    troubled |= {h for (h, _vp), level in before.items() if level != "calm"}
    since, until = history.since, history.until
    partly: list[str] = []
    no_vvold: list[str] = []
    for name in sorted(merged):
        h = merged[name]
        fv, lv = h["first_vvold"], h["last_vvold"]
        throughout = (
            fv is not None
            and lv is not None
            and fv <= since + SLACK
            and lv >= until - SLACK
            and name not in went_silent
        )
        h["vvold_throughout"] = throughout
        history.hosts.append(h)
        if fv is None:
            no_vvold.append(name)
        elif not throughout and name not in troubled:
            partly.append(f"{name} ({_clock(max(fv, since))} to {_clock(min(lv, until))})")
        elif throughout and history.covers_window and name not in troubled:
            history.calm_hosts.append(name)
    if history.calm_hosts:
        history.saw.append(
            (
                f"watch heard vvold from {len(history.calm_hosts)} host(s) through the whole window and "
                f"saw no VASA pressure on them: {', '.join(history.calm_hosts)}.",
                list(history.calm_hosts),
            )
        )
    if partly:
        history.cannot_conclude.append(
            "vvold lines reached watch for only part of the window from "
            + ", ".join(partly)
            + ": nothing can be said of the rest of it."
        )
    if no_vvold:
        history.cannot_conclude.append(
            f"watch heard {', '.join(no_vvold)} but no vvold lines from them: their VASA control plane "
            "was not observed."
        )
    history.cannot_conclude.append(
        "Hosts that did not send their logs to this watch are not in its view at all."
    )


def _saw(history: WatchHistory, changes: list[dict[str, Any]], before: dict[tuple[str, str], str]) -> None:
    episodes: dict[tuple[str, str], list[str]] = defaultdict(list)
    for (host, vp), level in sorted(before.items()):
        if level != "calm":
            episodes[(host, vp)].append(f"already {level} when the window began")
    failures: dict[str, list[str]] = defaultdict(list)
    for c in changes:
        at = _clock(datetime.fromisoformat(c["at"]))
        why = f" ({'; '.join(c['reasons'])})" if c["reasons"] else ""
        if c["what"] == "pressure":
            episodes[(c["host"], c["provider"] or "")].append(f"{c['new']} at {at}{why}")
        elif c["what"] == "stale":
            verb = "stopped sending (stale)" if c["new"] == "stale" else "was heard again"
            history.saw.append((f"{c['host']} {verb} at {at}.", [c["host"]]))
        elif c["what"] == "migration":
            failures[c["host"]].append(f"{at}{why}")
        elif c["what"] == "vcenter":
            history.saw.append((f"vCenter {c['host']} went {c['new']} at {at}{why}.", []))
        elif c["what"] == "provider":
            history.saw.append(
                (f"vCenter reported provider {c['provider']} {c['old']} -> {c['new']} at {at}.", [])
            )
    for (host, vp), steps in sorted(episodes.items()):
        history.saw.append((f"VASA provider {vp} on {host}: " + ", then ".join(steps) + ".", [host]))
    for host, items in sorted(failures.items()):
        history.saw.append(
            (
                f"vCenter reported {len(items)} failed migration(s) from {host}: "
                + "; ".join(items[:5])
                + ".",
                [host],
            )
        )
