"""The pages hold together: every relative link reaches a file (and a heading, when it names
one), every page is listed in the docs index, and every setting is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.config import Settings
from tests.docs.markdown import DOCUMENTS, ROOT, anchors, links


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_links_reach_their_targets(path: Path) -> None:
    broken = []
    for target in links(path):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        file, _, anchor = target.partition("#")
        destination = (path.parent / file).resolve() if file else path
        if not destination.exists() or (
            anchor and destination.suffix == ".md" and anchor not in anchors(destination)
        ):
            broken.append(target)
    assert broken == []


def test_the_index_lists_every_page() -> None:
    index = (ROOT / "docs" / "README.md").read_text()
    pages = {path.name for path in (ROOT / "docs").glob("*.md")} - {"README.md"}
    assert {page for page in pages if f"]({page})" not in index} == set()


def _variables() -> set[str]:
    """Every environment variable the settings read: each field's alias, in every group."""
    groups = [field.annotation for field in Settings.model_fields.values()]
    return {
        str(field.validation_alias)
        for group in groups
        if isinstance(group, type)
        for field in getattr(group, "model_fields", {}).values()
    }


def test_every_setting_is_documented() -> None:
    configuration = (ROOT / "docs" / "configuration.md").read_text()
    variables = _variables()
    assert len(variables) > 50
    assert {name for name in variables if f"`{name}`" not in configuration} == set()


def test_every_documented_setting_exists() -> None:
    """The tables of the API's settings name no variable the API does not read."""
    configuration = (ROOT / "docs" / "configuration.md").read_text()
    api_settings = configuration.split("## Database settings", 1)[0]
    first_cells = re.findall(r"^\| ([^|]+) \|", api_settings, re.MULTILINE)
    named = {name for cell in first_cells for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cell)}
    assert named - _variables() == set()
