"""Comments cite ``docs/evidence-formats.md §N.M``: every such section must exist in the document.

Why: the sections are how a reader of a regex or a fixture finds its source and its VERBATIM /
RECONSTRUCTED / INFERRED mark; a citation of a section that was renumbered or never written
sends them nowhere.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SECTION = re.compile(r"§(\d+(?:\.\d+)?)")
CITED_DOC = re.compile(r"docs/([\w-]+\.md)")


def _sections(doc: Path) -> set[str]:
    heads = re.findall(r"^#{2,3} (\d+(?:\.\d+)?)[. ]", doc.read_text(encoding="utf-8"), re.MULTILINE)
    return set(heads)


def test_every_cited_section_exists() -> None:
    """A line's § numbers belong to the document it names, or to the one document its file cites."""
    sections = {doc.name: _sections(doc) for doc in DOCS.glob("*.md")}
    assert {"1.2", "1.7", "4.4", "8"} <= sections["evidence-formats.md"]
    assert {"1.2", "4.6", "9.4"} <= sections["drain-background.md"]
    missing = []
    sources = [*ROOT.joinpath("src").rglob("*.py"), *ROOT.joinpath("src").rglob("*.go")]
    for path in sorted([*sources, *ROOT.joinpath("tests").rglob("*.py")]):
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8")
        cited = set(CITED_DOC.findall(text))
        if not cited:
            continue
        only = next(iter(cited)) if len(cited) == 1 else None
        for number, line in enumerate(text.splitlines(), start=1):
            # "(one doc) §1.2, (another doc) §6.1": each § belongs to the document named before it
            parts = CITED_DOC.split(line)  # [text, doc, text, doc, text, ...]
            for doc, chunk in [(only, parts[0]), *zip(parts[1::2], parts[2::2], strict=True)]:
                if doc is None:
                    continue
                known = sections.get(doc)
                if known is None:
                    missing.append(f"{rel}:{number}: docs/{doc} does not exist")
                    continue
                missing += [f"{rel}:{number}: {doc} §{s}" for s in SECTION.findall(chunk) if s not in known]
    assert not missing, "\n".join(missing)
