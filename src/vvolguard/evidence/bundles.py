"""The layout of an ESXi vm-support bundle: where a bundle starts, and which of its members are read.

Why the bundle rules exist: a real vm-support bundle holds thousands of files, almost none of them
about vVols. Inside a bundle only the members that can matter are read (the logs vvold, hostd,
vmkernel and vmkwarning wherever ESXi keeps them, the ``storage vvol`` command outputs with their
``json/`` twins, and a vc-support bundle's ``sps.log`` and ``vpxd.log``); the same rules apply to
an extracted folder and to a ``.tgz``, so both read the same files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from vvolguard.evidence.hostnames import bundle_host

#: Members of a support bundle worth reading (matched against the member path, lower-cased).
BUNDLE_MEMBER = re.compile(
    r"""(?x)
    (?:^|/)(?:var/run/log|var/log|scratch/log|var/lib/vmware/osdata[^/]*/log|log)/
        (?:vvold|hostd|vmkernel|vmkwarning)(?:\.log)?(?:\.\d+)?(?:\.gz)?$
    | (?:^|/)commands/[^/]*storage-vvol-[^/]*\.txt$
    | (?:^|/)json/[^/]*storage-vvol-[^/]*\.json$
    | (?:^|/)var/log/vmware/vmware-sps/sps(?:-\d+)?\.log(?:\.\d+)?(?:\.gz)?$
    | (?:^|/)var/log/vmware/vpxd/vpxd(?:-\d+)?\.log(?:\.\d+)?(?:\.gz)?$
    """
)

#: Folders of a bundle that can hold what is read; a link elsewhere in a bundle (``bootbank``,
#: ``productLocker`` point into /vmfs on the host) is skipped without a warning.
MEMBER_FOLDERS = frozenset(("commands", "json", "var", "etc", "log", "run", "scratch", "vmware"))

#: Members that name the host when the bundle's own name does not.
HOSTNAME_MEMBER = re.compile(r"(?:^|/)commands/[^/]*hostname[^/]*\.txt$|(?:^|/)etc/vmware/esx\.conf$")

#: Largest archive member read to learn a host name; these files are tiny in real bundles.
HOSTNAME_MEMBER_LIMIT = 256 * 1024


def is_bundle_member(path: str) -> bool:
    """Whether a path inside a bundle (relative to its root, or an archive member) is read."""
    return bool(BUNDLE_MEMBER.search(path.lower()))


def looks_like_bundle_root(folder: Path, subdirs: list[str]) -> bool:
    """A folder is a bundle's root when it has a bundle's name, or a bundle's first folders."""
    if bundle_host(folder.name):
        return True
    names = set(subdirs)
    return "commands" in names and ("var" in names or "json" in names)


def bundle_roots_in(names: Iterable[str]) -> list[str]:
    """Archive prefixes that are vm-support bundle roots ("" when the archive itself is one)."""
    roots: set[str] = set()
    for name in names:
        parts = PurePosixPath(name).parts
        for i, part in enumerate(parts[:-1]):
            if part in ("commands", "var", "json") and (
                i + 1 < len(parts) and (part != "var" or parts[i + 1] in ("run", "log"))
            ):
                roots.add("/".join(parts[:i]))
                break
    return sorted(roots, key=len, reverse=True)


def root_of(name: str, roots: list[str]) -> str | None:
    """The bundle root a member lies under (longest first), or None for loose members."""
    for root in roots:
        if root == "" or name.startswith(root + "/"):
            return root
    return None
