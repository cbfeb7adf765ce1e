"""Settings, grouped per concern and read from the environment (and a `.env` file).

Every field documents itself; the README's configuration table lists the same variables.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DatabaseSettings", "ServerSettings", "Settings", "get_settings"]

LOCAL_DATABASE_URL = "postgresql://postgres:postgres@127.0.0.1:54322/postgres"


class _Base(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")


class DatabaseSettings(_Base):
    """Direct Postgres connection used by the Postgres transport and the health check."""

    url: str = Field(
        LOCAL_DATABASE_URL,
        validation_alias="DATABASE_URL",
        description="Postgres URL; defaults to the local stack (the Supabase CLI's local defaults).",
    )
    pool_min_size: int = Field(2, ge=1, validation_alias="DB_POOL_MIN_SIZE", description="Connections kept open.")
    pool_max_size: int = Field(
        16, ge=1, validation_alias="DB_POOL_MAX_SIZE", description="Most connections the API opens."
    )
    pool_timeout: float = Field(
        5.0, gt=0, validation_alias="DB_POOL_TIMEOUT", description="Seconds to wait for a free connection."
    )
    transaction_pooler: bool = Field(
        False,
        validation_alias="DB_TRANSACTION_POOLER",
        description="Set when DATABASE_URL goes through a transaction pooler (Supavisor port 6543): "
        "disables prepared statements.",
    )


class ServerSettings(_Base):
    """Where and how the HTTP API listens."""

    host: str = Field("127.0.0.1", validation_alias="API_HOST", description="Address to bind.")
    port: int = Field(8001, ge=1, le=65535, validation_alias="API_PORT", description="Port to bind.")
    auth: Literal["required", "disabled"] = Field(
        "required",
        validation_alias="API_AUTH",
        description="'disabled' lets anonymous requests act as the service; loopback addresses only.",
    )
    log_level: str = Field("info", validation_alias="LOG_LEVEL", description="uvicorn log level.")


class Settings:
    """All settings of the service, one group per concern."""

    def __init__(self) -> None:
        self.db = DatabaseSettings()
        self.server = ServerSettings()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
