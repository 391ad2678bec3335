"""The escalation package: one archive for the storage vendor, along the runbook's escalation list.

Modules, one job each: ``classify`` (which part of the package a file feeds), ``excerpts`` (log
windows around failures), ``secrets`` (always-on secret stripping), ``redact`` (consistent
pseudonymisation), ``stage`` (reading each input once into a private staging folder),
``manifest`` (the runbook's list as data, judged present/partial/missing) and its
``manifest_schema``, ``readme`` (the vendor's first page), ``archive`` (the zip/tar.gz and the
mapping file) and ``package`` (the build, end to end).

    from vvolguard.escalate import build_package
    result = build_package(["esx-03.tgz", "tasks.json"], "case.zip", redact=True)
    result.manifest["summary"]   # {"present": 7, "partial": 1, "missing": 4}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vvolguard.escalate.package import PackageResult


def build_package(*args: Any, **kwargs: Any) -> PackageResult:
    """See :func:`vvolguard.escalate.package.build_package`."""
    from vvolguard.escalate.package import build_package as _build

    return _build(*args, **kwargs)


__all__ = ["build_package"]
