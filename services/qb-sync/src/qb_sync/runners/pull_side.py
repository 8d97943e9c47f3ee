"""Everything connections + pull add to the service, built once and wired in app.py:
the `qb.webhooks` consumer and the puller loop started and stopped with the runtime."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from platform_kit.runtime import ServiceRuntime
from qb_sync.qbo.gateway import QboGateway
from qb_sync.qbo.intuit_oauth import IntuitOAuth
from qb_sync.runners.pull_worker import PullWorker
from qb_sync.settings import Settings
from qb_sync.store.ownership import RealmOwnership
from qb_sync.store.token_cipher import TokenCipher
from qb_sync.usecases.pull_realm import Puller
from qb_sync.usecases.stored_tokens import StoredCredentials

WEBHOOK_CONSUMER = "qb-sync-webhooks"


@dataclass
class PullSide:
    settings: Settings
    runtime: ServiceRuntime
    cipher: TokenCipher
    oauth: IntuitOAuth
    worker: PullWorker | None = None
    puller: Puller | None = None
    credentials: StoredCredentials | None = None

    def wake(self) -> None:
        if self.worker is not None:
            self.worker.wake()

    def make_credentials(self) -> StoredCredentials:
        """Needs the pool, so call it once the runtime has started."""
        if self.credentials is None:
            self.credentials = StoredCredentials(
                self.runtime.db,
                self.cipher,
                self.oauth,
                refresh_margin=timedelta(seconds=self.settings.qbo_refresh_margin_seconds),
            )
        return self.credentials

    def start_worker(self, gateway: QboGateway, ownership: RealmOwnership) -> None:
        if not self.settings.pull_enabled:
            return
        self.puller = Puller(self.runtime.db, gateway, self.settings)
        self.worker = PullWorker(
            self.runtime.db,
            self.puller,
            ownership,
            tick_seconds=self.settings.pull_tick_seconds,
            tenant_prefix=self.settings.pull_tenant_prefix,
        )
        self.worker.start()

    async def stop(self) -> None:
        if self.worker is not None:
            await self.worker.stop()


def pull_side(runtime: ServiceRuntime, settings: Settings) -> PullSide:
    return PullSide(
        settings=settings,
        runtime=runtime,
        cipher=TokenCipher(settings.qbo_token_key),
        oauth=IntuitOAuth(settings),
    )
