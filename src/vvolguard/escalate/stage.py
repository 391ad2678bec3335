"""Stage what the package needs from each input, streaming, with secrets stripped on the way in.

Why a staging folder: the archive is written only once everything is known (the manifest judges
what was staged; pseudonymisation needs every identifier before rewriting the first file), yet
logs are too big to hold. So each input is read once, and only what the package keeps (log
windows, small structured files, certificate summaries) lands on disk, already free of secrets.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path, PurePosixPath

from vvolguard.escalate.classify import LOGS, Part, classify, is_binary
from vvolguard.escalate.excerpts import Anchor, Excerpt, cut_windows
from vvolguard.escalate.manifest import Inventory, PackagedFile
from vvolguard.escalate.names import printable, safe_component
from vvolguard.escalate.secrets import SecretStripper, strip_lines
from vvolguard.escalate.stream import LINE_KEEP, LineStats, text_blocks
from vvolguard.evidence.collect import Collector
from vvolguard.evidence.source import EvidenceFile, Limits

#: Largest structured file copied whole (characters); bigger ones are cut with a note (they are
#: never logs, and the vendor needs their head, not gigabytes).
COPY_LIMIT = 32 * 1024 * 1024
_ROTATED = re.compile(r"\.\d+$")


class PathNamer:
    """Shortens the user's paths to what follows the folder they named.

    The vendor needs ``esx-03-...tgz!var/run/log/vvold.log``, not ``/home/jdoe/case-4711/...``:
    local paths say nothing about the incident and may name the sender.
    """

    def __init__(self, inputs: list[Path]) -> None:
        prefixes: set[str] = set()
        for p in inputs:
            for form in (p, p.resolve() if p.exists() else p):
                parent = str(form.parent)
                if parent not in (".", ""):
                    prefixes.add(parent.rstrip("/") + "/")
        self._prefixes = sorted(prefixes, key=len, reverse=True)

    def shorten(self, text: str) -> str:
        for prefix in self._prefixes:
            if prefix in text:
                text = text.replace(prefix, "")
        return text


class _Members:
    """Unique package paths."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def claim(self, path: str) -> str:
        candidate, n = path, 1
        while candidate.lower() in self.used:
            n += 1
            stem, dot, ext = path.rpartition(".")
            candidate = f"{stem}-{n}.{ext}" if dot and "/" not in ext else f"{path}-{n}"
        self.used.add(candidate.lower())
        return candidate


def stage_inputs(
    inputs: list[Path],
    stage: Path,
    inventory: Inventory,
    anchors: list[Anchor],
    window: timedelta,
    namer: PathNamer,
    redact: bool,
    limits: Limits | None = None,
) -> None:
    """Read every input once, through the Collector (its rules on links, sizes and nesting), and
    stage what the package keeps. Every name that reaches a package file goes through
    :func:`~vvolguard.escalate.names.printable` here, once."""
    members = _Members()
    with Collector(inputs, limits=limits or Limits()) as collector:
        for ef in collector:
            display = printable(namer.shorten(ef.display))
            try:
                _stage_one(ef, display, stage, inventory, anchors, window, members, redact)
            except Exception as exc:  # one broken file must not cost the package
                ef.warn(f"could not be packaged ({type(exc).__name__}: {exc})")
                inventory.skipped.append((display, "could not be packaged"))
            inventory.warnings.extend(printable(namer.shorten(str(w))) for w in ef.warnings)
        inventory.warnings.extend(printable(namer.shorten(str(w))) for w in collector.warnings)


def _host_dir(host: str | None) -> str:
    return safe_component(host) if host else "unknown-host"


def _stage_one(
    ef: EvidenceFile,
    display: str,
    stage: Path,
    inventory: Inventory,
    anchors: list[Anchor],
    window: timedelta,
    members: _Members,
    redact: bool,
) -> None:
    part = classify(ef)
    if ef.host:
        ef.host = printable(ef.host)
    inventory.add_host(ef.host)
    inventory.saw(part, ef.host)
    if part == Part.UNKNOWN:
        binary = is_binary(ef.head(4096))
        why = "binary or unreadable content" if binary else "not a kind of evidence vvolguard knows"
        if ef.size == 0:
            why = "empty file"
        inventory.skipped.append((display, why))
        return
    if part == Part.GROUND_TRUTH:
        inventory.skipped.append((display, "simulator ground truth, not evidence"))
        return
    if part in LOGS:
        _stage_log(ef, display, part, stage, inventory, anchors, window, members)
        return
    if part == Part.CERTIFICATE:
        _stage_certificate(ef, display, stage, inventory, members, redact)
        return
    base = safe_component(ef.name)
    if part in (Part.VASAPROVIDER, Part.PROTOCOLENDPOINT, Part.STORAGECONTAINER):
        sub = PurePosixPath(ef.display.rsplit("!", 1)[-1].replace("\\", "/")).parent.name
        sub = sub if sub in ("commands", "json") else ""
        member = f"hosts/{_host_dir(ef.host)}/{sub + '/' if sub else ''}{base}"
    elif part in (Part.TASKS, Part.EVENTS):
        member = f"vcenter/{base}"
    elif part == Part.PROVIDER_EXPORT:
        member = f"providers/{base}"
    else:
        member = f"vendor/{base}"
    member = members.claim(member)
    note = _copy_text(ef, stage / member)
    inventory.files.append(PackagedFile(member, part, display, ef.host, note))


def _copy_text(ef: EvidenceFile, target: Path, limit: int | None = None) -> str | None:
    """Copy ``ef`` as text with secrets stripped, streaming; cut at ``limit`` characters
    (:data:`COPY_LIMIT`) at a line end. Lines are cut at ``LINE_KEEP`` bytes before they are
    held. Returns the note for the manifest when a cap was hit."""
    limit = COPY_LIMIT if limit is None else limit
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    notes = []
    stats = LineStats()
    stripper = SecretStripper()
    blocks = text_blocks(ef, stats=stats)
    with target.open("w", encoding="utf-8", newline="\n") as sink:
        for block in blocks:
            text = stripper.block(block) + "\n"
            if written + len(text) > limit:
                text = text[: text.rfind("\n", 0, max(0, limit - written)) + 1]
                sink.write(text)
                notes.append(f"cut at {limit:,} characters")
                sink.write(f"# vvolguard: {notes[-1]}\n")
                break
            sink.write(text)
            written += len(text)
    blocks.close()
    if stats.cut_lines:
        notes.append(f"{stats.cut_lines} lines longer than {LINE_KEEP // 1024} KiB cut")
    return "; ".join(notes) or None


def _stage_log(
    ef: EvidenceFile,
    display: str,
    part: Part,
    stage: Path,
    inventory: Inventory,
    anchors: list[Anchor],
    window: timedelta,
    members: _Members,
) -> None:
    concerning = [a for a in anchors if a.concerns(ef.host)]
    if part != Part.VVOLD_LOG and not concerning:
        inventory.skipped.append(
            (display, "no failed task concerns this host; only vvold logs are cut without one")
        )
        return
    inline = part == Part.VVOLD_LOG and not concerning
    tail = inline and not _ROTATED.search(ef.name)
    kind = {Part.VVOLD_LOG: "vvold", Part.HOSTD_LOG: "hostd", Part.VMKERNEL_LOG: "vmkernel"}[part]

    def write(excerpt: Excerpt) -> None:
        if not excerpt.tail:
            inventory.excerpt_failures += excerpt.anchor_count
        span = f"L{excerpt.first_line}-{excerpt.last_line}"
        suffix = "-tail" if excerpt.tail else ""
        folder = f"excerpts/{_host_dir(ef.host)}/{kind}"
        member = members.claim(f"{folder}/{safe_component(ef.name)}--{span}{suffix}.txt")
        path = stage / member
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="\n") as sink:
            for line in strip_lines(excerpt.render(display).split("\n")[:-1]):
                sink.write(line + "\n")
        inventory.files.append(PackagedFile(member, part, display, ef.host, "tail" if excerpt.tail else None))

    stats = LineStats()
    excerpts, dropped = cut_windows(
        ef, concerning, window, inline=inline, tail_if_empty=tail, on_window=write, stats=stats
    )
    if dropped:
        ef.warn(f"{dropped} further failure windows not cut (per-file limit of windows, lines and bytes)")
    if stats.cut_lines:
        ef.warn(
            f"{stats.cut_lines} lines longer than {LINE_KEEP // 1024} KiB; excerpts keep the first "
            f"{LINE_KEEP // 1024} KiB of each"
        )
    if not excerpts:
        inventory.skipped.append((display, "no failure inside this log's time range"))


def _stage_certificate(
    ef: EvidenceFile, display: str, stage: Path, inventory: Inventory, members: _Members, redact: bool
) -> None:
    """A readable summary always; the PEM itself only when not pseudonymising.

    Why: a certificate's subject and SANs are host names inside base64; no text rewrite can
    pseudonymise them, so a redacted package carries the summary (names rewritten) instead.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    data = ef.head(4 * 1024 * 1024)
    certs: list[x509.Certificate] = []
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        try:
            certs = [x509.load_der_x509_certificate(data)]
        except ValueError:
            certs = []
    if not certs:
        ef.warn("no readable X.509 certificate in this file")
        inventory.skipped.append((display, "no readable certificate"))
        return
    base = safe_component(re.sub(r"(?i)\.(?:pem|crt|cer|der)$", "", ef.name))
    lines = [f"# vvolguard certificate summary of {display}"]
    for cert in certs:
        try:
            sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            dns = sans.get_values_for_type(x509.DNSName)
            ips = [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]
        except x509.ExtensionNotFound:
            dns, ips = [], []
        lines += [
            f"subject: {cert.subject.rfc4514_string()}",
            f"issuer: {cert.issuer.rfc4514_string()}",
            f"not_before: {cert.not_valid_before_utc.isoformat()}",
            f"not_after: {cert.not_valid_after_utc.isoformat()}",
            f"serial: {cert.serial_number:x}",
            f"sha256: {cert.fingerprint(hashes.SHA256()).hex()}",
            f"dns_names: {', '.join(dns)}",
            f"ip_addresses: {', '.join(ips)}",
            "",
        ]
    member = members.claim(f"providers/certificates/{base}.summary.txt")
    write_text(stage / member, "\n".join(lines))
    inventory.files.append(PackagedFile(member, Part.CERTIFICATE, display, ef.host))
    if not redact:
        pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs).decode("ascii")
        member = members.claim(f"providers/certificates/{base}.pem")
        write_text(stage / member, pem)
        inventory.files.append(PackagedFile(member, Part.CERTIFICATE, display, ef.host))


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8", newline="\n")
