"""The repository is self-contained: its docs point only at files it holds."""

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Spelled in pieces so this file does not mention them itself.
OUTSIDE_REFERENCES = (
    "../" + "shared", "/work/" + "shared", "vendor-contracts" + ".md", "PRODUCT" + ".md",
    "STYLE" + ".md",
)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#+\s+(.*?)\s*$", re.MULTILINE)


def _tracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],  # noqa: S607
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    return [name for name in listed.stdout.splitlines() if (ROOT / name).is_file()]


def _markdown_files() -> list[Path]:
    return [
        ROOT / "README.md",
        *sorted((ROOT / "connectors").rglob("*.md")),
        *sorted((ROOT / "docs").glob("*.md")),
    ]


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, markup and punctuation dropped, spaces to '-'."""
    text = re.sub(r"[`*_\[\]]|\]\([^)]*\)", "", heading.lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def test_no_file_refers_to_documents_outside_the_repository():
    offenders = []
    for name in _tracked_files():
        if name.startswith(".ci/"):
            continue
        text = (ROOT / name).read_text(errors="ignore")
        offenders += [f"{name}: {ref}" for ref in OUTSIDE_REFERENCES if ref in text]
    assert offenders == []


@pytest.mark.parametrize("doc", _markdown_files(), ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_markdown_links_resolve(doc: Path):
    broken = []
    for target in LINK.findall(doc.read_text()):
        if re.match(r"^[a-z]+:", target) or target.startswith("<"):
            continue  # https:, mailto: ...
        path, _, fragment = target.partition("#")
        linked = (doc.parent / path).resolve() if path else doc
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif fragment and linked.suffix == ".md":
            anchors = {_anchor(h) for h in HEADING.findall(linked.read_text())}
            if fragment not in anchors:
                broken.append(f"{target}: no heading #{fragment}")
    assert broken == []


def test_vendor_facts_cover_each_vendor_with_sources():
    headings = HEADING.findall((ROOT / "docs" / "vendors.md").read_text())
    for section in ("Adobe IMS", "Adobe Privacy Service", "Adobe Data Hygiene", "ID5", "Sources"):
        assert section in headings
