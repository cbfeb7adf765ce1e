"""One version number: pyproject.toml's is the package's (app.__version__, which the OpenAPI
document shows), and the changelog's latest release carries it."""

from __future__ import annotations

import re
import tomllib

from app import __version__
from tests.docs.markdown import ROOT

_RELEASE = re.compile(r"^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d{2}-\d{2})$", re.MULTILINE)


def test_the_package_has_the_project_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert __version__ == project["version"]


def test_the_changelog_latest_release_is_the_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    releases = _RELEASE.findall(changelog)
    assert releases, "the changelog lists its releases as '## [x.y.z] - yyyy-mm-dd'"
    assert releases[0][0] == __version__
    assert [version for version, _ in releases] == sorted(
        (version for version, _ in releases), key=lambda v: tuple(map(int, v.split("."))), reverse=True
    )
    assert changelog.index("## [Unreleased]") < changelog.index(f"## [{__version__}]")


def test_the_license_is_the_declared_one() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")
