"""Citations in the code lead somewhere a reader can follow: the repository's own docs (to a
section that exists), the paper or cuda-convnet's source; never notes outside the repository."""

from __future__ import annotations

import re

import pytest

from conftest import ROOT

SCANNED = ("netdef", "tests", "bench", "examples", "layers", ".ci", "docs", "README.md")
SUFFIXES = {".py", ".sh", ".cfg", ".yaml", ".yml", ".toml", ".md", ".txt", ""}

# Notes that live outside the repository: the spec files, numbered notes and issue threads.
OUTSIDE = re.compile(r"\b(?:LANGUAGE|DESIGN|STYLE|DEVELOPERS)\.md\b|\bnotes\s§"
                     r"|\b[Ii]ssues?\s+#?\d")
# a docs page, then §N[, §M…], or #anchor, or "Heading"[, "Heading"…]
CITATION = re.compile(r'docs/(?P<file>[\w.-]+\.md)(?:#(?P<anchor>[\w-]+)'
                      r'|\s*(?P<sections>§\s*\d+(?:\s*(?:,|and)\s*§?\s*\d+)*)'
                      r'|(?:\s+|\s*\()(?P<headings>"[^"\n]+"(?:\s*,\s*"[^"\n]+")*))?')
MD_LINK = re.compile(r"\]\((?!https?:|mailto:)(?P<path>[^)#\s]*)(?:#(?P<anchor>[^)\s]+))?\)")


def _files():
    for top in SCANNED:
        base = ROOT / top
        paths = [base] if base.is_file() else sorted(base.rglob("*"))
        for path in paths:
            if path.is_file() and path.suffix in SUFFIXES and "__pycache__" not in path.parts:
                yield path
    yield ROOT / "pyproject.toml"


def _text(path):
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return ""


def _flat(text: str) -> str:
    """Comment continuations joined, so a citation wrapped across lines reads as one."""
    return re.sub(r"\s*\n\s*(?:#+\s*)?", " ", text)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _headings(doc: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(r"^#{1,6}\s+(.+)$", doc, re.M)]


def _anchors(doc: str) -> set[str]:
    seen, out = {}, set()
    for heading in _headings(doc):
        slug = _slug(heading)
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def _sections(doc: str) -> set[str]:
    return {m.group(1) for h in _headings(doc) for m in [re.match(r"(\d+)[.)]?\s", h)] if m}


def test_no_citation_of_notes_outside_the_repository():
    found = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
             for p in _files() for n, line in enumerate(_text(p).splitlines(), 1)
             if OUTSIDE.search(line)]
    assert found == [], "cite docs/, the paper or cuda-convnet's source:\n" + "\n".join(found)


def _citations():
    for path in _files():
        for m in CITATION.finditer(_flat(_text(path))):
            yield path.relative_to(ROOT), m


@pytest.mark.parametrize("name", ["design.md", "language-guide.md"])
def test_the_cited_docs_are_cited(name):
    """The check below sees real citations (a broken pattern would pass vacuously)."""
    assert any(m["file"] == name and (m["sections"] or m["headings"]) for _, m in _citations())


def test_every_docs_citation_points_at_a_section_that_exists():
    wrong = []
    for where, m in _citations():
        doc_path = ROOT / "docs" / m["file"]
        if not doc_path.is_file():
            wrong.append(f"{where}: docs/{m['file']} does not exist")
            continue
        doc = doc_path.read_text(encoding="utf-8")
        if m["anchor"] and m["anchor"] not in _anchors(doc):
            wrong.append(f"{where}: docs/{m['file']}#{m['anchor']}: no such heading")
        for number in re.findall(r"\d+", m["sections"] or ""):
            if number not in _sections(doc):
                wrong.append(f"{where}: docs/{m['file']} §{number}: no such section")
        for heading in re.findall(r'"([^"]+)"', m["headings"] or ""):
            if heading not in _headings(doc):
                wrong.append(f'{where}: docs/{m["file"]} "{heading}": no such heading')
    assert wrong == []


def test_links_between_the_readme_and_the_docs_resolve():
    wrong = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for m in MD_LINK.finditer(_text(page)):
            target = (page.parent / m["path"]).resolve() if m["path"] else page
            if not target.exists():
                wrong.append(f"{page.relative_to(ROOT)}: {m['path']} does not exist")
            elif m["anchor"] and target.suffix == ".md" and m["anchor"] not in _anchors(
                    target.read_text(encoding="utf-8")):
                wrong.append(f"{page.relative_to(ROOT)}: {m['path']}#{m['anchor']}: "
                             "no such heading")
    assert wrong == []


def test_the_design_page_keeps_its_numbered_sections():
    """Code cites docs/design.md by section number: the numbers run 1, 2, … without gaps."""
    doc = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    numbers = sorted(int(n) for n in _sections(doc))
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 10


def test_the_files_the_docs_name_exist():
    """A module or file named in the README or docs/ (``train/step.py``, relative to the
    repository or to netdef/) exists: renaming one means updating the page."""
    # a placeholder such as OUT/ablate.md is not a file of the repository
    named = re.compile(r"`((?![A-Z]+/)(?:[\w.-]+/)+[\w.-]+\.(?:py|cfg|yaml|sh|md))`")
    wrong = [f"{page.relative_to(ROOT)}: {m[1]}"
             for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
             for m in named.finditer(_text(page))
             if not any((base / m[1]).exists() for base in (ROOT, ROOT / "netdef", page.parent))]
    assert wrong == []
