"""The shared ESXi line grammar, on the verbatim samples of docs/evidence-formats.md (§1.1-§1.5)."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from vvolguard.evidence import logline as ll

# [VERBATIM] KB 412434 (§1.3); the second line carries a `grep -n` prefix.
KB412434_1 = (
    "2025-08-08T12:17:14.610Z Er(163) VVold[2255518]: [Originator@6876 sub=Default OpId=Session] "
    "VasaSession::DoSetContext: setContext for VP XXX (url: https://XXX:8443/vasa/services/"
    "vasaService?version=4) failed [connectionState: TransportError]: TRANSPORT_FAULT (Timeout / "
    "SSL_connect() failed in tcp_connect())"
)
KB412434_2 = (
    "25331:2025-08-08T17:37:07.849Z Er(163) VVold[2317367]: [Originator@6876 sub=Default OpId=Session] "
    "VasaSession::DoSetContext: setContext for VP XXX (url: https://XXXX/axis2/services/vasa2) failed "
    "[connectionState: Connected]: STORAGE_FAULT (ADB conversion error. Details: Invalid Fault Id / )"
)
# [VERBATIM] hostd 8.0 and vpxd 7.0 (§1.2, §1.3).
HOSTD8 = (
    "2023-12-05T14:31:48.557Z In(166) Hostd[1050748]: [Originator@6876 sub=Vimsvc.HaSessionManager "
    "opID=esxui-8c02-9b39 sid=52f0e556] Accepted password for user root from 192.168.127.10 - "
    "session=52f0e556-5be4-83d4-8d71-8f9d8a43791c"
)
VPXD = (
    "2020-04-14T12:48:16.306-06:00 info vpxd[10394] [Originator@6876 sub=Default opID=faf1555] [VpxLRO] -- "
    "ERROR lro-134510 -- SessionManager -- vim.SessionManager.impersonateUser: vim.fault.InvalidLogin:"
)
PURE_HEADER = "2019-05-16T23:48:21.212Z error vvold[2099041] [Originator@6876 sub=Default]"


def test_grep_prefix_is_stripped_but_never_the_timestamp() -> None:
    bare = "2025-08-08T12:17:14.610Z Er(163) VVold[1]: x"
    assert ll.strip_grep_prefix(bare) == bare  # a naive ^[^:]+:\d+: would eat "2025-08-08T12:17:"
    assert ll.strip_grep_prefix("25331:" + bare) == bare
    assert ll.strip_grep_prefix("var/run/log/vvold.log:" + bare) == bare
    assert ll.strip_grep_prefix("vvold.log:123:" + bare) == bare
    assert ll.strip_grep_prefix("--> not a record") == "--> not a record"


def test_esxi8_line_with_grep_prefix() -> None:
    parsed = ll.parse_line(KB412434_2)
    assert parsed is not None
    assert parsed.ts == datetime(2025, 8, 8, 17, 37, 7, 849000, tzinfo=UTC)
    assert (parsed.level, parsed.app, parsed.pid) == ("error", "VVold", 2317367)
    assert parsed.meta == {"sub": "Default", "opid": "Session"}
    assert parsed.msg.startswith("VasaSession::DoSetContext: setContext for VP XXX")
    assert not parsed.continued


def test_esxi7_header_with_empty_message() -> None:
    parsed = ll.parse_line(PURE_HEADER)
    assert parsed is not None
    assert (parsed.level, parsed.app, parsed.pid, parsed.msg) == ("error", "vvold", 2099041, "")


def test_offsets_become_utc_and_meta_keys_are_case_insensitive() -> None:
    parsed = ll.parse_line(VPXD)
    assert parsed is not None
    assert parsed.ts == datetime(2020, 4, 14, 18, 48, 16, 306000, tzinfo=UTC)
    assert parsed.meta["opid"] == "faf1555"
    hostd = ll.parse_line(HOSTD8)
    assert hostd is not None
    assert hostd.meta == {"sub": "Vimsvc.HaSessionManager", "opid": "esxui-8c02-9b39", "sid": "52f0e556"}
    assert hostd.level == "info"


def test_nested_brackets_in_metadata() -> None:
    line = "2023-01-01T00:00:00.000Z info hostd[1] [Originator@6876 sub=vmomi.soapStub[0] user=vpxuser] hello"
    parsed = ll.parse_line(line)
    assert parsed is not None
    assert parsed.meta == {"sub": "vmomi.soapStub[0]", "user": "vpxuser"}
    assert parsed.msg == "hello"


def test_esxi8_continuation_markers() -> None:
    plus = ll.parse_line("2025-08-08T12:20:01.100Z Er(163)+ VVold[2255518]: --> continuation text")
    assert plus is not None and plus.continued and plus.msg == "continuation text"
    assert plus.level == "error"
    arrow = ll.parse_line("2025-08-08T12:20:01.100Z In(166) VVold[2255518]: --> more")
    assert arrow is not None and arrow.continued and arrow.msg == "more"


@pytest.mark.parametrize(
    ("raw", "level"),
    [("Er(163)", "error"), ("Wa(164)+", "warning"), ("In(14)", "info"), ("Db(167)", "debug"),
     ("Em(160)", "error"), ("No(165)", "info"), ("info", "info"), ("verbose", "verbose"), (None, None)],
)  # fmt: skip
def test_levels_map_to_one_scale(raw: str | None, level: str | None) -> None:
    assert ll.normalise_level(raw) == level
    if raw is not None:
        assert pl.select(ll.level_expr(pl.lit(raw))).item() == level


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019-05-16T23:48:21.212Z", datetime(2019, 5, 16, 23, 48, 21, 212000, tzinfo=UTC)),
        ("2019-05-16T23:48:21Z", datetime(2019, 5, 16, 23, 48, 21, tzinfo=UTC)),
        ("2025-08-08T12:17:14.610123Z", datetime(2025, 8, 8, 12, 17, 14, 610123, tzinfo=UTC)),
        ("2020-04-14T12:48:16.306-06:00", datetime(2020, 4, 14, 18, 48, 16, 306000, tzinfo=UTC)),
        ("2020-04-14T12:48:16+0130", datetime(2020, 4, 14, 11, 18, 16, tzinfo=UTC)),
        ("2020-13-14T12:48:16Z", None),
        ("not a time", None),
    ],
)
def test_timestamps_python_and_polars_agree(text: str, expected: datetime | None) -> None:
    assert ll.parse_ts(text) == expected
    got = pl.select(ll.ts_expr(pl.lit(text))).item()
    assert got == expected


def test_section_header_gives_version_and_build() -> None:
    # [VERBATIM] 7.0.3 and 9.0 spellings (§1.1).
    seven = (
        "last log rotation time, 2022-11-09T09:15:36.354Z - time the service was last started "
        "2022-11-09T09:15:36.339Z, Section for VMware ESX, pid=2099676, version=7.0.3, build=20328353, "
        "option=Release"
    )
    section = ll.parse_section(seven)
    assert section == ll.SectionHeader(pid=2099676, version="7.0.3", build="20328353")
    nine = "Section for VMware ESXi, pid=1, version=9.0.0, build=24755229, option=Release"
    assert ll.parse_section(nine) == ll.SectionHeader(pid=1, version="9.0.0", build="24755229")
    assert ll.parse_section("Section for VMware Workstation") is None


def test_context_blob_is_stripped() -> None:
    line = "2025-01-01T00:00:00Z In(166) Hostd[1]: [Originator@6876 sub=X] boom [context]AAAABBBB==[/context]"
    parsed = ll.parse_line(line)
    assert parsed is not None and parsed.msg == "boom"
    assert ll.strip_context("tail [context]unterminated base64") == "tail"


def test_continuations_and_legacy_lines_are_not_records() -> None:
    assert ll.parse_line("--> VasaOp::EventPollerCB [#89845]: ===> Issuing 'getEvents'") is None
    assert ll.continuation_text("   --> Result:\r\n") == "Result:"
    legacy = "[2011-04-01 15:14:34.203 F5A5AB90 info 'vm:/vmfs/volumes/x.vmx' opID=abc] hello"
    assert ll.parse_line(legacy) is None
    assert ll.is_legacy(legacy)
    assert not ll.is_legacy(PURE_HEADER)


def test_tolerant_line_without_the_grammar_still_dates() -> None:
    parsed = ll.parse_line("2025-08-08T12:17:14Z something unexpected")
    assert parsed is not None
    assert parsed.level is None and parsed.msg == "something unexpected"


def test_verbatim_samples_match_the_section_15_regex() -> None:
    for line in (KB412434_1, KB412434_2, HOSTD8, VPXD, PURE_HEADER):
        assert ll.LINE_RE.match(ll.strip_grep_prefix(line)), line
