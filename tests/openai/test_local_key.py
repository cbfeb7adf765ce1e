"""`make run` (API_AUTH=disabled, the Supabase CLI's local JWT secret): docs/openai.md's Python
snippet works with the documented api_key, and its conversation is listed natively."""

from __future__ import annotations

import httpx
from openai import AsyncOpenAI

from app.config import LOCAL_JWT_SECRET, LOCAL_SERVICE_ROLE_KEY
from app.server import create_app
from tests.api.helpers import make_settings
from tests.harness.servers import serve_app


async def test_readme_snippet_with_the_local_service_key() -> None:
    settings = make_settings(
        server={"API_AUTH": "disabled"},
        supabase={"SUPABASE_SERVICE_ROLE_KEY": None},
        auth={"SUPABASE_JWT_SECRET": LOCAL_JWT_SECRET},
    )
    async with (
        serve_app(create_app(settings)) as url,
        AsyncOpenAI(base_url=f"{url}/v1", api_key=LOCAL_SERVICE_ROLE_KEY, max_retries=0) as client,
    ):
        conversation = await client.conversations.create(metadata={"app": "readme"})
        response = await client.responses.create(model="any", input="Hello!", conversation=conversation.id)
        assert "Hello!" in response.output_text
        async with httpx.AsyncClient(base_url=url) as http:
            listed = (await http.get("/conversations", params={"limit": 100})).json()["conversations"]
    assert conversation.id in [c["conversation_id"] for c in listed]
