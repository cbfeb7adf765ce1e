"""Process-unique tokens (app.unique): distinct within a process, across processes and forks."""

from __future__ import annotations

import os
import subprocess
import sys

from app.unique import unique_token


def test_tokens_are_distinct_within_a_process() -> None:
    tokens = [unique_token() for _ in range(10_000)]
    assert len(set(tokens)) == len(tokens)


def test_another_process_draws_another_prefix() -> None:
    other = subprocess.run(
        [sys.executable, "-c", "from app.unique import unique_token; print(unique_token())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert other.split("-")[0] != unique_token().split("-")[0]


def test_a_forked_child_draws_its_own_prefix() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its token and leave at once
        os.write(write, unique_token().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 200).decode()
    os.waitpid(pid, 0)
    os.close(read)
    mine = unique_token()
    assert child.split("-")[0] != mine.split("-")[0]
