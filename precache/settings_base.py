"""The base of every ``PRECACHE_*`` settings object (own module: the connection settings
blocks and :mod:`precache.config` both build on it)."""

from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "PRECACHE_"


class PrecacheSettings(BaseSettings):
    """Base of every component's settings: env prefix, frozen, unknown env vars ignored."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="ignore", env_file=None
    )
