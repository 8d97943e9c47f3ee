"""Test control API under `/_admin`: seed, inspect, reset, configure, inject faults (the use
cases live in control.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse

from qbo_emulator import control
from qbo_emulator.deps import EmulatorDep

router = APIRouter(prefix="/_admin")
Spec = Body(default={})


async def admin_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, control.AdminError)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status)


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/state")
async def state(emu: EmulatorDep) -> dict[str, Any]:
    return emu.state()


@router.get("/requests")
async def requests_log(emu: EmulatorDep) -> list[dict[str, Any]]:
    return emu.store.request_log


@router.post("/reset")
async def reset(emu: EmulatorDep) -> dict[str, str]:
    emu.reset()
    return {"status": "reset"}


@router.get("/config")
async def get_config(emu: EmulatorDep) -> dict[str, Any]:
    return emu.settings.as_dict()


@router.patch("/config")
async def set_config(emu: EmulatorDep, values: dict[str, Any] = Body(...)) -> dict[str, Any]:
    return control.configure(emu, values)


@router.post("/realms")
async def add_realm(emu: EmulatorDep, spec: dict[str, Any] = Spec) -> dict[str, Any]:
    realm, tokens = emu.add_realm(spec.get("realm_id"), spec.get("name"), spec.get("home_currency"))
    return {"realm_id": realm.realm_id, **tokens}


@router.post("/realms/{realm_id}/tokens")
async def new_tokens(realm_id: str, emu: EmulatorDep) -> dict[str, Any]:
    control.realm_of(emu, realm_id).require_tokens = True
    emu.dirty = True
    return {"realm_id": realm_id, **emu.tokens.issue(realm_id)}


@router.post("/tokens/expire")
async def expire(emu: EmulatorDep, spec: dict[str, Any] = Spec) -> dict[str, int]:
    return {"expired": emu.tokens.expire(spec.get("realm_id"))}


@router.post("/tokens/revoke")
async def revoke(emu: EmulatorDep, spec: dict[str, Any] = Spec) -> dict[str, int]:
    return {"revoked": emu.tokens.revoke(token=spec.get("token"), realm_id=spec.get("realm_id"))}


@router.post("/realms/{realm_id}/customers/{customer_id}/edit")
async def other_user_edit(
    realm_id: str, customer_id: str, emu: EmulatorDep, fields: dict[str, Any] = Spec
) -> dict[str, Any]:
    return control.other_user_edit(emu, realm_id, customer_id, fields)


@router.post("/realms/{realm_id}/merge")
async def merge(
    realm_id: str, emu: EmulatorDep, spec: dict[str, Any] = Body(...)
) -> dict[str, Any]:
    return control.merge(emu, realm_id, spec)


@router.post("/realms/{realm_id}/seed")
async def seed_realm(
    realm_id: str, emu: EmulatorDep, spec: dict[str, Any] = Spec
) -> dict[str, Any]:
    return control.seed_realm(emu, realm_id, spec)


@router.put("/realms/{realm_id}/auth")
async def set_auth(
    realm_id: str, emu: EmulatorDep, spec: dict[str, Any] = Body(...)
) -> dict[str, Any]:
    """{"require_tokens": bool}: whether only issued access tokens are accepted."""
    realm = control.realm_of(emu, realm_id)
    realm.require_tokens = bool(spec["require_tokens"])
    emu.dirty = True
    return {"realm_id": realm_id, "require_tokens": realm.require_tokens}


@router.put("/realms/{realm_id}/limits")
async def set_limits(
    realm_id: str, emu: EmulatorDep, spec: dict[str, Any] = Body(...)
) -> dict[str, Any]:
    return control.set_limits(emu, realm_id, spec)


@router.get("/realms/{realm_id}/counters")
async def realm_counters(realm_id: str, emu: EmulatorDep) -> dict[str, Any]:
    return control.realm_counters(emu, realm_id)


@router.get("/realms/{realm_id}/customers")
async def realm_customers(realm_id: str, emu: EmulatorDep) -> dict[str, Any]:
    return control.realm_customers(emu, realm_id)


# Declared after /merge and /seed so that the path parameter does not swallow them.
@router.post("/realms/{realm_id}/{kind}")
async def seed(
    realm_id: str, kind: str, emu: EmulatorDep, records: list[dict[str, Any]] = Body(...)
) -> list[dict[str, Any]]:
    return control.seed_records(emu, realm_id, kind, records)


@router.get("/faults")
async def list_faults(emu: EmulatorDep) -> list[dict[str, Any]]:
    return emu.faults.dump()


@router.post("/faults")
async def add_fault(emu: EmulatorDep, spec: dict[str, Any] = Body(...)) -> dict[str, Any]:
    return {"faults": control.add_fault(emu, spec)}


@router.put("/faults")
async def set_faults(emu: EmulatorDep, spec: dict[str, Any] = Spec) -> dict[str, Any]:
    return {"faults": control.replace_faults(emu, spec)}


@router.delete("/faults")
async def clear_faults(emu: EmulatorDep) -> dict[str, str]:
    emu.faults.clear()
    return {"status": "cleared"}


@router.get("/webhooks")
async def webhooks(emu: EmulatorDep) -> list[dict[str, Any]]:
    return emu.notifier.deliveries


@router.post("/webhooks/{seq}/redeliver")
async def redeliver(seq: int, emu: EmulatorDep) -> dict[str, Any]:
    """Send notification `seq` again, byte for byte (QuickBooks may deliver twice)."""
    try:
        return emu.notifier.redeliver(seq)
    except IndexError as exc:
        raise control.AdminError(404, f"no webhook delivery {seq}") from exc


@router.post("/webhooks/hold")
async def hold_webhooks(emu: EmulatorDep) -> dict[str, Any]:
    """Keep new notifications back until released (a stalled delivery queue)."""
    emu.notifier.hold()
    return {"holding": True}


@router.post("/webhooks/release")
async def release_webhooks(emu: EmulatorDep, spec: dict[str, Any] = Spec) -> dict[str, Any]:
    """Stop holding and send the held notifications: {"order": "fifo" | "reverse" |
    [seq, ...]} (default fifo; a list must name every held one, in the order wanted)."""
    try:
        return {"released": emu.notifier.release(spec.get("order", "fifo"))}
    except ValueError as exc:
        raise control.AdminError(400, str(exc)) from exc


@router.post("/snapshot")
async def snapshot(emu: EmulatorDep) -> dict[str, Any]:
    emu.dirty = True
    emu.save()
    return {"saved": str(emu.snapshot) if emu.snapshot else None}
