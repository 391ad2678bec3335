"""Terminal citations: short enough to read at 80 columns, still enough to find the line."""

from __future__ import annotations

from vvolguard.records import Citation
from vvolguard.report.view import cite_ref, short_ref


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
