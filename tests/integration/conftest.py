"""Fixtures for tests that talk to the real local database directly."""

from __future__ import annotations

import uuid

import psycopg
import pytest


@pytest.fixture
async def conversation_id(admin: psycopg.AsyncConnection) -> str:
    """A fresh, live conversation owned by nobody (service only)."""
    cid = f"it-{uuid.uuid4()}"
    await admin.execute("select public.create_conversation(p_conversation_id => %s)", (cid,))
    return cid
