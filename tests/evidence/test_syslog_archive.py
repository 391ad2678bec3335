"""A central syslog server's archive of forwarded vvold lines (evidence formats §8): ``<PRI>`` and
RFC 3339 time, the sending host and an ``App:`` tag before the log line's own level, sometimes
behind a relay's own BSD header. One file mixes hosts: each line counts for the host it names."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from vvolguard.pipeline import diagnose

WAIT = (
    "VasaSession::GetFreeConn: No free connections to VP pure-ct0 "
    "(url: https://10.21.88.113:8084/vasa) [#outstanding 5/5] - waiting"
)
META = "[Originator@6876 sub=Default OpId=a{n}]"


def _line(prefix: str, ts: str, host: str, pid: int, n: int, level: str = "warning", msg: str = WAIT) -> str:
    return f"{prefix}{ts} {host} Vvold: {level} vvold[{pid}] {META.format(n=n)} {msg}\n"


def test_forwarded_lines_count_for_the_host_they_name(tmp_path: Path) -> None:
    relay = "Mar 14 10:09:58 10.100.101.102 "
    lines = [
        _line(relay, "2026-03-14T10:09:58.120Z", "esx01.corp.local", 2099154, 1),
        _line(relay, "2026-03-14T10:10:00.000Z", "esx01.corp.local", 2099154, 2),
        _line(relay, "2026-03-14T10:10:01.000Z", "esx02.corp.local", 2099777, 3),
        _line("<166>", "2026-03-14T10:10:02.000Z", "esx01.corp.local", 2099154, 4),
        _line("<166>", "2026-03-14T10:10:03.000Z", "esx01.corp.local", 2099154, 5),
        _line("", "2026-03-14T10:10:04.000Z", "esx02.corp.local", 2099777, 6),
    ]
    archive = tmp_path / "central-syslog-2026-03-14.log"
    archive.write_text("".join(lines))
    d = diagnose([archive], now=datetime(2026, 3, 15, tzinfo=UTC))
    waits = {p["host"]: p["counts"]["no_free_conn"] for p in d.signals["per_provider"]}
    assert waits == {"esx01.corp.local": 4, "esx02.corp.local": 2}
    first = {p["host"]: p["first"] for p in d.signals["per_provider"]}
    # the relay's own time (10:09:58 for every relayed line) is not the line's time
    assert first["esx02.corp.local"].isoformat().startswith("2026-03-14T10:10:01")
    assert not d.warnings
