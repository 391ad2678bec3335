"""Secret stripping, pseudonymisation and excerpt windows on in-memory text."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vvolguard.escalate import excerpts as excerpts_mod
from vvolguard.escalate.classify import _CONTENT_RULES
from vvolguard.escalate.excerpts import Anchor, cut_windows
from vvolguard.escalate.redact import KEEP_USER_PREFIXES, KEEP_USERS, Pseudonymizer
from vvolguard.escalate.secrets import strip_line, strip_text
from vvolguard.evidence.source import from_bytes

# -- secrets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        (
            "[Originator@6876 sub=Vimsvc.HaSessionManager sid=52f0e556] Accepted password for user root "
            "- session=52f0e556-5be4-83d4-8d71-8f9d8a43791c",
            "52f0e556",
        ),
        ("login password=hunter2 ok", "hunter2"),
        ('{"Password": "s3cr et pass", "x": 1}', "s3cr et"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA"),
        ('Cookie: vmware_soap_session="abc123def456"; vmware_cgi_ticket=zz9', "abc123def456"),
        ("vmware_cgi_ticket=52ab1c2d3e4f", "52ab1c2d3e4f"),
        ("curl https://admin:P@ss:w0rd@vc.corp.example.com/sdk", "P@ss:w0rd"),
        ("<wsse:Password Type='x'>hunter2</wsse:Password>", "hunter2"),
        ("vmware-api-session-id: 0f1e2d3c4b5a69788796a5b4c3d2e1f0", "0f1e2d3c4b5a"),
        ("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "eyJhbGciOiJIUzI1NiJ9"),
        ("api_key=AKIAxxxxSECRET token: t0k3n-value", "t0k3n-value"),
        # #17: the shapes that used to survive
        ("setContext for VP pure-ct0 (url: https://x) succeeded, sessionId 52a1f7e3-0c4d-4b1e", "52a1f7e3"),
        ("SOAP header VASASESSIONID=7f3c9a1e5b2d; Path=/", "7f3c9a1e5b2d"),
        ("vmware-api-session-id 52a1b2c3d4e5f60718293a4b5c6d", "52a1b2c3d4e5"),
        ("esxcli --server vc --username u --password Hunter2! storage vvol list", "Hunter2!"),
        ("run.sh --api-key=AbC123xyz --token 'two words'", "AbC123xyz"),
        ("<Login><Password><![CDATA[p4ss<w>rd]]></Password></Login>", "p4ss"),
        ("<Password><![CDATA[never closed on this line", "never closed"),
        ("GET /sdk?user=x&password=Ur1P4ss-77&y=1", "Ur1P4ss-77"),
        ("Authorization: Bearer abcdefgh12345678", "abcdefgh12345678"),
        ("Cookie: vmware_soap_session=5a2b3c4d5e6f7a8b", "5a2b3c4d5e6f"),
    ],
)
def test_secret_shapes_are_stripped(line: str, secret: str) -> None:
    stripped = strip_line(line)
    assert secret not in stripped
    assert "<redacted>" in stripped


def test_harmless_session_words_stay() -> None:
    for line in (
        "Issuing 'getEvents' to VP pure-ct0 (#outstanding 0/5) [session state: Connected]",
        "sessionId is invalid; redo setContext",
        "VasaOp::ThrowFromSessionError [#89844]: ===> FINAL SUCCESS",
    ):
        assert strip_line(line) == line


HOSTILE_LINES = (
    "password" * 8192,
    "<" + "a" * 65536,
    "sessionId " + "1" * 65536,
    "--password" * 6000,
    "<Password><![CDATA[" + "]" * 65536,
    " " * 65536,
    "a." * 32768,
    "1-" * 32768,
    "1%2e" * 16000,
    "A\\" * 32768,
    "user=" * 13000,
)


def test_secret_and_redaction_regexes_are_linear_on_hostile_lines() -> None:
    """A 64 KiB line of each pathological shape (the cap of a line is 16 KiB) costs
    milliseconds; a quadratic pattern takes seconds to minutes here. Not a speed goal: a guard
    against catastrophic backtracking, with a bound 100x above the normal cost."""
    import time

    p = Pseudonymizer()
    for line in HOSTILE_LINES:
        start = time.thread_time()
        strip_line(line)
        p.discover(line)
        assert time.thread_time() - start < 3.0, line[:20]
    # the package's own content rules, on a 64 KiB sniff head of blank lines and of spaces
    for head in ("\n" * 65536, " " * 65536, " \n" * 32768, "\t\n" * 32768):
        start = time.thread_time()
        for pattern, _ in _CONTENT_RULES:
            pattern.search(head)
        assert time.thread_time() - start < 3.0, repr(head[:4])


def test_secret_stripping_keeps_json_valid_and_harmless_text_intact() -> None:
    doc = {
        "text": 'login password="hunter 2" from x',
        "session": "abc",
        "state": "[session state: Connected]",
    }
    out = json.loads(strip_text(json.dumps(doc)))
    assert "hunter" not in json.dumps(out)
    assert out["state"] == "[session state: Connected]"
    assert strip_line("Accepted password for user root from 10.0.0.1") == (
        "Accepted password for user root from 10.0.0.1"
    )


def test_multiline_private_keys_and_saml_are_dropped_even_when_truncated() -> None:
    text = (
        "before\n-----BEGIN RSA PRIVATE KEY-----\nMIIEsecretkeybody\n-----END RSA PRIVATE KEY-----\n"
        "middle\n<saml2:Assertion ID='x'>\n<saml2:Subject>jdoe</saml2:Subject>\n</saml2:Assertion>\n"
        "after\n-----BEGIN PRIVATE KEY-----\nMIIEcutoff"
    )
    out = strip_text(text)
    assert "MIIE" not in out and "jdoe" not in out
    assert out.splitlines()[0] == "before" and "middle" in out and "after" in out


# -- pseudonymisation ---------------------------------------------------------------------------


def pseudonymize(lines: list[str], hosts: tuple[str, ...] = ()) -> tuple[Pseudonymizer, list[str]]:
    p = Pseudonymizer()
    for host in hosts:
        p.add_host(host)
    p.discover_lines(lines)
    p.finalize()
    return p, [p.apply(line) for line in lines]


def test_one_alias_per_identifier_in_every_spelling() -> None:
    lines = [
        "esx-esx-03.corp.example.com-2026-03-14--10.30-123.tgz!var/run/log/vvold.log",
        "migrating from ESX-03.CORP.EXAMPLE.COM to esx-04.corp.example.com (short: esx-03)",
        "host esx-030 is another host; url: https://10.1.1.10:8084/vasa and 10.1.1.100",
        r'{"UserName": "CORP\\svc-backup"} user=vpxuser:CORP\svc-backup CORP%5Csvc-backup',
    ]
    p, out = pseudonymize(lines, hosts=("esx-03.corp.example.com",))
    fqdn, short = p.alias("esx-03.corp.example.com"), p.alias("esx-03")
    assert fqdn == f"{short}.{p.alias('corp.example.com')}"
    assert out[0].startswith(f"esx-{fqdn}-2026-03-14")
    assert out[1].count(fqdn) == 1 and f"(short: {short})" in out[1]
    assert "esx-030" in out[2]  # a different host name is not touched by esx-03
    assert p.alias("10.1.1.10") != p.alias("10.1.1.100")
    assert f"https://{p.alias('10.1.1.10')}:8084" in out[2]
    user, domain = p.alias("svc-backup"), p.alias("CORP")
    assert out[3] == (rf'{{"UserName": "{domain}\\{user}"}} user=vpxuser:{domain}\{user} {domain}%5C{user}')


def test_a_host_after_an_at_sign_stays_a_host() -> None:
    lines = [r"Uid /VIServer=vsphere.local\administrator@vc01.vvol.lab:443/ and https://esx-01.vvol.lab/sdk"]
    p, out = pseudonymize(lines)
    assert p.alias("vc01.vvol.lab") == f"{p.alias('vc01')}.{p.alias('vvol.lab')}"
    assert p.alias("vc01").startswith("host-")
    assert "vc01" not in out[0] and "vvol.lab" not in out[0]


def test_user_names_in_login_lines() -> None:
    lines = [
        "sshd[1]: Accepted keyboard-interactive/pam for jdoe from 10.0.0.5 port 5022",
        "sshd[1]: Failed password for invalid user mallory from 10.0.0.6",
        "Rejected login [login:svc_ops][error code:2] by user 'ops.admin'",
        "Accepted password for user kim.lee from 10.0.0.7 - session=<redacted>",
    ]
    p, out = pseudonymize(lines)
    for user in ("jdoe", "mallory", "svc_ops", "ops.admin", "kim.lee"):
        assert p.alias(user) is not None and user not in "\n".join(out)


def test_kept_values_and_versions_are_not_aliased() -> None:
    lines = [
        "Section for VMware ESX, pid=1, version=7.0.3.1, build=20328353",
        "netmask 255.255.255.0 loopback 127.0.0.1 any ::1",
        "user=vpxuser [login:root] dcui",
        "VasaOp::CreateVirtualVolumeInt 10:02:11 00:50:56:aa:bb:cc 2026-03-14 10-02-11",
        "Vimsvc.TaskManager vim.fault.InvalidLogin vvold.log.gz summary.md version.xml esx.conf",
    ]
    p, out = pseudonymize(lines)
    assert out == lines
    assert not any(p.mapping().values())


def test_sso_administrator_is_a_user_in_every_spelling() -> None:
    lines = [
        r"user=vpxuser:VSPHERE.LOCAL\Administrator",
        "Administrator@vsphere.local logged in; Administrator@VSPHERE.LOCAL again",
        r'{"UserName": "VSPHERE.LOCAL\\Administrator"}',
    ]
    p, out = pseudonymize(lines)
    user, domain = p.alias("Administrator"), p.alias("vsphere.local")
    assert user.startswith("user-") and domain.startswith("dom-")
    assert out[0] == rf"user=vpxuser:{domain}\{user}"
    assert out[1] == f"{user}@{domain} logged in; {user}@{domain} again"
    assert "administrator" not in "\n".join(out).lower() and "vsphere" not in "\n".join(out).lower()
    assert p.mapping()["user"] == {"Administrator": user}


def test_aliases_never_equal_an_original() -> None:
    lines = ["hosts host-01 and esx-9.lab.local, addresses 192.0.2.1 and 10.9.9.9, user=user-01"]
    p, out = pseudonymize(lines, hosts=("host-01",))
    for original in ("host-01", "192.0.2.1", "user-01", "esx-9.lab.local", "10.9.9.9"):
        alias = p.alias(original)
        assert alias is not None and alias.lower() != original.lower()
        assert alias not in p.originals()
        assert not re.search(rf"(?<![A-Za-z0-9]){re.escape(original)}(?![A-Za-z0-9])", out[0])


def test_dashed_ipv4_spelling_is_aliased_too() -> None:
    lines = [
        "connect 10.1.1.10 via ip-10-1-1-10 and node-10-1-1-100",
        "esx-10-77-1-25.corp.example.net GET /x?ip=10%2E77%2E1%2E25&h=10%2e1%2e1%2e10 at 2026-03-14",
    ]
    p, out = pseudonymize(lines)
    dashed = p.alias("10.1.1.10").replace(".", "-")
    other = p.alias("10.1.1.100").replace(".", "-")
    assert out[0] == f"connect {p.alias('10.1.1.10')} via ip-{dashed} and node-{other}"
    # an address seen only with dashes or encoded dots is found and replaced in every spelling
    ip = p.alias("10.77.1.25")
    assert ip is not None and ip != p.alias("10.1.1.10")
    fqdn = p.alias("esx-10-77-1-25.corp.example.net")  # an FQDN under a domain seen nowhere else
    assert fqdn == f"{p.alias('esx-10-77-1-25')}.{p.alias('corp.example.net')}"
    assert out[1].startswith(f"{fqdn} ") and "10-77" not in out[1] and "example" not in out[1]
    assert f"ip={ip.replace('.', '%2E')}&h={p.alias('10.1.1.10').replace('.', '%2E')} " in out[1]


def test_ipv6_addresses_are_aliased_in_any_spelling() -> None:
    lines = ["from fe80::250:56ff:fe9a:1 and FE80:0:0:0:250:56ff:fe9a:1 and [2001:db8:1::5]:443"]
    p, out = pseudonymize(lines)
    assert "fe80" not in out[0].lower() and "2001:db8:1::5" not in out[0]
    assert p.alias("fe80::250:56ff:fe9a:1") == p.alias("FE80:0:0:0:250:56ff:fe9a:1")


label = st.from_regex(r"[a-z][a-z0-9-]{1,8}[a-z0-9]", fullmatch=True)
octet = st.integers(1, 254)


@settings(max_examples=60, deadline=None)
@given(
    short=label,
    domain=st.lists(label, min_size=1, max_size=2).map(lambda ls: ".".join([*ls, "example", "com"])),
    # unicast, not loopback: multicast and loopback addresses are kept by design
    ip=st.tuples(st.integers(1, 223).filter(lambda o: o != 127), octet, octet, octet).map(
        lambda t: ".".join(map(str, t))
    ),
    user=label,
)
def test_no_planted_identifier_survives(short: str, domain: str, ip: str, user: str) -> None:
    fqdn = f"{short}.{domain}"
    lines = [
        f"2026-03-14T10:00:01.000Z info hostd[1] [Originator@6876 sub=X user=vpxuser:CORP\\{user}] on {fqdn}",
        f"--> VasaSession::GetFreeConn: No free connections to VP vp1 (url: https://{ip}:8084/vasa)",
        f"esx-{short.upper()}-2026-03-14--10.30-1.tgz!commands/x.txt {user}@{domain}",
    ]
    _, out = pseudonymize(lines, hosts=(fqdn,))
    text = "\n".join(out)
    # words the aliases themselves are made of, and built-in accounts that are kept on purpose
    assume(not {short, user, *domain.split(".")} & {"host", "dom", "invalid", "ad", "vp", "vm"})
    for original in (fqdn, short, ip, user, domain):
        if original.lower() in KEEP_USERS or original.lower().startswith(KEEP_USER_PREFIXES):
            continue
        assert not re.search(rf"(?i)(?<![A-Za-z0-9]){re.escape(original)}(?![A-Za-z0-9])", text), (
            original,
            text,
        )


# -- excerpts ---------------------------------------------------------------------------------

T0 = datetime(2026, 3, 14, 10, 0, tzinfo=UTC)


def log(minutes: list[float], marks: dict[float, str] | None = None) -> bytes:
    marks = marks or {}
    out = []
    for m in minutes:
        ts = (T0 + timedelta(minutes=m)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        out.append(f"{ts} info vvold[1] [Originator@6876 sub=Default]")
        out.append(f"--> {marks.get(m, 'VasaOp::EventPollerCB [#1]: ===> FINAL SUCCESS getEvents')}")
    return ("\n".join(out) + "\n").encode()


def cut(data: bytes, anchors: list[Anchor], inline: bool = False, tail: bool = False, minutes: float = 2):
    ef = from_bytes("b.tgz!var/run/log/vvold.log", data, host="esx-03.corp.example.com")
    return cut_windows(ef, anchors, timedelta(minutes=minutes), inline=inline, tail_if_empty=tail)


def test_windows_merge_close_failures_and_keep_line_numbers() -> None:
    data = log([float(m) for m in range(30)])
    anchors = [Anchor(T0 + timedelta(minutes=m), f"task-{m}") for m in (10, 11, 20)]
    got, dropped = cut(data, anchors)
    assert dropped == 0 and len(got) == 2
    first, second = got
    assert first.anchors == ["task-10", "task-11"] and second.anchors == ["task-20"]
    assert (first.first_line, first.last_line) == (2 * 8 + 1, 2 * 13 + 2)  # minutes 8..13, 2 lines each
    lines = data.decode().splitlines()
    assert all(lines[n - 1] == text for n, text in first.lines)
    rendered = first.render()
    assert "# source: b.tgz!var/run/log/vvold.log" in rendered and f"\n{first.first_line}:" in rendered


def test_anchor_host_filter_gap_and_after_the_end() -> None:
    data = log([0, 1, 2, 30])  # a gap between minute 2 and 30
    other_host = Anchor(T0 + timedelta(minutes=1), "elsewhere", frozenset({"esx-09"}))
    in_gap = Anchor(T0 + timedelta(minutes=3), "in the gap")
    after_end = Anchor(T0 + timedelta(minutes=31), "after the end")
    got, _ = cut(data, [other_host, in_gap, after_end])
    assert [g.anchors for g in got] == [["in the gap"], ["after the end"]]
    assert [text[:16] for _, text in got[0].lines if text[0] == "2"] == [
        "2026-03-14T10:01",
        "2026-03-14T10:02",
    ]
    assert [text[:16] for _, text in got[1].lines if text[0] == "2"] == ["2026-03-14T10:30"]


def test_inline_failure_signals_anchor_windows_and_tail_when_nothing_failed() -> None:
    data = log([float(m) for m in range(20)], {7.0: "VasaSession::GetFreeConn: No free connections to VP x"})
    got, _ = cut(data, [], inline=True, tail=True)
    assert len(got) == 1 and not got[0].tail and got[0].anchor_count == 1
    assert got[0].anchors[0].startswith("line 16: ")
    quiet, _ = cut(log([float(m) for m in range(5)]), [], inline=True, tail=True)
    assert len(quiet) == 1 and quiet[0].tail and quiet[0].last_line == 10


def test_window_caps_bound_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(excerpts_mod, "MAX_AFTER", 5)
    monkeypatch.setattr(excerpts_mod, "MAX_BEFORE", 3)
    data = log([m / 10 for m in range(100)])
    got, _ = cut(data, [Anchor(T0 + timedelta(minutes=5), "x")])
    assert len(got[0].lines) == 3 + 5 and got[0].cut > 0
    assert "left out (cap per window)" in got[0].render()
