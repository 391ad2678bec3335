"""Notes (a vvold restart, a source host inferred, times lined up) are shown by every renderer,
not only written into the JSON: they change how a person reads the verdict."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from vvolguard.pipeline import diagnose
from vvolguard.report.html import render_html
from vvolguard.report.markdown import render_markdown
from vvolguard.report.terminal import render_terminal

#: Broadcom KB 412434's two setContext failures across a vvold restart (verbatim, as quoted in the
#: evidence formats; the second keeps the ``grep -n`` prefix the KB shows).
KB_412434 = (
    "2025-08-08T12:17:14.610Z Er(163) VVold[2255518]: [Originator@6876 sub=Default OpId=Session] "
    "VasaSession::DoSetContext: setContext for VP XXX (url: https://XXX:8443/vasa/services/"
    "vasaService?version=4) failed [connectionState: TransportError]: TRANSPORT_FAULT (Timeout / "
    "SSL_connect() failed in tcp_connect())\n"
    "25331:2025-08-08T17:37:07.849Z Er(163) VVold[2317367]: [Originator@6876 sub=Default "
    "OpId=Session] VasaSession::DoSetContext: setContext for VP XXX (url: https://XXXX/axis2/"
    "services/vasa2) failed [connectionState: Connected]: STORAGE_FAULT (ADB conversion error. "
    "Details: Invalid Fault Id / )\n"
)


def test_every_renderer_shows_the_vvold_restart(tmp_path: Path) -> None:
    log = tmp_path / "vvold.log"
    log.write_text(KB_412434)
    d = diagnose([log], now=datetime(2025, 8, 9, tzinfo=UTC))
    assert d.verdict.cls == "provider-registration"
    assert [n.kind for n in d.notes] == ["vvold-restart"]

    buf = io.StringIO()
    render_terminal(d, Console(file=buf, width=200, color_system=None))
    terminal = buf.getvalue()
    assert "Also noted" in terminal
    assert "2255518 -> 2317367" in terminal.split("Also noted", 1)[1]

    md = render_markdown(d)
    assert re.search(r"^### Also noted$", md, re.M)
    noted = md.split("### Also noted", 1)[1].split("###", 1)[0]
    assert "2255518" in noted and "2317367" in noted and "vvold.log:1" in noted

    html = render_html(d)
    section = html.split('<section id="notes">', 1)[1].split("</section>", 1)[0]
    assert "2255518 -&gt; 2317367" in section or "2255518 -> 2317367" in section
    assert "vvold.log:1" in section
