"""The operator CLI against the real local database, run in-process via main()."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from app.cli import main
from tests.conftest import DATABASE_URL as URL


@pytest.fixture
def admin() -> Iterator[psycopg.Connection]:
    with psycopg.connect(URL, autocommit=True) as conn:
        yield conn


def _conversation(admin: psycopg.Connection, messages: int = 2) -> str:
    cid = f"cli-{uuid.uuid4()}"
    admin.execute(
        "select public.create_conversation(p_conversation_id => %s, p_metadata => '{\"k\": 1}')", (cid,)
    )
    for i in range(messages):
        admin.execute(
            "select public.append_message(%s, %s, %s)", (cid, ("user", "assistant")[i % 2], f"m{i}")
        )
    return cid


def test_stats_prints_the_seed_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert {"total_conversations", "total_messages", "expired_conversations", "ttl_hours"} <= stats.keys()


def test_export_import_round_trip(
    admin: psycopg.Connection, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cid = _conversation(admin, messages=3)
    assert main(["export", cid]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [m["content"] for m in document["messages"]] == ["m0", "m1", "m2"]

    dump = tmp_path / "one.jsonl"
    dump.write_text(json.dumps(document) + "\n")
    admin.execute("select public.delete_conversation(%s)", (cid,))

    assert main(["import", str(dump)]) == 0
    restored = admin.execute("select public.export_conversation(%s)", (cid,)).fetchone()
    assert restored is not None
    assert [(m["role"], m["content"], m["seq"]) for m in restored[0]["messages"]] == [
        ("user", "m0", 1),
        ("assistant", "m1", 2),
        ("user", "m2", 3),
    ]
    assert restored[0]["metadata"] == {"k": 1}

    # A re-run finds it present and changes nothing.
    assert main(["import", str(dump)]) == 0
    assert "already present 1" in capsys.readouterr().err


def test_export_all_writes_json_lines(admin: psycopg.Connection, tmp_path: Path) -> None:
    ids = {_conversation(admin, messages=1) for _ in range(3)}
    out = tmp_path / "all.jsonl"
    assert main(["export", "-o", str(out)]) == 0
    exported = {json.loads(line)["conversation_id"] for line in out.read_text().splitlines()}
    assert ids <= exported


def test_import_reports_bad_lines_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"conversation_id": "x", "messages": [{"role": "robot", "content": "hi"}]}\nnot json\n')
    assert main(["import", str(bad)]) == 1
    errors = capsys.readouterr().err
    assert "line 1" in errors
    assert "line 2" in errors


def test_extend_and_cleanup(admin: psycopg.Connection, capsys: pytest.CaptureFixture[str]) -> None:
    cid = _conversation(admin, messages=0)
    expires = "select expires_at from public.ai_conversations where conversation_id = %s"
    before = admin.execute(expires, (cid,)).fetchone()
    assert main(["extend", cid, "--hours", "5"]) == 0
    assert json.loads(capsys.readouterr().out)["conversation_id"] == cid
    after = admin.execute(expires, (cid,)).fetchone()
    assert before is not None
    assert after is not None
    assert after[0] - before[0] == timedelta(hours=5)

    admin.execute(
        "update public.ai_conversations set expires_at = now() - interval '1 s' where conversation_id = %s",
        (cid,),
    )
    assert main(["cleanup"]) == 0
    assert json.loads(capsys.readouterr().out)["removed"] >= 1
    gone = admin.execute("select count(*) from public.ai_conversations where conversation_id = %s", (cid,))
    assert gone.fetchone() == (0,)


def test_unknown_conversation_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["extend", f"cli-missing-{uuid.uuid4()}"]) == 1
    assert "not_found" in capsys.readouterr().err


def test_serve_refuses_disabled_auth_on_a_public_address(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.config import get_settings

    monkeypatch.setenv("API_AUTH", "disabled")
    get_settings.cache_clear()
    try:
        assert main(["serve", "--host", "0.0.0.0"]) == 2  # noqa: S104
    finally:
        get_settings.cache_clear()
    assert "loopback" in capsys.readouterr().err
