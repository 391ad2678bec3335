"""Which ESXi host a file belongs to, from the names and contents the sender controls.

Why: evidence is judged per host (one host's vvold under pressure, another's quiet), and admins
rarely say which host a file is from. A vm-support bundle's name says it
(``esx-<host>-YYYY-MM-DD--HH.MM-<pid>``); a renamed bundle says it in its ``hostname`` command
outputs or ``esx.conf``; a loose excerpt often says it in its own file name
(``vvold-grep-esx01.txt``). Every name found here is shown to the user only through
:func:`~vvolguard.evidence.source.safe_name`.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

#: esx-<host>-2023-06-07--19.51-2831891 (the pid part is optional; .tgz/.tar.gz/.tar stripped).
BUNDLE_NAME = re.compile(
    r"^esx-(?P<host>.+?)-(?P<date>\d{4}-\d{2}-\d{2})--(?P<time>\d{2}\.\d{2})(?:-\d+)?$", re.IGNORECASE
)
#: Archive endings stripped from a bundle's file name before it is matched.
ARCHIVE_SUFFIXES = (".tgz", ".tar.gz", ".tar", ".zip")


def bundle_host(name: str) -> str | None:
    """The host encoded in a vm-support bundle name, if the name follows ESXi's pattern."""
    base = PurePosixPath(name.rstrip("/")).name
    for suffix in ARCHIVE_SUFFIXES:
        if base.lower().endswith(suffix):
            base = base[: -len(suffix)]
            break
    match = BUNDLE_NAME.match(base)
    return match.group("host") if match else None


#: Words admins put around a host name when they name a loose file ("vvold-grep-esx01.txt",
#: "esx-03_vvold.log", "case4711-esx07-vasaprovider-list.txt"): never a host themselves.
_FILE_NAME_WORDS = frozenset(
    {
        *("vvold", "hostd", "vmkernel", "vmkwarning", "vobd", "sps", "vpxd", "log", "logs"),
        *("grep", "zgrep", "egrep", "tail", "head", "excerpt", "excerpts", "snippet", "output"),
        *("out", "txt", "text", "json", "csv", "esxcli", "storage", "vvol", "list", "case"),
        *("vasaprovider", "vasaproviders", "protocolendpoint", "protocolendpoints", "pe", "pes"),
        *("storagecontainer", "storagecontainers", "container", "containers", "vp", "vps"),
        *("provider", "providers", "tasks", "events", "task", "event", "bundle", "support"),
        *("from", "host", "copy", "paste", "putty", "session", "vmsupport"),
        *("ticket", "notes", "note", "mail", "email", "search", "hits", "md", "eml"),
    }
)
#: Endings of a loose file's name that are not part of a host name (``ticket-esx-07.md``).
_FILE_EXTENSIONS = frozenset({"gz", "log", "txt", "out", "json", "csv", "tgz", "md", "eml"})
_FILE_NAME_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}[.-]){3}\d{1,3}(?![\d])")


def host_in_file_name(name: str) -> str | None:
    """The ESXi host a loose file's own name gives, when it gives one plainly: a piece that holds
    ``esx`` (``vvold-grep-esx01.txt`` -> ``esx01``, ``prd-esx12_vvold.log`` -> ``prd-esx12``) or an
    IPv4 address. Excerpts from several hosts are often sent side by side; without this they
    would all be one unnamed host. Kept conservative: any other name gives no host."""
    stem = PurePosixPath(name).name
    while True:
        head, dot, ext = stem.rpartition(".")
        if not dot or not (ext.isdigit() or ext.lower() in _FILE_EXTENSIONS):
            break
        stem = head
    ip = _FILE_NAME_IPV4.search(stem)
    if ip:
        return ip.group(0).replace("-", ".")
    for piece in re.split(r"[_\s.]+", stem):
        words = [w for w in piece.split("-") if w]
        while words and (words[0].lower() in _FILE_NAME_WORDS or words[0].isdigit()):
            words.pop(0)
        # A file word after the host ends it: "esx-07-vvold-search" is esx-07's vvold search,
        # whatever the admin called it after the word that says what the file is.
        cut = next((i for i, w in enumerate(words) if i and w.lower() in _FILE_NAME_WORDS), len(words))
        if "esx" in "-".join(words[:cut]).lower():
            del words[cut:]
        while words and (
            words[-1].lower() in _FILE_NAME_WORDS
            or (words[-1].isdigit() and any(c.isdigit() for c in "".join(words[:-1])))
        ):
            words.pop()  # trailing words and a date: "esx-03-2026-03-14" -> "esx-03"
        candidate = "-".join(words)
        if (
            "esx" in candidate.lower()
            and candidate.lower() not in {"esx", "esxi"}
            and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}", candidate)
        ):
            return candidate
    return None


def host_from_text(text: str) -> str | None:
    """Host name from ``esxcli system hostname get`` output, ``hostname`` output or esx.conf."""
    fqdn = re.search(r"Fully Qualified Domain Name:[ \t]*(\S+)", text)
    if fqdn:
        return fqdn.group(1)
    short = re.search(r"Host Name:[ \t]*(\S+)", text)
    if short:
        return short.group(1)
    conf = re.search(r'^/adv/Misc/HostName[ \t]*=[ \t]*"([^"\n]+)"', text, re.MULTILINE)
    if conf:
        return conf.group(1)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) == 1 and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}", lines[0]):
        return lines[0]
    return None


def archive_host(display: str) -> str | None:
    """The host named by the innermost archive of a display name (``case.zip!esx-03-....tgz``)."""
    return bundle_host(display.rsplit("!", 1)[-1].rsplit("/", 1)[-1])
