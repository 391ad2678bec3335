"""--redact: no original host name, address, user name or secret anywhere in the archive, and the
diagnosis inside names the same aliases as the excerpts and the copied command outputs."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import stat
import tarfile
import zipfile
from pathlib import Path

import jsonschema
import pytest
from escalate_incident import (
    DEST,
    IDENTIFIERS,
    NETBIOS,
    NOW,
    OTHER_FQDN,
    PLANTED_ADDRESSES,
    PLANTED_USERS,
    SECRETS,
    SERVICE_USER,
    SOURCE,
    SSO_ADMIN,
    VP,
    VP_IP,
    add_bad_inputs,
    add_provider_export,
    tasks,
    write_incident,
)

from vvolguard.escalate.manifest_schema import MANIFEST_SCHEMA
from vvolguard.escalate.package import build_package
from vvolguard.sim.evidence import vcenter as sim_vcenter


def members(path: Path) -> dict[str, bytes]:
    """Every member, with nested gzip members decompressed as well (name + '|gunzip')."""
    out: dict[str, bytes] = {}
    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                out[info.filename] = z.read(info)
                out[info.filename + "|comment"] = info.comment
    else:
        with tarfile.open(path, "r:gz") as t:
            for m in t.getmembers():
                out[m.name + "|header"] = f"{m.uname} {m.gname} {m.linkname} {m.pax_headers}".encode()
                if m.isfile():
                    stream = t.extractfile(m)
                    assert stream is not None
                    out[m.name] = stream.read()
        out["|whole tar stream"] = gzip.decompress(path.read_bytes())
    for name, data in list(out.items()):
        if data[:2] == b"\x1f\x8b":
            out[name + "|gunzip"] = gzip.decompress(data)
    return out


def alias_of(mapping: dict, original: str) -> str:
    for per_category in mapping["aliases"].values():
        for key, alias in per_category.items():
            if key.lower() == original.lower():
                return alias
    raise AssertionError(f"{original} has no alias in {mapping}")


@pytest.fixture
def evidence(tmp_path: Path) -> list[Path]:
    written = write_incident(tmp_path)
    get_task = written.root / "get-task.json"
    get_task.write_text(sim_vcenter.get_task_json(tasks()))
    written.extras.append(get_task)
    add_provider_export(written)
    add_bad_inputs(written)  # esx-03-vvold.0.gz: the host's short name in a file name
    return written.paths


@pytest.mark.parametrize("suffix", [".zip", ".tar.gz"])
def test_no_original_identifier_or_secret_survives(evidence: list[Path], tmp_path: Path, suffix: str) -> None:
    before = {p: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in evidence}
    out = tmp_path / f"case{suffix}"

    result = build_package(evidence, out, redact=True, now=NOW)

    assert {p: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in evidence} == before
    files = members(out)
    assert len(files) > 20
    # every member (nested gzip decompressed), for every user form, address, host and provider name
    forbidden = [*IDENTIFIERS, *SECRETS, NETBIOS, *PLANTED_USERS, *PLANTED_ADDRESSES, VP]
    leaks = []
    for name, data in files.items():
        lines = [name, *data.decode("utf-8", "replace").splitlines()]
        for number, line in enumerate(lines):
            for word in forbidden:
                if word.lower() in line.lower():
                    leaks.append(f"{name}:{number}: {word!r} in {line[:160]!r}")
    assert not leaks, "\n".join(leaks[:20])

    # the mapping stays with the user: next to the archive, private, and not inside it
    assert result.mapping == tmp_path / f"case{suffix}.redaction-map.json"
    assert stat.S_IMODE(result.mapping.stat().st_mode) == 0o600
    mapping = json.loads(result.mapping.read_text())
    assert not any("redaction-map" in name for name in files)
    assert not any(b"vvolguard.redaction-map" in data for data in files.values())
    aliases = [a for per in mapping["aliases"].values() for a in per.values()]
    assert all(not any(w.lower() in a.lower() for w in forbidden) for a in aliases)
    # the mapping has a user section with every planted user, and names the provider a provider
    assert {"Administrator", SERVICE_USER, "esxadmin7", "opslocal3", "kim.lee"} <= set(
        mapping["aliases"]["user"]
    )
    assert re.fullmatch(r"vp-\d\d", mapping["aliases"]["provider"][VP])
    assert VP not in mapping["aliases"]["host"]


def test_diagnosis_names_the_same_aliases_as_the_excerpts(evidence: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "case.zip"
    result = build_package(evidence, out, redact=True, now=NOW)
    mapping = json.loads(result.mapping.read_text())
    src, dst, ip = alias_of(mapping, SOURCE), alias_of(mapping, DEST), alias_of(mapping, VP_IP)
    user, domain = alias_of(mapping, SERVICE_USER), alias_of(mapping, NETBIOS)
    assert re.fullmatch(r"host-\d\d\.dom-\d\d\.invalid", src) and src != dst
    assert re.fullmatch(r"192\.0\.2\.\d+", ip)
    files = {n.split("/", 1)[1]: d.decode() for n, d in members(out).items() if "|" not in n}

    diagnosis = json.loads(files["diagnosis/diagnosis.json"])
    failed = diagnosis["migrations"]["failed"]
    assert failed and {(f["source"], f["destination"]) for f in failed if f["source"]} == {(src, dst)}
    assert src in diagnosis["hosts"] and dst in diagnosis["hosts"]
    urls = {p["url"] for p in diagnosis["providers"] if p["url"]}
    assert urls == {f"https://{ip}:8084/vasa/version.xml"}
    cited = {c["file"] for f in diagnosis["findings"] for c in f["citations"]}
    assert any(c.startswith(f"esx-{src}-2026-03-14--10.30-") for c in cited), cited  # the bundle name
    assert src in files["diagnosis/summary.md"]

    excerpt_names = [n for n in files if n.startswith(f"excerpts/{src}/vvold/")]
    assert excerpt_names, sorted(files)
    excerpt = files[excerpt_names[0]]
    assert f"# host: {src}" in excerpt
    assert f"{src} -> {dst}" in excerpt  # the failed task that anchors the window
    assert f"(url: https://{ip}:8084/vasa/version.xml)" in excerpt
    hostd = next(d for n, d in files.items() if n.startswith(f"excerpts/{src}/hostd/hostd.log--"))
    assert f"user=vpxuser:{domain}\\{user}]" in hostd
    assert "session=<redacted>" in hostd and "password=<redacted>" in hostd
    assert f"hosts/{src}/commands/localcli_storage-vvol-vasaprovider-list.txt" in files
    assert (
        f"URL: https://{ip}:8084"
        in files[f"hosts/{src}/commands/localcli_storage-vvol-vasaprovider-list.txt"]
    )

    manifest = json.loads(files["manifest.json"])
    jsonschema.validate(manifest, MANIFEST_SCHEMA)
    pe = next(i for i in manifest["items"] if i["id"] == "esxcli-protocolendpoint")
    assert pe["status"] == "partial"
    assert [m["host"] for m in pe["missing"]] == [alias_of(mapping, "esx-05.corp.example.com")]
    assert manifest["redaction"]["pseudonymised"] is True
    # the certificate ships as a summary with the aliases, never as the PEM (names inside base64)
    assert not any(n.endswith(".pem") for n in files)
    summary = next(d for n, d in files.items() if n.endswith(".summary.txt"))
    assert f"dns_names: {alias_of(mapping, 'pure-ct0.corp.example.com')}" in summary
    assert f"ip_addresses: {ip}" in summary


def test_custom_mapping_path_and_vm_names(evidence: list[Path], tmp_path: Path) -> None:
    keep = tmp_path / "private" / "map.json"
    result = build_package(
        evidence, tmp_path / "case.tgz", redact=True, mapping=keep, redact_vm_names=True, now=NOW
    )
    assert result.mapping == keep and keep.exists()
    assert not (tmp_path / "case.tgz.redaction-map.json").exists()
    mapping = json.loads(keep.read_text())
    assert alias_of(mapping, "app-02").startswith("vm-")
    blob = b"\n".join(name.encode() + b"\n" + data for name, data in members(tmp_path / "case.tgz").items())
    for vm in (f"app-{i:02d}" for i in range(8)):  # failed and successful migrations alike
        assert vm.encode() not in blob, vm


def test_aliases_are_consistent_across_members(evidence: list[Path], tmp_path: Path) -> None:
    """One original, one alias: the same alias in the excerpts (a nested gzip generation
    included), the copied esxcli outputs, the diagnosis JSON and Markdown, the manifest and the README."""
    out = tmp_path / "case.tar.gz"
    result = build_package(evidence, out, redact=True, now=NOW)
    mapping = json.loads(result.mapping.read_text())
    files = {n.split("/", 1)[1]: d.decode() for n, d in members(out).items() if "|" not in n}
    src, vp, admin = alias_of(mapping, SOURCE), alias_of(mapping, VP), alias_of(mapping, SSO_ADMIN)
    sso = alias_of(mapping, "vsphere.local")
    rotated = next(d for n, d in files.items() if n.startswith(f"excerpts/{src}/hostd/hostd.0--"))
    assert f"user=vpxuser:{sso}\\{admin}]" in rotated  # DOMAIN\user in a hostd user= field
    assert f"Session created for {admin}@{sso} and " in rotated  # the UPN form
    assert f"vMotion peer {alias_of(mapping, OTHER_FQDN)} via esx-" in rotated
    dashed = alias_of(mapping, "10.77.1.25").replace(".", "-")
    assert f"via esx-{dashed} (PTR ip-{dashed}.in-addr)" in rotated
    assert f"target={alias_of(mapping, '10.77.1.26').replace('.', '%2E')}&" in rotated
    assert f"from {alias_of(mapping, 'fd00:77::25')}" in rotated
    vvold = next(d for n, d in files.items() if n.startswith(f"excerpts/{src}/vvold/"))
    assert f"No free connections to VP {vp} (url: https://{alias_of(mapping, VP_IP)}:8084" in vvold
    diagnosis = json.loads(files["diagnosis/diagnosis.json"])
    assert {p["name"] for p in diagnosis["providers"] if p["url"]} == {vp}
    for name in ("diagnosis/diagnosis.json", "diagnosis/summary.md", "manifest.json", "README.txt"):
        assert src in files[name], name
    assert vp in files["diagnosis/summary.md"]
    # no alias stands for two originals
    aliases = [a for per in mapping["aliases"].values() for a in per.values()]
    assert len(set(aliases)) == len(aliases), mapping["aliases"]
