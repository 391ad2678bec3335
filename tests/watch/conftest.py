from __future__ import annotations

from collections.abc import Iterator

import pytest

from vvolguard.watch.receiver import SyslogEndpoint
from vvolguard.watch.service import WatchConfig, WatchService, run_in_thread


@pytest.fixture
def start_watch() -> Iterator:
    """start_watch(*urls, **config) -> a running WatchService on loopback (stopped afterwards)."""
    running: list[tuple[WatchService, object]] = []

    def start(*urls: str, **kwargs: object) -> WatchService:
        kwargs.setdefault("listen", ("127.0.0.1", 0))
        kwargs.setdefault("interval", 0.05)
        cfg = WatchConfig(syslog=[SyslogEndpoint.parse(u) for u in urls], **kwargs)  # type: ignore[arg-type]
        svc = WatchService(cfg)
        thread = run_in_thread(svc)
        running.append((svc, thread))
        return svc

    yield start
    for svc, thread in running:
        svc.stop()
        thread.join(10)  # type: ignore[attr-defined]
