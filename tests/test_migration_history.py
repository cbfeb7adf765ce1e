"""The released migrations are history: never edited or removed, and every newer file sorts after them.

A deployed database has applied the released files and records their versions, so an edit of one
changes nothing there while every new database is built differently: the two drift apart
unseen. And the Supabase CLI refuses to apply a migration that sorts before the last one a
database has applied, so a new file named by today's date (`supabase migration new` does that)
while the last released one is dated later would never reach a deployed database.

The releases are the commits listed in supabase/releases.txt (the upgrade test reads the same
list); the clone must hold them (CI clones with history).
"""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS = "supabase/migrations"
# <14-digit version>_<name>.sql: what the Supabase CLI reads as a migration.
MIGRATION_NAME = re.compile(r"^\d{14}_[a-z0-9_]+\.sql$")


def releases() -> list[str]:
    """The release commits, oldest first."""
    lines = (ROOT / "supabase" / "releases.txt").read_text().splitlines()
    return [line.split()[0] for line in lines if line.strip() and not line.lstrip().startswith("#")]


def git(*args: str) -> bytes:
    """Run git in this checkout; CalledProcessError when it fails."""
    binary = shutil.which("git")
    assert binary, "git is needed to read the released migrations"
    return subprocess.run([binary, "-C", str(ROOT), *args], capture_output=True, check=True).stdout  # noqa: S603 (git)


def has_commit(commit: str) -> bool:
    try:
        git("cat-file", "-e", f"{commit}^{{commit}}")
    except subprocess.CalledProcessError:
        return False
    return True


@cache
def released_files(commit: str) -> dict[str, bytes]:
    """The migration files of a release, by name, as released."""
    if not has_commit(commit):
        pytest.fail(
            f"release commit {commit} (supabase/releases.txt) is not in this clone: a shallow clone? "
            f"Fetch the history (git fetch --unshallow) to check the released migrations."
        )
    names = git("ls-tree", "--name-only", f"{commit}:{MIGRATIONS}").decode().split()
    return {name: git("show", f"{commit}:{MIGRATIONS}/{name}") for name in names}


def is_ancestor(older: str, newer: str) -> bool:
    try:
        git("merge-base", "--is-ancestor", older, newer)
    except subprocess.CalledProcessError:
        return False
    return True


def current_files() -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in (ROOT / MIGRATIONS).glob("*.sql")}


def last_released() -> str:
    return max(released_files(releases()[-1]))


def test_releases_are_listed_oldest_first() -> None:
    commits = releases()
    assert commits, "supabase/releases.txt lists no release"
    for older, newer in itertools.pairwise(commits):
        released_files(newer)  # the commit is in the clone, or a clear failure
        assert is_ancestor(older, newer), f"release {older} is listed before {newer} but is not its ancestor"


@pytest.mark.parametrize("commit", releases())
def test_no_released_migration_was_edited_or_removed(commit: str) -> None:
    current = current_files()
    changed = sorted(
        f"{name} ({'edited' if name in current else 'removed'})"
        for name, text in released_files(commit).items()
        if current.get(name) != text
    )
    assert not changed, (
        f"migrations released at {commit} changed: {changed}. They are deployed: restore them as "
        f"released and make the change in a new migration (and in supabase/schemas)."
    )


def test_new_migrations_sort_after_the_last_released_one() -> None:
    released = set(released_files(releases()[-1]))
    last = last_released()
    # By version (the 14 digits): the CLI orders and records migrations by it.
    early = sorted(name for name in current_files() if name not in released and name[:14] <= last[:14])
    assert not early, (
        f"new migrations do not sort after the last released one, {last}: {early}. The Supabase CLI refuses "
        f"a migration older than the last one a database has applied: rename them with a 14-digit "
        f"version after {last[:14]}."
    )


def test_migration_files_are_named_as_the_cli_reads_them() -> None:
    misnamed = sorted(name for name in current_files() if not MIGRATION_NAME.match(name))
    assert not misnamed, f"not <14-digit version>_<lowercase name>.sql: {misnamed}"
