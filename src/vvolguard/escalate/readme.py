"""README.txt: the page the vendor's support engineer reads first.

Plain text, not Markdown, because it is opened in whatever viewer a ticket attachment lands in.
It says what the incident looks like, what is in the archive and where, what is missing and why,
and how to read the excerpts; the manifest.json says the same for tools.
"""

from __future__ import annotations

from typing import Any

from vvolguard.analysis.model import Diagnosis

_STATUS_MARK = {"present": "[x]", "partial": "[~]", "missing": "[ ]"}
FAILED_LISTED = 30


def render_readme(manifest: dict[str, Any], diagnosis: Diagnosis | None) -> str:
    out: list[str] = [
        "vvolguard escalation package",
        "============================",
        "",
        "Evidence for a vSphere vVol migration failure, gathered for the storage vendor along the",
        "runbook's escalation list (VASA provider control plane: KB 318662 and related).",
        f"Built {manifest['created']} by {manifest['tool']}.",
        "",
    ]
    if diagnosis is not None:
        v = diagnosis.verdict
        out += [
            "Diagnosis",
            "---------",
            f"Verdict: {v.cls} (confidence {v.confidence:.0%})",
            v.summary,
            "Full diagnosis: diagnosis/diagnosis.json (schema vvolguard.diagnosis/v1)",
            "and diagnosis/summary.md",
            "",
        ]
        failed = diagnosis.migrations.failed
        if failed:
            out += ["Failed migrations", "-----------------"]
            out.append("task | time (UTC) | VM | source -> destination | datastore | error")
            for f in failed[:FAILED_LISTED]:
                when = f.time.isoformat(timespec="seconds").replace("+00:00", "Z") if f.time else "?"
                out.append(
                    f"{f.task_id or '?'} | {when} | {f.vm or '?'} | {f.source or '?'} -> "
                    f"{f.destination or '?'} | {f.datastore or '?'} | {f.error or ''}"
                )
            if len(failed) > FAILED_LISTED:
                out.append(f"... and {len(failed) - FAILED_LISTED} more (diagnosis.json: migrations.failed)")
            out.append("")
    out += ["Escalation checklist ([x] present, [~] partial, [ ] missing)", "-" * 61]
    for item in manifest["items"]:
        out.append(f"{_STATUS_MARK.get(item['status'], '[?]')} {item['title']}")
        for detail in item["details"]:
            out.append(f"      {detail}")
        for path in item["files"][:10]:
            out.append(f"      file: {path}")
        if len(item["files"]) > 10:
            out.append(f"      ... {len(item['files']) - 10} more files (manifest.json)")
        for missing in item["missing"]:
            out.append(f"      missing: {missing['what']}")
            out.append(f"        collect: {missing['command']}")
    if manifest.get("diagnosis_suggests"):
        out += ["", "The diagnosis would also be settled faster with:"]
        for m in manifest["diagnosis_suggests"]:
            out += [f"- {m['artifact']}: {m['why']}", f"    collect: {m['command']}"]
    out += [
        "",
        "Layout",
        "------",
        "manifest.json            this checklist, every file and every warning, for tools",
        "diagnosis/               vvolguard's diagnosis as JSON and as a Markdown summary",
        "excerpts/<host>/         log windows around each failure (vvold, and hostd/vmkernel when given)",
        "hosts/<host>/            esxcli storage vvol outputs of each host (text and JSON twins)",
        "vcenter/                 vCenter task and event exports",
        "providers/               Get-VasaProvider exports and provider certificates",
        "vendor/                  provider appliance and array files the sender added",
        "",
        "Excerpts: each file starts with '#' lines naming the source file (an archive member",
        f"after '!'), the window (+/- {manifest['excerpt_window_minutes']:g} min around each failure) and",
        "the failures it covers; every other line is '<line number in the source file>:<line>'.",
        "",
    ]
    redaction = manifest["redaction"]
    # No "Secrets: ..." label: the secret stripper would take the list for a secret value.
    out += ["Privacy", "-------", f"Always removed, with or without pseudonyms: {redaction['secrets']}."]
    if redaction["pseudonymised"]:
        out += [
            "Host names, domains, IP addresses, user names and provider names are replaced by aliases",
            "(host-01, dom-01.invalid, 192.0.2.x, user-01, ad-01, vp-01), the same alias in every file.",
            "The sender keeps the mapping; ask them to translate an alias when you need the real name.",
            "Every user name is replaced, built-in SSO accounts and their domain included; kept as they",
            "are: the ESXi built-in accounts root, vpxuser and dcui (the same on every host), array IDs,",
            "datastore names and, unless the sender asked otherwise, VM names.",
        ]
    else:
        out.append("Names and addresses are as in the original evidence (not pseudonymised).")
    if manifest["warnings"] or manifest["not_included"]:
        out += ["", "Inputs not included, or read only in part", "-----------------------------------------"]
        out += [f"- {w}" for w in manifest["warnings"][:50]]
        out += [f"- {s['input']}: not included ({s['why']})" for s in manifest["not_included"][:50]]
    return "\n".join(out) + "\n"
