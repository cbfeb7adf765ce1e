"""What the tests of the documentation read in it: the runnable examples, the links, the
headings. Plain text parsing of the Markdown we write (fenced blocks, ATX headings, inline
links), nothing more general."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DOCUMENTS", "ROOT", "Block", "anchors", "blocks", "links"]

ROOT = Path(__file__).resolve().parents[2]
# Every page a reader is sent to: the README and one page per topic.
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# The languages whose blocks run; any other (sh, text, sql...) is shown, never run.
RUNNABLE = {"bash", "python", "js"}
# A block preceded by this comment is not run either; the comment says why.
NOT_RUN = re.compile(r"^<!-- not run: .+ -->$")
_FENCE = re.compile(r"^```(\S*)\s*$")
_HEADING = re.compile(r"^#{1,6} (.+?)\s*$")
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@dataclass(frozen=True)
class Block:
    """A fenced code block: its language, its text and the line it starts on (1-based)."""

    path: Path
    language: str
    code: str
    line: int
    runs: bool


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of a page, in order; `runs` says whether the docs test runs it."""
    found: list[Block] = []
    lines = path.read_text().splitlines()
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        start, language = index, fence.group(1)
        index += 1
        body: list[str] = []
        while index < len(lines) and lines[index] != "```":
            body.append(lines[index])
            index += 1
        index += 1  # the closing fence
        previous = next((line for line in reversed(lines[:start]) if line.strip()), "")
        runs = language in RUNNABLE and not NOT_RUN.match(previous)
        found.append(Block(path, language, "\n".join(body) + "\n", start + 1, runs))
    return found


def _prose(path: Path) -> str:
    """The page without its code blocks (a `#` comment in a block is no heading)."""
    kept, inside = [], False
    for line in path.read_text().splitlines():
        if _FENCE.match(line) or line == "```":
            inside = not inside
            continue
        if not inside:
            kept.append(line)
    return "\n".join(kept)


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the page's headings: lower case, punctuation dropped, spaces
    to hyphens."""
    found = set()
    for line in _prose(path).splitlines():
        heading = _HEADING.match(line)
        if heading:
            text = heading.group(1).lower()
            found.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return found


def links(path: Path) -> list[str]:
    """The targets of the page's inline links, code blocks left out."""
    return _LINK.findall(_prose(path))
