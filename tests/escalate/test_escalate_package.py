"""The escalation package built from real .tgz support bundles: manifest, layout, inputs untouched.

The incident (``escalate_incident.py``) is written by the simulator's evidence writers: three hosts
in both ESXi log shapes, one of them without its protocol endpoint output, plus vCenter exports
and the provider's certificate.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import jsonschema
import pytest
from escalate_incident import (
    DEST,
    NOW,
    OTHER,
    PASSWORD,
    SECRETS,
    SOURCE,
    VP_IP,
    Written,
    add_bad_inputs,
    add_provider_export,
    add_vendor_files,
    write_incident,
)

from vvolguard.escalate.manifest_schema import MANIFEST_SCHEMA
from vvolguard.escalate.package import EscalateError, build_package
from vvolguard.escalate.secrets import strip_line


def read_archive(path: Path) -> dict[str, bytes]:
    """Every member of a .zip or .tar.gz, by name."""
    out: dict[str, bytes] = {}
    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                out[name] = z.read(name)
    else:
        with tarfile.open(path, "r:gz") as t:
            for m in t.getmembers():
                if m.isfile():
                    stream = t.extractfile(m)
                    assert stream is not None
                    out[m.name] = stream.read()
    return out


def member(files: dict[str, bytes], suffix: str) -> bytes:
    hits = [name for name in files if name.endswith(suffix)]
    assert len(hits) == 1, (suffix, sorted(files))
    return files[hits[0]]


def items(manifest: dict) -> dict[str, dict]:
    return {item["id"]: item for item in manifest["items"]}


def fingerprint(paths: list[Path]) -> dict[Path, tuple[str, int]]:
    return {p: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in paths}


@pytest.fixture
def incident(tmp_path: Path) -> Written:
    written = write_incident(tmp_path)
    # The Get-Task JSON (task IDs) and the events (hosts) rather than the grid CSV, which has no IDs.
    written.tasks_csv.unlink()
    tasks = written.root / "get-task.json"
    from escalate_incident import tasks as task_rows

    from vvolguard.sim.evidence import vcenter as sim_vcenter

    tasks.write_text(sim_vcenter.get_task_json(task_rows()))
    written.tasks_csv = tasks
    return written


def test_manifest_marks_runbook_items_and_names_the_missing_host(incident: Written, tmp_path: Path) -> None:
    before = fingerprint(incident.paths)
    out = tmp_path / "case.zip"

    result = build_package(incident.paths, out, now=NOW)

    assert fingerprint(incident.paths) == before, "inputs must not be modified"
    files = read_archive(out)
    manifest = json.loads(member(files, "/manifest.json"))
    assert manifest == result.manifest
    jsonschema.validate(manifest, MANIFEST_SCHEMA)
    got = items(manifest)
    assert [i["id"] for i in manifest["items"]][:10] == [
        "vcenter-tasks", "hosts", "vms-datastores", "vvold-excerpts", "esxcli-vasaprovider",
        "esxcli-protocolendpoint", "provider-version", "array-firmware", "provider-appliance-metrics",
        "array-performance",
    ]  # fmt: skip
    assert all(i["runbook"] for i in manifest["items"][:10])
    for present in ("vcenter-tasks", "hosts", "vms-datastores", "vvold-excerpts", "esxcli-vasaprovider"):
        assert got[present]["status"] == "present", got[present]
    assert got["provider-certificates"]["status"] == "present"
    assert got["diagnosis"]["status"] == "present"

    pe = got["esxcli-protocolendpoint"]
    assert pe["status"] == "partial"
    assert [m["host"] for m in pe["missing"]] == [OTHER]
    assert "esxcli storage vvol protocolendpoint list" in pe["missing"][0]["command"]
    assert any(f"hosts/{SOURCE}/commands/" in f for f in pe["files"])
    assert not any(OTHER in f for f in pe["files"])

    for missing in ("provider-version", "array-firmware", "provider-appliance-metrics", "array-performance"):
        assert got[missing]["status"] == "missing", got[missing]
        assert got[missing]["missing"] and all(m["command"] for m in got[missing]["missing"])
    assert "Get-VasaProvider" in got["provider-version"]["missing"][0]["command"]
    assert "com.purestorage:2dcf29ad" in " ".join(got["array-firmware"]["details"])
    # the collect commands carry the incident window taken from the evidence
    assert "2026-03-14T10:0" in got["array-performance"]["missing"][0]["command"]

    # every file the manifest names is in the archive, and the other way round
    root = next(iter(files)).split("/", 1)[0]
    listed = {f["path"] for f in manifest["files"]} | {"manifest.json", "README.txt"}
    listed |= {"diagnosis/diagnosis.json", "diagnosis/summary.md"}
    assert {name.split("/", 1)[1] for name in files} == listed
    assert all(name.startswith(root + "/") for name in files)

    readme = member(files, "/README.txt").decode()
    assert "[~] esxcli storage vvol protocolendpoint list output" in readme
    assert f"on {OTHER}: esxcli storage vvol protocolendpoint list" in readme
    assert "[ ] VASA provider version" in readme
    assert "Always removed, with or without pseudonyms: passwords, session ids" in readme


def test_excerpts_cite_file_and_line_around_the_failures(incident: Written, tmp_path: Path) -> None:
    out = tmp_path / "case.tar.gz"
    build_package(incident.paths, out, now=NOW, window_minutes=2)
    files = read_archive(out)
    excerpts = {n: d.decode() for n, d in files.items() if "/excerpts/" in n and "/vvold/" in n}
    source = [text for name, text in excerpts.items() if f"/excerpts/{SOURCE}/" in name]
    assert len(source) == 1
    text = source[0]
    header = [line for line in text.splitlines() if line.startswith("#")]
    body = [line for line in text.splitlines() if not line.startswith("#")]
    sources = [line for line in header if line.startswith("# source: ")]
    assert len(sources) == 1 and sources[0].endswith("/var/run/log/vvold.log")
    assert sources[0].startswith(f"# source: {incident.bundles[0].name}!")
    assert "# window: 2026-03-14T09:59:" in text and "(+/- 2 min around each failure)" in text
    assert any("task-4102" in line for line in header)
    # line numbers are those of the original file inside the bundle
    bundle = incident.bundles[0]
    with tarfile.open(bundle) as t:
        name = next(n for n in t.getnames() if n.endswith("var/run/log/vvold.log"))
        stream = t.extractfile(name)
        assert stream is not None
        original = stream.read().decode().splitlines()
    for line in body:
        number, _, rest = line.partition(":")
        assert strip_line(original[int(number) - 1]) == rest  # the line itself, minus secrets
    assert any("No free connections to VP" in line for line in body)
    numbers = [int(line.split(":", 1)[0]) for line in body]
    assert numbers == sorted(numbers) and numbers[-1] - numbers[0] + 1 == len(numbers)
    # the window is +/- 2 minutes around the failures (10:01:19 .. 10:01:27)
    stamps = [line.split(":", 1)[1][:19] for line in body if line.split(":", 1)[1][:2] == "20"]
    assert min(stamps) >= "2026-03-14T09:59:19" and max(stamps) <= "2026-03-14T10:03:27"


def test_secrets_are_stripped_even_without_redaction(incident: Written, tmp_path: Path) -> None:
    out = tmp_path / "case.zip"
    build_package(incident.paths, out, now=NOW)
    blob = b"\n".join(name.encode() + b"\n" + data for name, data in read_archive(out).items())
    for secret in SECRETS:
        assert secret.encode() not in blob, secret
    assert b"session=<redacted>" in blob
    # without --redact the names stay, so the admin can read their own package
    assert SOURCE.encode() in blob and VP_IP.encode() in blob


def test_extra_files_fill_the_vendor_items(incident: Written, tmp_path: Path) -> None:
    add_provider_export(incident)
    add_vendor_files(incident)
    result = build_package(incident.paths, tmp_path / "case.tgz", now=NOW)
    got = items(result.manifest)
    for item in ("provider-version", "array-firmware", "provider-appliance-metrics", "array-performance"):
        assert got[item]["status"] == "present", got[item]
        assert got[item]["files"], got[item]
    assert "pure-ct0: version 2.0.1" in got["provider-version"]["details"]
    assert got["provider-appliance-metrics"]["files"] == ["vendor/vasa-appliance-metrics.csv"]
    assert got["array-performance"]["files"] == ["vendor/array-perf-export.csv"]


def test_tasks_without_bundles_list_per_host_commands(incident: Written, tmp_path: Path) -> None:
    result = build_package([incident.tasks_csv, incident.events], tmp_path / "case.zip", now=NOW)
    got = items(result.manifest)
    assert got["vcenter-tasks"]["status"] == "present"
    for item, command in (
        ("vvold-excerpts", "/var/run/log/vvold.log"),
        ("esxcli-vasaprovider", "esxcli storage vvol vasaprovider list"),
        ("esxcli-protocolendpoint", "esxcli storage vvol protocolendpoint list"),
    ):
        assert got[item]["status"] == "missing"
        assert {m["host"] for m in got[item]["missing"]} == {SOURCE, DEST}
        assert all(command in m["command"] for m in got[item]["missing"])
    assert got["provider-certificates"]["status"] == "missing"
    # the diagnosis' own list of what would settle it travels along
    suggested = result.manifest["diagnosis_suggests"]
    assert suggested and all(m["artifact"] and m["command"] for m in suggested)


def test_bad_and_partial_inputs_still_give_a_package(incident: Written, tmp_path: Path) -> None:
    junk, truncated = add_bad_inputs(incident)
    # a bundle cut in half on top
    cut = incident.root / "esx-esx-09.corp.example.com-2026-03-14--10.30-3000009.tgz"
    whole = incident.bundles[1].read_bytes()
    cut.write_bytes(whole[: len(whole) // 2])
    incident.extras.append(cut)
    before = fingerprint(incident.paths)

    result = build_package(incident.paths, tmp_path / "case.zip", now=NOW)

    assert fingerprint(incident.paths) == before
    manifest = result.manifest
    assert {"input": junk.name, "why": "binary or unreadable content"} in manifest["not_included"]
    assert any(w.startswith(truncated.name) and "truncated" in w for w in manifest["warnings"]), manifest[
        "warnings"
    ]
    assert any(cut.name in w for w in manifest["warnings"]), manifest["warnings"]
    # the readable part of the truncated vvold log still gave an excerpt
    assert any(f["source"] == truncated.name for f in manifest["files"])
    files = read_archive(tmp_path / "case.zip")
    readme = member(files, "/README.txt").decode()
    assert junk.name in readme and truncated.name in readme
    assert PASSWORD.encode() not in b"".join(files.values())


def test_only_junk_still_gives_a_package_with_every_item_missing(tmp_path: Path) -> None:
    junk = tmp_path / "in" / "junk.bin"
    junk.parent.mkdir()
    junk.write_bytes(bytes(range(256)) * 8)
    result = build_package([junk, tmp_path / "in" / "nope.log"], tmp_path / "case.zip", now=NOW)
    statuses = {i["id"]: i["status"] for i in result.manifest["items"]}
    assert all(s == "missing" for k, s in statuses.items() if k != "diagnosis"), statuses
    assert "insufficient-evidence" in items(result.manifest)["diagnosis"]["details"][0]
    assert any("nope.log" in w and "no such file" in w for w in result.manifest["warnings"])
    files = read_archive(tmp_path / "case.zip")
    assert any(n.endswith("/manifest.json") for n in files)


def test_refuses_to_overwrite_inputs_or_write_inside_them(incident: Written, tmp_path: Path) -> None:
    before = fingerprint(incident.paths)
    target = incident.root / "copy.zip"
    with pytest.raises(EscalateError, match="inside the evidence folder"):
        build_package([incident.root], target, now=NOW)
    fake = tmp_path / "evidence.tgz"
    fake.write_bytes(incident.bundles[0].read_bytes())
    with pytest.raises(EscalateError, match="overwrite an input"):
        build_package([fake], fake, now=NOW, overwrite=True)
    with pytest.raises(EscalateError, match=r"\.zip, \.tar\.gz or \.tgz"):
        build_package(incident.paths, tmp_path / "case.rar", now=NOW)
    existing = tmp_path / "case.zip"
    existing.write_bytes(b"keep me")
    with pytest.raises(EscalateError, match="exists"):
        build_package(incident.paths, existing, now=NOW)
    assert existing.read_bytes() == b"keep me"
    assert fingerprint(incident.paths) == before
    assert fake.read_bytes() == incident.bundles[0].read_bytes()
    assert not target.exists()
    assert not list(tmp_path.glob(".vvolguard-*.partial"))


def test_tar_members_carry_no_local_user(incident: Written, tmp_path: Path) -> None:
    out = tmp_path / "case.tar.gz"
    build_package(incident.paths, out, now=NOW)
    raw = out.read_bytes()
    assert raw[3] & 0x08 == 0, "the gzip header must not carry a file name"
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as t:
        for m in t.getmembers():
            assert (m.uid, m.gid, m.uname, m.gname) == (0, 0, "", "")


def test_a_failing_diagnosis_still_gives_the_evidence_package(
    incident: Written, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vvolguard.pipeline

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("analysis bug")

    monkeypatch.setattr(vvolguard.pipeline, "diagnose", broken)
    result = build_package(incident.paths, tmp_path / "case.zip", now=NOW)
    jsonschema.validate(result.manifest, MANIFEST_SCHEMA)
    got = items(result.manifest)
    assert got["diagnosis"]["status"] == "missing"
    assert "vvolguard diagnose" in got["diagnosis"]["missing"][0]["command"]
    assert any("diagnosis failed (RuntimeError: analysis bug)" in w for w in result.warnings)
    assert got["esxcli-vasaprovider"]["status"] == "present"
    # without failed tasks, vvold's own failure signals anchor the windows
    assert got["vvold-excerpts"]["status"] == "present"
    files = read_archive(tmp_path / "case.zip")
    assert not any("/diagnosis/" in n for n in files)


def test_same_inputs_give_the_same_archive_bytes(incident: Written, tmp_path: Path) -> None:
    for suffix in (".zip", ".tar.gz"):
        first, second = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
        build_package(incident.paths, first, now=NOW, redact=True)
        build_package(incident.paths, second, now=NOW, redact=True)
        assert first.read_bytes() == second.read_bytes()
        assert (tmp_path / f"a{suffix}.redaction-map.json").read_text().replace(first.name, "") == (
            tmp_path / f"b{suffix}.redaction-map.json"
        ).read_text().replace(second.name, "")


def test_a_log_that_misses_the_failure_time_is_named_with_the_older_generations(
    incident: Written, tmp_path: Path
) -> None:
    from escalate_incident import Host, at

    from vvolguard.sim.evidence.bundle import write_bundle

    # the destination's bundle only holds a vvold.log that starts an hour after the failures
    incident.bundles[1].unlink()
    late = Host(DEST, "esxi8", 2255518)
    late.polling(3600, 4200)
    _, tgz = write_bundle(
        tmp_path, DEST, at(4300), 3_000_001, late.files(), folder=False, tgz_dir=incident.root
    )
    assert tgz is not None
    incident.bundles[1] = tgz

    result = build_package(incident.paths, tmp_path / "case.zip", now=NOW)

    vvold = items(result.manifest)["vvold-excerpts"]
    assert vvold["status"] == "partial"
    assert [m["host"] for m in vvold["missing"]] == [DEST]
    assert "hold no failure time" in vvold["missing"][0]["what"]
    assert "vvold.0.gz" in vvold["missing"][0]["command"]
    # the quiet third host is not asked for: no failure involved it
    assert not any(m.get("host") == OTHER for m in vvold["missing"])


def test_an_extracted_bundle_folder_gives_the_same_layout(incident: Written, tmp_path: Path) -> None:
    folder = tmp_path / "unpacked"
    with tarfile.open(incident.bundles[0]) as t:
        t.extractall(folder, filter="data")
    result = build_package([folder, incident.events], tmp_path / "case.zip", now=NOW)
    paths = {f["path"] for f in result.manifest["files"]}
    assert f"hosts/{SOURCE}/commands/localcli_storage-vvol-vasaprovider-list.txt" in paths
    assert f"hosts/{SOURCE}/json/localcli_storage-vvol-vasaprovider-list.json" in paths
    sources = {f["source"] for f in result.manifest["files"]}
    # the user's own folders above what they named are not in the package
    assert all(s.startswith("unpacked/") for s in sources if "vvold" in s), sources
    assert not any(str(tmp_path) in s for s in sources)
