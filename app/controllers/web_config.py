"""What the web client needs to know before its user signs in."""

from __future__ import annotations

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency

from app.auth.local_tokens import is_local_secret
from app.auth.loopback import is_loopback
from app.config import Settings
from app.webclient import SupabaseAuthConfig, supabase_auth_config

__all__ = ["WebConfig", "WebConfigController"]


class WebConfig(msgspec.Struct):
    """`supabase`: the project to sign in with (email and password through supabase-js), or
    null. `local_tokens`: the server verifies tokens signed with the Supabase CLI's public
    local secret (on loopback only), so `python -m app token --user <uuid>` mints one that
    works here without --force."""

    supabase: SupabaseAuthConfig | None
    local_tokens: bool


class WebConfigController(Controller):
    path = "/web/config"
    tags = ["web client"]

    @get(
        "/",
        summary="The web client's sign-in options",
        description="Public, like the page itself: the Supabase project's URL and anon key (public "
        "by design; never the service key) when SUPABASE_URL and SUPABASE_ANON_KEY are set, and "
        "whether locally minted tokens are accepted.",
        operation_id="web_config",
        exclude_from_auth=True,
    )
    async def web_config(self, settings: NamedDependency[Settings]) -> WebConfig:
        return WebConfig(
            supabase=supabase_auth_config(settings),
            local_tokens=is_local_secret(settings) and is_loopback(settings.server.host),
        )
