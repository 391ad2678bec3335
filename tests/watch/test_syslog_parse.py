"""Syslog headers and the ESXi message inside them, in the shapes ESXi 7 and 8 send."""

from __future__ import annotations

import polars as pl
import pytest

from vvolguard.evidence.vvold_block import Block, parse_block
from vvolguard.watch import esxline, replay, syslog
from vvolguard.watch.framing import StreamFramer

ESXI8_FILE = (
    "2025-08-08T12:17:14.610Z Er(163) VVold[2255518]: [Originator@6876 sub=Default OpId=Session] "
    "VasaSession::DoSetContext: setContext for VP XXX "
    "(url: https://XXX:8443/vasa/services/vasaService?version=4) failed [connectionState: TransportError]: "
    "TRANSPORT_FAULT (Timeout / SSL_connect() failed in tcp_connect())"
)
ESXI7_FILE = [
    "2024-03-14T10:02:11.418Z warning vvold[2100874] [Originator@6876 sub=Default]",
    "--> VasaSession::GetFreeConn: No free connections to VP pure-ct0 (url: https://10.1.1.10:8084/vasa) "
    "[#outstanding 5/5] - waiting",
]


def _parse_lines(lines: list[str]) -> pl.DataFrame:
    data = ("\n".join(lines) + "\n").encode()
    frame = parse_block(Block(data, 0, len(data), None), "t", "h").frame
    assert frame is not None
    return frame.frame


def test_rfc3164_esxi8_tag_with_pid() -> None:
    msg = syslog.parse(
        "<163>2025-08-08T12:17:14.610Z esx03.lab Vvold[2255518]: [Originator@6876 x] hi", "10.0.0.9"
    )
    assert msg is not None
    assert (msg.pri, msg.host, msg.app, msg.pid, msg.msg) == (
        163,
        "esx03.lab",
        "Vvold",
        2255518,
        "[Originator@6876 x] hi",
    )


def test_rfc3164_esxi7_daemon_tag_keeps_inner_level() -> None:
    msg = syslog.parse(
        "<166>2019-05-21T19:27:32.479Z esxi.example Hostd: info hostd[123] [Originator@6876 sub=A] x", "p"
    )
    assert msg is not None and msg.app == "Hostd" and msg.pid is None
    assert esxline.daemon(msg) == esxline.HOSTD
    assert esxline.file_lines(msg) == ["2019-05-21T19:27:32.479Z info hostd[123] [Originator@6876 sub=A] x"]


def test_rfc5424_with_structured_data_bom_and_cut_marker() -> None:
    raw = (
        "<164>1 2026-03-14T10:10:00.000Z esx01.lab Vvold 2264325 - "
        '[Originator@6876 sub="Default" OpId="a\\]b"]'
        '[meta msgModified="true" originalLen="2400"] \ufeffNo free conn'
    )
    msg = syslog.parse(raw, "p")
    assert msg is not None
    assert (msg.host, msg.app, msg.pid, msg.msg, msg.cut) == (
        "esx01.lab",
        "Vvold",
        2264325,
        "No free conn",
        True,
    )
    assert msg.sd.startswith('[Originator@6876 sub="Default" OpId="a\\]b"]')


def test_relay_header_in_front_is_skipped_and_inner_host_wins() -> None:
    raw = "Jan  1 12:34:56 10.100.101.102 <166>2019-05-21T19:27:32.479Z esxi.example Vvold: info vvold[7] x"
    msg = syslog.parse(raw, "10.100.101.102")
    assert msg is not None and msg.host == "esxi.example"


def test_bsd_timestamp_and_missing_hostname_fallbacks() -> None:
    msg = syslog.parse("<166>Mar  4 10:00:01 esx9 Vvold[5]: hello", "p")
    assert msg is not None and msg.host == "esx9"
    assert syslog.esxi_time(msg.ts).endswith("-03-04T10:00:01.000Z")
    nohost = syslog.parse("<166>1 2026-03-14T10:10:00Z - Vvold 5 - - hi", "192.0.2.7")
    assert nohost is not None and nohost.host == "192.0.2.7"


@pytest.mark.parametrize(
    "junk",
    ["", "hello world", "<999>garbage", "<166>1 2026-03-14T10:00:00Z h a p m [unterminated", "\x00\x01\x02"],
)
def test_not_syslog_is_none(junk: str) -> None:
    assert syslog.parse(junk, "p") is None


@pytest.mark.parametrize("fmt", ["3164", "5424"])
def test_esxi8_line_survives_the_round_trip_through_syslog(fmt: str) -> None:
    """The message rebuilt from syslog parses to the same row as the file line itself."""
    [message] = replay.messages([ESXI8_FILE], "esx03.lab", fmt)
    msg = syslog.parse(message, "p")
    assert msg is not None and msg.host == "esx03.lab" and esxline.daemon(msg) == esxline.VVOLD
    direct = _parse_lines([ESXI8_FILE]).select("kind", "op", "vp", "fault", "url")
    rebuilt = _parse_lines(esxline.file_lines(msg)).select("kind", "op", "vp", "fault", "url")
    assert rebuilt.to_dicts() == direct.to_dicts()
    assert direct.get_column("kind").to_list() == ["setcontext-failure"]


@pytest.mark.parametrize("multiline", [True, False])
def test_esxi7_multi_line_record_is_reassembled(multiline: bool) -> None:
    """One multi-line message or one message per line: the ``-->`` text belongs to its record."""
    lines: list[str] = []
    for message in replay.messages(ESXI7_FILE, "esx01", "3164", multiline=multiline):
        msg = syslog.parse(message, "p")
        assert msg is not None and esxline.daemon(msg) == esxline.VVOLD
        lines += esxline.file_lines(msg)
    frame = _parse_lines(lines)
    rows = frame.filter(pl.col("kind") == "no-free-conn")
    assert rows.height == 1 and rows["vp"][0] == "pure-ct0"
    assert str(rows["ts"][0]).startswith("2024-03-14 10:02:11.418")


def test_framer_octet_counting_split_anywhere_and_newline_mixed() -> None:
    msgs = ["<166>1 - h a - - - one\nline two", "<166>h x: three"]
    stream = b"".join([replay.frame(msgs[0], octet=True), replay.frame(msgs[1], octet=False)])
    stream += b"2026-03-14T10:00:00.000Z esx1 Vvold[1]: pri-less line\n"
    for cut in range(1, len(stream)):
        f = StreamFramer()
        out = f.feed(stream[:cut]) + f.feed(stream[cut:])
        assert [m.decode() for m in out] == [*msgs, "2026-03-14T10:00:00.000Z esx1 Vvold[1]: pri-less line"]


def test_framer_drops_oversized_without_buffering_it() -> None:
    f = StreamFramer(max_message=100)
    assert f.feed(b"5000 " + b"x" * 1000) == []
    assert f.buffered == 0
    assert f.feed(b"y" * 4000 + b"3 abc") == [b"abc"]
    assert f.feed(b"z" * 500) == [] and f.buffered == 0
    assert f.feed(b"zz\n<1>h a: ok\n") == [b"<1>h a: ok"]
    assert f.oversized == 2


def test_relay_header_with_its_own_pri_and_no_inner_pri() -> None:
    raw = "<13>Jan  1 12:34:56 10.1.2.3 2019-05-21T19:27:32.479Z esxi.example Vvold: info vvold[7] x"
    msg = syslog.parse(raw, "10.1.2.3")
    assert msg is not None and msg.host == "esxi.example" and msg.app == "Vvold"


FAST_SHAPES = [
    "<163>2025-08-08T12:17:14.610Z esx03.lab Vvold[2255518]: [Originator@6876 sub=Default] hi there",
    "<166>2024-03-14T10:02:11.418Z esx01 Vvold: info vvold[2100874] [Originator@6876 sub=Default] x",
    "<164>2024-03-14T10:02:11.418Z esx01 Vvold: warning vvold[2100874] [Originator@6876] y\r",
    "<166>2024-03-14T10:02:11Z esx01 Hostd: info hostd[1] [Originator@6876 sub=Vimsvc] [MIGRATE] z",
    "<166>2024-03-14T10:02:11.4Z esx01 vmkwarning: cpu3:2097)WARNING: NMP: nmp_DeviceRequestFast",
    "<166>2024-03-14T10:02:11.4Z esx01 Vmkernel[0]: cpu3:2097)ScsiDeviceIO: 4325: Cmd",
    "<166>2024-03-14T10:02:11.418Z esx01 Rhttpproxy[2099]: [Originator@6876 sub=Proxy] not ours",
    "<166>2024-03-14T10:02:11.418Z esx01 relayed: info vvold[77] [Originator@6876] tag replaced",
    "<166>2024-03-14T10:02:11.418Z esx01 relayed: info sfcbd[77] not ours either",
    "<163>2025-08-08T12:17:14.610Z esx03 VVold[2255518]: --> Fault: VasaProviderBusy",
    "<163>2025-08-08T12:17:14.610Z esx03 Vvold[007]:no space after the colon",
    "<13>2025-08-08T12:17:14.610Z esx03 Vobd[1]: [UserLevelCorrelator] 123us: [vob.user.x]",
]
NOT_FAST = [
    "<163>1 2025-08-08T12:17:14.610Z esx03.lab Vvold 2255518 - [Originator@6876 sub=Default] 5424",
    "<166>Mar 14 10:02:11 esx01 Vvold: info vvold[1] BSD time",
    "<166>2024-03-14T10:02:11.418+01:00 esx01 Vvold[1]: an offset, not Z",
    "<166>2024-03-14T10:02:11.418Z esx01 Vvold[1]: two\nlines",
    "<999>2024-03-14T10:02:11.418Z esx01 Vvold[1]: PRI out of range",
    "Mar 14 10:02:11 10.1.2.3 <166>2024-03-14T10:02:11.418Z esx01 Vvold[1]: behind a relay",
]


@pytest.mark.parametrize("text", FAST_SHAPES)
def test_the_fast_path_gives_exactly_what_the_full_parse_gives(text: str) -> None:
    msg = syslog.parse(text, "10.9.9.9")
    assert msg is not None
    daemon = esxline.daemon(msg)
    line = "" if daemon == esxline.OTHER else esxline.file_lines(msg)[0]
    assert esxline.fast_line(text) == (msg.host, daemon, line)


@pytest.mark.parametrize("text", NOT_FAST)
def test_other_shapes_take_the_full_parse(text: str) -> None:
    assert esxline.fast_line(text) is None
