from __future__ import annotations

from platform_kit.settings import ServiceSettings


class Settings(ServiceSettings):
    http_port: int = 8005
    # Where the console reads from. The services' own APIs answer for the caller's tenant; the
    # console forwards the operator's bearer token, so it holds no credentials of its own.
    prometheus_url: str = "http://127.0.0.1:9090"
    customer_url: str = "http://127.0.0.1:8001"
    billing_url: str = "http://127.0.0.1:8002"
    qb_sync_url: str = "http://127.0.0.1:8003"
    # Empty when real QuickBooks is used (no emulator to watch).
    qbo_emulator_url: str = "http://127.0.0.1:8004"
    # QuickBooks Online's documented throttle: 500 requests per minute per company.
    qbo_calls_per_minute_limit: int = 500
    upstream_timeout_seconds: float = 10.0
    # The supervisor's status file under `./dev up` (deploy/local/supervisor.py): each process's
    # state and restart count. Empty or missing: restarts come from Prometheus alone.
    platform_status_file: str = ""
    # Newest dead letters shown per topic (a replay still covers every one).
    dead_letters_shown: int = 200
