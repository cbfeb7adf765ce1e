"""The documentation's examples run as typed, against a real server, so they cannot rot.

Every `bash` block of a page runs, in order, as one script under `set -euo pipefail` (so a
failing `curl -f`, a `jq` on an error body or an undefined variable fails the page); `python`
and `js` blocks run one by one. They run in a real `python -m app serve` on a free loopback
port (auth disabled, the offline model, the test database), reached as `$API`, from the
checkout's root, as a newcomer runs them after `make run`. A block preceded by
`<!-- not run: why -->` is skipped (docs/contributing.md says when to use it).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import DATABASE_URL
from tests.docs.markdown import DOCUMENTS, ROOT, Block, blocks
from tests.harness.processes import ApiProcess, api_process

pytestmark = pytest.mark.slow

# `<id>` in a shell line is a redirect from a file named id: examples capture ids in variables.
_PLACEHOLDER = re.compile(r"<[a-z_-]+>")
# What the examples call besides the project's own Python: make deps installs them.
_TOOLS = ("bash", "curl", "jq", "node")


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[ApiProcess]:
    async with api_process() as process:
        yield process


def _runnable(path: Path) -> list[Block]:
    return [block for block in blocks(path) if block.runs]


def _command(language: str, code: str) -> list[str]:
    if language == "bash":
        return ["bash", "-c", "set -euo pipefail\n" + code]
    if language == "python":
        return [sys.executable, "-c", code]
    return ["node", "--input-type=module", "-e", code]


async def _run(language: str, code: str, api: str) -> tuple[int, str]:
    """Run `code` with the docs' environment; its exit status and output."""
    command = _command(language, code)
    environment = {**os.environ, "API": api, "DATABASE_URL": DATABASE_URL}
    process = await asyncio.create_subprocess_exec(
        *command, cwd=ROOT, env=environment, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    async with asyncio.timeout(300):
        output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


def test_the_readme_has_its_quick_start_and_tour() -> None:
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "make run" in quick_start
    assert "make test" in quick_start
    tour = readme.split("## Five-minute tour", 1)[1].split("\n## ", 1)[0]
    assert tour.count("```bash") >= 5, "the tour shows what the service does, in shell blocks"
    assert len(readme.splitlines()) <= 250, "the README starts a newcomer; the rest goes in docs/"


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_examples_use_no_placeholders(path: Path) -> None:
    for block in _runnable(path):
        if block.language == "bash":
            commands = [line for line in block.code.splitlines() if not line.lstrip().startswith("#")]
            found = _PLACEHOLDER.search("\n".join(commands))
            assert found is None, f"{path.name}:{block.line}: {found and found.group()} in a command"


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
async def test_examples_run_as_typed(path: Path, server: ApiProcess) -> None:
    runnable = _runnable(path)
    if not runnable:
        return
    missing = [tool for tool in _TOOLS if shutil.which(tool) is None]
    assert not missing, f"the docs' examples need {missing} (make deps installs them)"
    shell = [block for block in runnable if block.language == "bash"]
    scripts = [("bash", "".join(block.code for block in shell), shell[0].line)] if shell else []
    scripts += [(b.language, b.code, b.line) for b in runnable if b.language != "bash"]
    for language, code, line in scripts:
        status, output = await _run(language, code, server.base_url)
        assert status == 0, f"{path.relative_to(ROOT)} (from line {line}, {language}) failed:\n{output}"
