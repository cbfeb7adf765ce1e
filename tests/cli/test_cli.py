"""The operator CLI against the real local database, run in-process via main().

main() runs the command's own event loop (asyncio.run), so each call goes to a thread, off
the test's loop, while the shared async `admin` connection prepares and inspects the rows.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from app.__main__ import main

Admin = psycopg.AsyncConnection[Any]


async def cli(*argv: str) -> int:
    return await asyncio.to_thread(main, argv)


async def _conversation(admin: Admin, messages: int = 2) -> str:
    cid = f"cli-{uuid.uuid4()}"
    await admin.execute(
        "select public.create_conversation(p_conversation_id => %s, p_metadata => '{\"k\": 1}')", (cid,)
    )
    for i in range(messages):
        await admin.execute(
            "select public.append_message(%s, %s, %s)", (cid, ("user", "assistant")[i % 2], f"m{i}")
        )
    return cid


async def test_stats_prints_the_seed_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert await cli("stats") == 0
    stats = json.loads(capsys.readouterr().out)
    assert {"total_conversations", "total_messages", "expired_conversations", "ttl_hours"} <= stats.keys()


async def test_export_import_round_trip(
    admin: Admin, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cid = await _conversation(admin, messages=3)
    assert await cli("export", cid) == 0
    document = json.loads(capsys.readouterr().out)
    assert [m["content"] for m in document["messages"]] == ["m0", "m1", "m2"]

    dump = tmp_path / "one.jsonl"
    dump.write_text(json.dumps(document) + "\n")
    await admin.execute("select public.delete_conversation(%s)", (cid,))

    assert await cli("import", str(dump)) == 0
    restored = await (await admin.execute("select public.export_conversation(%s)", (cid,))).fetchone()
    assert restored is not None
    assert [(m["role"], m["content"], m["seq"]) for m in restored[0]["messages"]] == [
        ("user", "m0", 1),
        ("assistant", "m1", 2),
        ("user", "m2", 3),
    ]
    assert restored[0]["metadata"] == {"k": 1}

    # A re-run finds it present and changes nothing.
    assert await cli("import", str(dump)) == 0
    assert "already present 1" in capsys.readouterr().err


async def test_export_all_writes_json_lines(admin: Admin, tmp_path: Path) -> None:
    ids = {await _conversation(admin, messages=1) for _ in range(3)}
    out = tmp_path / "all.jsonl"
    assert await cli("export", "-o", str(out)) == 0
    exported = {json.loads(line)["conversation_id"] for line in out.read_text().splitlines()}
    assert ids <= exported


async def test_import_reports_bad_lines_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"conversation_id": "x", "messages": [{"role": "robot", "content": "hi"}]}\nnot json\n')
    assert await cli("import", str(bad)) == 1
    errors = capsys.readouterr().err
    assert "line 1" in errors
    assert "line 2" in errors


async def test_extend_and_cleanup(admin: Admin, capsys: pytest.CaptureFixture[str]) -> None:
    cid = await _conversation(admin, messages=0)
    expires = "select expires_at from public.ai_conversations where conversation_id = %s"
    before = await (await admin.execute(expires, (cid,))).fetchone()
    assert await cli("extend", cid, "--hours", "5") == 0
    assert json.loads(capsys.readouterr().out)["conversation_id"] == cid
    after = await (await admin.execute(expires, (cid,))).fetchone()
    assert before is not None
    assert after is not None
    assert after[0] - before[0] == timedelta(hours=5)

    await admin.execute(
        "update public.ai_conversations set expires_at = now() - interval '1 s' where conversation_id = %s",
        (cid,),
    )
    assert await cli("cleanup") == 0
    assert json.loads(capsys.readouterr().out)["removed"] >= 1
    gone = await admin.execute(
        "select count(*) from public.ai_conversations where conversation_id = %s", (cid,)
    )
    assert await gone.fetchone() == (0,)


async def test_unknown_conversation_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert await cli("extend", f"cli-missing-{uuid.uuid4()}") == 1
    assert "not_found" in capsys.readouterr().err


async def test_serve_refuses_disabled_auth_on_a_public_address(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.config import get_settings

    monkeypatch.setenv("API_AUTH", "disabled")
    get_settings.cache_clear()
    try:
        assert await cli("serve", "--host", "0.0.0.0") == 2  # noqa: S104
    finally:
        get_settings.cache_clear()
    assert "loopback" in capsys.readouterr().err


async def test_disabled_auth_on_a_public_api_host_is_refused_before_any_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.config import get_settings

    monkeypatch.setenv("API_AUTH", "disabled")
    monkeypatch.setenv("API_HOST", "0.0.0.0")  # noqa: S104
    get_settings.cache_clear()
    try:
        assert await cli("serve") == 2
    finally:
        get_settings.cache_clear()
    assert "loopback" in capsys.readouterr().err


async def test_litestar_commands_sit_next_to_ours(capsys: pytest.CaptureFixture[str]) -> None:
    assert await cli("--help") == 0
    listed = capsys.readouterr().out
    for command in ("serve", "stats", "cleanup", "extend", "export", "import", "routes", "schema", "run"):
        assert f" {command} " in listed


async def test_a_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert await cli("extend") == 2
    assert "Missing argument" in capsys.readouterr().err
