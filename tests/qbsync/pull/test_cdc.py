"""Change data capture on the schedule: edits made in QuickBooks reach the mirror; windows over
QuickBooks' cap lose nothing; a watermark too old for CDC falls back to a full import."""

from __future__ import annotations

from qbo_emulator.testing import EmulatorServer

from .conftest import PullTenant, eventually


async def connected_with(emu: EmulatorServer, tenant: PullTenant, count: int) -> list[dict]:
    emu.seed_realm(tenant.realm_id)
    created = emu.seed(
        tenant.realm_id,
        "customers",
        [{"DisplayName": f"CDC {tenant.realm_id} #{i}"} for i in range(count)],
    )
    await tenant.connect()
    await tenant.wait_import_done()
    return created


async def make_cdc_due(tenant: PullTenant) -> None:
    """What the schedule does when the interval has passed."""
    await tenant.db.execute(
        "UPDATE pull_state SET cdc_due_at = now() WHERE tenant_id = $1 AND realm_id = $2",
        tenant.tenant_id,
        tenant.realm_id,
    )
    tenant.app.state.pull.wake()


async def cdc_ran_after(tenant: PullTenant, previous: str | None) -> dict:
    async def ran() -> dict | None:
        status = await tenant.pull_status()
        last = status["cdc_last_run_at"]
        return status if last and last != previous else None

    return await eventually(ran)  # type: ignore[no-any-return]


async def test_scheduled_cdc_mirrors_an_edit_made_in_quickbooks(
    emulator: EmulatorServer, pull_tenant: PullTenant
) -> None:
    created = await connected_with(emulator, pull_tenant, 3)
    target = created[1]["Id"]
    emulator.edit_customer(pull_tenant.realm_id, target, CompanyName="Edited in QuickBooks")

    await make_cdc_due(pull_tenant)
    await cdc_ran_after(pull_tenant, None)

    events = [
        e["data"] for e in await pull_tenant.mirrored() if e["data"]["qb_customer_id"] == target
    ]
    assert [(e["sync_token"], e["company_name"]) for e in events] == [
        (0, None),
        (1, "Edited in QuickBooks"),
    ]
    # The other customers did not change, so nothing new was published for them.
    assert len(await pull_tenant.mirrored()) == 4


async def test_a_cdc_window_over_the_cap_loses_no_change(
    emulator: EmulatorServer, pull_tenant: PullTenant
) -> None:
    created = await connected_with(emulator, pull_tenant, 12)
    pull = pull_tenant.app.state.pull
    original = pull.puller.settings
    emulator.configure(cdc_max_objects=5)
    pull.puller.settings = original.model_copy(update={"pull_cdc_cap": 5, "pull_page_size": 4})
    try:
        for customer in created:
            emulator.edit_customer(pull_tenant.realm_id, customer["Id"], Notes="bulk edit")
        over_cap_before = pull.puller.stats["cdc_over_cap"]
        await make_cdc_due(pull_tenant)
        await cdc_ran_after(pull_tenant, None)
    finally:
        emulator.configure(cdc_max_objects=1000)
        pull.puller.settings = original

    assert pull.puller.stats["cdc_over_cap"] == over_cap_before + 1
    edited = {
        e["data"]["qb_customer_id"]
        for e in await pull_tenant.mirrored()
        if e["data"]["sync_token"] == 1
    }
    assert edited == {c["Id"] for c in created}  # all 12, though CDC returned only 5


async def test_a_watermark_older_than_29_days_runs_a_full_import_instead(
    emulator: EmulatorServer, pull_tenant: PullTenant
) -> None:
    await connected_with(emulator, pull_tenant, 2)
    first = await pull_tenant.pull_status()
    await pull_tenant.db.execute(
        """UPDATE pull_state SET cdc_watermark = now() - interval '30 days', cdc_due_at = now()
            WHERE tenant_id = $1 AND realm_id = $2""",
        pull_tenant.tenant_id,
        pull_tenant.realm_id,
    )
    pull_tenant.app.state.pull.wake()

    async def imported_again() -> bool:
        status = await pull_tenant.pull_status()
        return (
            not status["import_pending"]
            and status["import_finished_at"] != first["import_finished_at"]
        )

    await eventually(imported_again)
    cdc_calls = [
        r for r in emulator.requests() if f"/company/{pull_tenant.realm_id}/cdc" in r["path"]
    ]
    assert cdc_calls == []  # QuickBooks would refuse a 30-day window: it was never asked
    status = await pull_tenant.pull_status()
    assert status["cdc_watermark"] > first["cdc_watermark"]
