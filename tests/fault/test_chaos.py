"""bench/chaos.py's smaller sibling in the suite: the whole platform (run_platform.py and its
supervisor) under the same mixed load, each service SIGKILLed a few times at random, then the
same checks. The broker and PostgreSQL are not restarted here: they are the tests' shared stack
(the bench run restarts its own). CHAOS_FAULT_KILLS moves the number of kills per service."""

from __future__ import annotations

import os

import pytest

from bench.chaos import Plan, Servers, print_report, run
from tests.support.ports import free_port

pytestmark = pytest.mark.integration


@pytest.mark.timeout(900)
async def test_killed_services_lose_double_and_leave_stuck_nothing(stack_env, tmp_path) -> None:
    if not os.environ.get("PROMETHEUS_URL"):
        pytest.skip("needs the local stack's Prometheus (PROMETHEUS_URL)")
    kills = int(os.environ.get("CHAOS_FAULT_KILLS", "3"))
    plan = Plan(kills=kills, broker_restarts=0, pg_restarts=0, settle_seconds=240)
    servers = Servers(
        kafka=stack_env["KAFKA_BOOTSTRAP_SERVERS"],
        database_url=stack_env["DATABASE_URL"],
        prometheus_url=os.environ["PROMETHEUS_URL"],
        prometheus_targets=os.environ["PROMETHEUS_TARGETS_DIR"],
    )
    ports = {
        name: free_port()
        for name in ("CUSTOMER", "BILLING", "QB_SYNC", "QBO_EMULATOR", "OPS_CONSOLE")
    }
    result = await run(plan, servers, tmp_path / "platform", ports, keep_database=False)
    print_report(result)
    assert result["kills"] == {"customer": kills, "billing": kills, "qb-sync": kills}
    assert all(result["supervisor_restarts"][name] >= kills for name in result["kills"])
    # The supervisor's counts reach Prometheus (its own /metrics, scraped with the services).
    assert all(result["restarts_scraped"].get(name, 0) >= kills for name in result["kills"]), result
    assert result["customers_acknowledged"] > 0 and result["payments_acknowledged"] > 0
    assert result["pushes_requested"] > 0
    assert result["payments_unresolved"] == 0, result
    assert result["figures"] == dict.fromkeys(result["figures"], 0), result["details"]
