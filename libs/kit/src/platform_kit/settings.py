"""Settings every service reads from the environment (names shared with docker-compose.yml)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    database_url: str = Field(default="postgresql://postgres@127.0.0.1:15432/platform")
    kafka_bootstrap_servers: str = Field(default="127.0.0.1:19092")
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    log_level: str = "INFO"
    # How many outbox rows the relay publishes per round trip.
    outbox_batch_size: int = 1000
    consumer_max_records: int = 500
