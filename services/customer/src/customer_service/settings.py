from __future__ import annotations

from platform_kit.settings import ServiceSettings


class Settings(ServiceSettings):
    http_port: int = 8001
