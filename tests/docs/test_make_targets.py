"""`make help` and the documentation agree: every target is in docs/contributing.md's table,
and every `make` target a page names exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.docs.markdown import DOCUMENTS, ROOT, blocks

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TABLE_ROW = re.compile(r"^\| `make ([a-z][a-z-]*)` \|", re.MULTILINE)
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_MAKE = re.compile(r"(?:^|[\s(;&|])make ([a-z][a-z-]*)")


@pytest.fixture(scope="module")
def targets() -> set[str]:
    """The targets `make help` lists."""
    output = subprocess.run(
        ["make", "--no-print-directory", "help"],  # noqa: S607 (make from PATH, as make test runs it)
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line.split()[0] for line in _ANSI.sub("", output).splitlines() if line.strip()}


def _named(path: Path) -> set[str]:
    """The targets a page names in `make ...`, in its inline code and its code blocks."""
    code = [line for block in blocks(path) for line in block.code.splitlines()]
    spans = _INLINE_CODE.findall(path.read_text()) + code
    return {name for span in spans for name in _MAKE.findall(span)}


def test_make_help_lists_the_targets(targets: set[str]) -> None:
    assert {"help", "run", "test", "lint"} <= targets


def test_contributing_documents_every_target(targets: set[str]) -> None:
    documented = set(_TABLE_ROW.findall((ROOT / "docs" / "contributing.md").read_text()))
    assert documented == targets


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_target_the_docs_name_exists(path: Path, targets: set[str]) -> None:
    assert _named(path) - targets == set()
