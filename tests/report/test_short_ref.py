"""Terminal citations: short enough to read at 80 columns, still enough to find the line."""

from __future__ import annotations

from vvolguard.records import Citation
from vvolguard.report.view import cite_ref, short_ref, short_text


def test_bundle_member_keeps_archive_name_and_member_path() -> None:
    c = Citation(
        "/tmp/case/esx-a-2026-03-14--10.22-1.tgz!esx-a-2026-03-14--10.22-1/var/run/log/vvold.log", 127, "x"
    )
    assert short_ref(c) == "esx-a-2026-03-14--10.22-1.tgz!…/var/run/log/vvold.log:127"
    assert cite_ref(c).startswith("/tmp/case/")  # the full path stays in JSON and packages


def test_member_under_another_root_and_plain_files_are_unchanged() -> None:
    other = Citation("/x/case.tgz!vm-support/var/run/log/vvold.log", 3, "x")
    assert short_ref(other) == "case.tgz!vm-support/var/run/log/vvold.log:3"
    plain = Citation("/var/tmp/vvold.log", None, "x")
    assert short_ref(plain) == "/var/tmp/vvold.log"


def test_terminal_text_drops_the_esxi_header_but_keeps_time_and_message() -> None:
    esxi8 = (
        "2026-03-14T10:10:00.000Z Wa(164) VVold[2264709]: [Originator@6876 sub=Default OpId=2e75ea67-97] "
        "VasaSession::GetFreeConn: No free connections to VP pure-ct0"
    )
    assert short_text(Citation("vvold.log", 1, esxi8)) == (
        "2026-03-14T10:10:00.000Z VasaSession::GetFreeConn: No free connections to VP pure-ct0"
    )
    esxi7 = "2019-05-16T23:48:21.212Z error vvold[2099041] [Originator@6876 sub=vmomi.soapStub[0]] boom"
    assert short_text(Citation("vvold.log", 2, esxi7)) == "2019-05-16T23:48:21.212Z boom"
    plus = "2025-08-08T12:20:01.100Z Er(163)+ VVold[2255518]: --> continuation text PROVIDER_BUSY"
    assert (
        short_text(Citation("vvold.log", 3, plus))
        == "2025-08-08T12:20:01.100Z --> continuation text PROVIDER_BUSY"
    )
    for other in ("--> VasaOp::X [#1]: ===> Issuing 'getEvents' to VP a", '"pure-ct0","online"'):
        assert short_text(Citation("f", 4, other)) == other
