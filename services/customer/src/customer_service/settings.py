from __future__ import annotations

from platform_kit.settings import ServiceSettings


class Settings(ServiceSettings):
    http_port: int = 8001
    # JSON bodies; the mapping form with thousands of rows is the largest legitimate one.
    max_body_bytes: int = 2_000_000
    attachment_max_bytes: int = 10_000_000
    run_consumers: bool = True
