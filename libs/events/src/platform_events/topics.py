"""The one topic registry: names, keys, partitions, cleanup, event types, producers, consumers."""

from __future__ import annotations

from dataclasses import dataclass, field

from platform_events.contracts import billing, customer, quickbooks
from platform_events.envelope import Envelope, EventData


@dataclass(frozen=True)
class TopicSpec:
    name: str
    key: str
    partitions: int
    event_types: tuple[type[EventData], ...]
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    compacted: bool = False
    description: str = ""
    config: dict[str, str] = field(default_factory=dict)

    @property
    def dlq(self) -> str:
        return dead_letter_topic(self.name)

    def kafka_config(self) -> dict[str, str]:
        config = {"cleanup.policy": "compact" if self.compacted else "delete"}
        config.update(self.config)
        return config


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlq"


CUSTOMER_EVENTS = TopicSpec(
    name="customer.events",
    key="customer_id",
    partitions=6,
    event_types=(
        customer.CustomerCreated,
        customer.CustomerUpdated,
        customer.CustomerInactivated,
        customer.CustomerReactivated,
        customer.MappingSaved,
    ),
    producers=("customer",),
    consumers=("billing", "qb-sync"),
    description="Facts about customers and their QuickBooks mappings, in order per customer.",
)

BILLING_TRANSACTIONS = TopicSpec(
    name="billing.transactions",
    key="customer_id",
    partitions=6,
    event_types=(
        billing.InvoiceIssued,
        billing.InvoiceVoided,
        billing.PaymentReceived,
        billing.PaymentReversed,
        billing.RefundIssued,
        billing.CreditApplied,
        billing.AdjustmentPosted,
    ),
    producers=("orders", "payments", "billing"),
    consumers=("billing",),
    description="Money movements from payment producers and billing's own API.",
)

BILLING_BALANCES = TopicSpec(
    name="billing.balances",
    key="customer_id",
    partitions=6,
    event_types=(
        billing.BalanceChanged,
        billing.CreditLimitExceeded,
        billing.OverdueChanged,
        billing.BillingTransactionRejected,
    ),
    producers=("billing",),
    consumers=("customer", "dashboards"),
    description="Balance facts derived from the ledger.",
)

QB_CUSTOMERS = TopicSpec(
    name="qb.customers",
    key="realm_id:qb_customer_id",
    partitions=6,
    compacted=True,
    event_types=(quickbooks.QuickBooksCustomerMirrored,),
    producers=("qb-sync",),
    consumers=("customer",),
    description="Compacted mirror of QuickBooks customers, latest SyncToken per key.",
    config={"min.compaction.lag.ms": "0", "segment.ms": "3600000"},
)

QB_SYNC = TopicSpec(
    name="qb.sync",
    key="customer_id",
    partitions=6,
    event_types=(quickbooks.QuickBooksCustomerLinked, quickbooks.QuickBooksSyncFailed),
    producers=("qb-sync",),
    consumers=("customer",),
    description="Outcomes of pushing platform customers to QuickBooks.",
)

QB_WEBHOOKS = TopicSpec(
    name="qb.webhooks",
    key="realm_id:entity_id",
    partitions=6,
    event_types=(quickbooks.QuickBooksWebhookReceived,),
    producers=("qb-sync",),
    consumers=("qb-sync",),
    description="QuickBooks webhook notifications, accepted fast and processed asynchronously.",
)

TOPICS: tuple[TopicSpec, ...] = (
    CUSTOMER_EVENTS,
    BILLING_TRANSACTIONS,
    BILLING_BALANCES,
    QB_CUSTOMERS,
    QB_SYNC,
    QB_WEBHOOKS,
)


_TOPIC_OF_TYPE: dict[str, TopicSpec] = {}
for _spec in TOPICS:  # the first topic that declares a type carries it
    for _model in _spec.event_types:
        _TOPIC_OF_TYPE.setdefault(_model.event_type, _spec)


def topic_for_event(event_type: str) -> TopicSpec:
    """The topic the registry declares for an event type (KeyError for an unknown type)."""
    return _TOPIC_OF_TYPE[event_type]


_SPECS: dict[str, TopicSpec] = {spec.name: spec for spec in TOPICS}


def spec_of(topic: str) -> TopicSpec | None:
    return _SPECS.get(topic)


def key_of(spec: TopicSpec, data: EventData) -> str | None:
    """The Kafka key the registry prescribes (`spec.key`, fields joined by ':'), read from the
    event's data; None when the data does not name it (an unlinked mapping row, say)."""
    parts: list[str] = []
    for name in spec.key.split(":"):
        value = getattr(data, name, None)
        if value is None and name == "customer_id":  # customer facts carry a snapshot
            value = getattr(getattr(data, "customer", None), "customer_id", None)
        if value is None:
            return None
        parts.append(str(value))
    return ":".join(parts)


def key_mismatch(topic: str, key: bytes | None, envelope: Envelope, data: EventData) -> str | None:
    """Why this record's Kafka key does not fit its event, or None when it does.

    Per-key order is what consumers rely on, so a message keyed by anything else (another
    customer, a typo, no key) would be applied out of order with that aggregate's other events."""
    text = key.decode(errors="replace") if key is not None else None
    if text != envelope.subject:
        return f"key {text!r} is not the event's subject {envelope.subject!r}"
    spec = spec_of(topic)
    if spec is None and envelope.type in _TOPIC_OF_TYPE:  # a topic outside the registry
        spec = _TOPIC_OF_TYPE[envelope.type]
    if spec is None:
        return None
    expected = key_of(spec, data)
    if expected is not None and expected != text:
        return f"key {text!r} is not the event's {spec.key} {expected!r}"
    return None


def all_topic_names(with_dead_letters: bool = True) -> list[str]:
    names = [spec.name for spec in TOPICS]
    if with_dead_letters:
        names += [spec.dlq for spec in TOPICS]
    return names
