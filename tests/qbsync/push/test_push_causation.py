"""An event sent in reaction to another names it: the link a push made answers the mapping
change that asked for the push."""

from __future__ import annotations

import json
from typing import Any

from platform_events.topics import CUSTOMER_EVENTS, QB_SYNC
from tests.customer.kafka_tail import TopicTail
from tests.qbsync.push.conftest import PushWorld


def _event(record: Any) -> dict[str, Any]:
    return json.loads(record.value)  # type: ignore[no-any-return]


async def test_the_link_a_push_made_names_the_mapping_change_that_asked_for_it(
    world: PushWorld,
) -> None:
    bootstrap = world.app.state.runtime.settings.kafka_bootstrap_servers
    async with (
        TopicTail(bootstrap, CUSTOMER_EVENTS.name) as mapping_changes,
        TopicTail(bootstrap, QB_SYNC.name) as outcomes,
    ):
        customer_id = (await world.create_customer(company_name="Causes Ltd"))["customer_id"]
        await world.push(customer_id)
        await world.wait_status(customer_id, "synced")

        def asked(record: Any) -> bool:
            event = _event(record)
            return (
                event["type"] == "customer.mapping-saved.v1"
                and event["data"]["customer_id"] == customer_id
                and event["data"]["choice"] == "push_to_quickbooks"
            )

        def linked(record: Any) -> bool:
            event = _event(record)
            return (
                event["type"] == "qb.customer-linked.v1"
                and event["data"]["customer_id"] == customer_id
            )

        [request] = await mapping_changes.collect(asked, 1)
        [link] = await outcomes.collect(linked, 1)
    # The push request orders among the company's mapping changes like any other.
    assert isinstance(_event(request)["data"]["mapping_sequence"], int)
    assert _event(link)["causation_id"] == _event(request)["id"]
    assert dict(link.headers)["ce_causationid"].decode() == _event(request)["id"]
