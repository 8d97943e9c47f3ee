"""Everything push adds to the service, wired in app.py: the customer.events consumer, the
push worker (started once the gateway exists). The sync status API reaches it through
api/deps.py."""

from __future__ import annotations

from dataclasses import dataclass

from platform_kit.runtime import ServiceRuntime
from qb_sync.qbo.gateway import QboGateway
from qb_sync.runners.push_worker import PushWorker
from qb_sync.settings import Settings
from qb_sync.store.ownership import RealmOwnership
from qb_sync.usecases.push_row import Pusher

CONSUMER = "qb-sync"


@dataclass
class PushSide:
    settings: Settings
    runtime: ServiceRuntime
    worker: PushWorker | None = None
    pusher: Pusher | None = None
    gateway: QboGateway | None = None
    ownership: RealmOwnership | None = None
    connected_only: bool = True

    def wake(self) -> None:
        if self.worker is not None:
            self.worker.wake()

    def start_worker(
        self, gateway: QboGateway, ownership: RealmOwnership, *, connected_only: bool = True
    ) -> None:
        """`connected_only=False` when the app was given fixed credentials: then no connection
        row is needed to push."""
        self.gateway = gateway
        self.ownership = ownership
        self.connected_only = connected_only
        self.pusher = Pusher(self.runtime.db, gateway, self.settings)
        if not self.settings.push_enabled:
            return
        self.worker = PushWorker(
            self.runtime.db, self.pusher, self.settings, ownership, connected_only=connected_only
        )
        self.worker.start()

    def restart_worker(self) -> None:
        """After `stop` (tests hand the pushing to another process meanwhile)."""
        assert self.gateway is not None and self.ownership is not None
        self.start_worker(self.gateway, self.ownership, connected_only=self.connected_only)

    async def stop(self) -> None:
        """Stop pushing and let go of the companies held, so another instance may take them."""
        if self.worker is not None:
            await self.worker.stop()
            self.worker = None
        if self.ownership is not None:
            await self.ownership.release_all()
