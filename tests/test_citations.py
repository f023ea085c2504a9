# SPDX-License-Identifier: Apache-2.0
"""Every citation of the project's notes in code resolves inside the repository:
the cited docs/ file exists and has the cited section heading."""
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.source_tree  # wheel-check deselects these: a wheel has no docs/ and no git
CITATION = re.compile(r"docs/([a-z_]+\.md)(?:,? ?§ ?([0-9]+(?:\.[0-9]+)?))?")


def _sections(doc: Path) -> set[str]:
    heads = re.findall(r"^#+\s*(?:§\s*)?([0-9]+(?:\.[0-9]+)?)[.\s]", doc.read_text(), flags=re.M)
    return set(heads)


def test_every_docs_citation_in_code_resolves():
    files = subprocess.run(["git", "ls-files", "*.py", "*.rs", "*.pyx", "*.pxd", "*.toml", "Makefile"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    missing = []
    cited = 0
    for name in files:
        text = (ROOT / name).read_text(errors="replace")
        for doc, section in CITATION.findall(text):
            cited += 1
            path = ROOT / "docs" / doc
            if not path.exists():
                missing.append(f"{name}: docs/{doc} does not exist")
            elif section and section not in _sections(path):
                missing.append(f"{name}: docs/{doc} has no section {section}")
    assert cited > 50 and not missing, missing[:20]


def test_no_citation_of_notes_outside_the_repository():
    out = subprocess.run(["git", "grep", "-nE", r"\b(ALGORITHMS|CLUSTER|BUILD|ANCHORS)\.md", "--", ":!docs"],
                         cwd=ROOT, capture_output=True, text=True).stdout
    assert out == ""
