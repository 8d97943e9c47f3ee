"""Facts qb-sync publishes: the QuickBooks mirror (`qb.customers`) and sync outcomes (`qb.sync`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from platform_events.envelope import EventData


class QuickBooksContact(BaseModel):
    """A contact person QuickBooks keeps on a customer (QuickBooks Desktop's `Contacts`, or its
    flat Contact/Email/Phone/Mobile when it has none)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    name: str
    email: str | None = None
    phone: str | None = None
    mobile: str | None = None


class QuickBooksCustomerMirrored(EventData):
    """Latest known state of one QuickBooks customer, keyed `<realm_id>:<qb_customer_id>`.
    A QuickBooks Desktop company is a realm too: its realm_id is qb-sync's connection id, its
    qb_customer_id the ListID, `sync_token` a version qb-sync counts per customer (Desktop's
    EditSequence is no counter), `display_name` the customer's Name and `full_name` the
    `Parent:Job` FullName."""

    event_type = "qb.customer-mirrored.v1"
    realm_id: str
    qb_customer_id: str
    sync_token: int = Field(ge=0)
    display_name: str
    company_name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    active: bool = True
    parent_qb_customer_id: str | None = None
    email: str | None = None
    phone: str | None = None
    mobile: str | None = None
    currency: str | None = None
    billing_address: dict[str, Any] | None = None
    shipping_address: dict[str, Any] | None = None
    merged_into_qb_customer_id: str | None = Field(
        default=None, description="Set when QuickBooks merged this customer into another"
    )
    linked_customer_id: str | None = Field(
        default=None,
        description="On the version a push created or matched: the platform customer it is "
        "linked to. QuickBooksCustomerLinked (qb.sync) says so too, but may arrive after this "
        "mirror, which would otherwise show the new QuickBooks customer as unmapped",
    )
    provider: Literal["qbo", "qbd"] = Field(
        default="qbo", description="qbo: QuickBooks Online; qbd: QuickBooks Desktop"
    )
    full_name: str | None = Field(
        default=None,
        description="QuickBooks Desktop's FullName (`Parent:Job`, exact): the name a link by "
        "name matches",
    )
    contacts: list[QuickBooksContact] | None = Field(
        default=None, description="Contact persons QuickBooks keeps on the customer"
    )
    deleted: bool = Field(
        default=False, description="QuickBooks Desktop deleted the customer from its list"
    )


class QuickBooksCustomerLinked(EventData):
    event_type = "qb.customer-linked.v1"
    realm_id: str
    customer_id: str
    qb_customer_id: str
    sync_token: int = Field(ge=0)
    how: str = Field(description="created | matched_by_name | linked_by_user | merged")


class QuickBooksSyncFailed(EventData):
    event_type = "qb.sync-failed.v1"
    realm_id: str
    customer_id: str
    status: str = Field(description="failed | conflict | needs_link")
    error_code: str | None = None
    error_message: str
    attempts: int = Field(ge=1)
    candidate_qb_customer_id: str | None = None


class QuickBooksWebhookReceived(EventData):
    """One entity change QuickBooks announced by webhook (legacy or CloudEvents format), keyed
    `<realm_id>:<entity_id>`. Only a hint: qb-sync re-reads QuickBooks before mirroring anything."""

    event_type = "qb.webhook-received.v1"
    realm_id: str
    entity: str = Field(description="QuickBooks entity name, e.g. Customer")
    entity_id: str
    operation: str = Field(description="Create | Update | Delete | Merge | Void | Emailed ...")
    deleted_id: str | None = Field(default=None, description="On Merge: the merged-away id")
    last_updated: str | None = None
