"""Which records of a poll are resolved (applied, or in the DLQ), partition by partition.

Offsets can be committed up to the first unresolved record of each partition, so progress is
committed as it is made, and a poll cut short resumes exactly where it stopped.
"""

from __future__ import annotations

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata


class PollProgress:
    def __init__(self, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        self._offsets = {tp: [r.offset for r in records] for tp, records in batches.items()}
        self._resolved: dict[TopicPartition, set[int]] = {tp: set() for tp in batches}
        self._next: dict[TopicPartition, int] = {tp: 0 for tp in batches}  # index, not offset
        self._committed: dict[TopicPartition, int] = {}

    def resolve(self, record: ConsumerRecord) -> None:
        tp = TopicPartition(record.topic, record.partition)
        self._resolved[tp].add(record.offset)
        offsets, index = self._offsets[tp], self._next[tp]
        while index < len(offsets) and offsets[index] in self._resolved[tp]:
            index += 1
        self._next[tp] = index

    def resolve_all(self, records: list[ConsumerRecord]) -> None:
        """resolve() for many records, advancing each partition once."""
        touched = set()
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            self._resolved[tp].add(record.offset)
            touched.add(tp)
        for tp in touched:
            offsets, index, resolved = self._offsets[tp], self._next[tp], self._resolved[tp]
            while index < len(offsets) and offsets[index] in resolved:
                index += 1
            self._next[tp] = index

    def next_offset(self, tp: TopicPartition) -> int:
        """The first offset of the partition still to be resolved (or past the poll's last)."""
        offsets, index = self._offsets[tp], self._next[tp]
        return offsets[index] if index < len(offsets) else offsets[-1] + 1

    def uncommitted(self) -> dict[TopicPartition, OffsetAndMetadata]:
        """Offsets to commit for the resolved prefixes not committed yet."""
        due = {}
        for tp in self._offsets:
            offset = self.next_offset(tp)
            if offset > self._committed.get(tp, self._offsets[tp][0]):
                due[tp] = OffsetAndMetadata(offset, "")
        return due

    def mark_committed(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        for tp, meta in offsets.items():
            self._committed[tp] = meta.offset

    def unresolved(self) -> dict[TopicPartition, int]:
        """Where each partition must be read again from, for those not fully resolved."""
        return {
            tp: self.next_offset(tp)
            for tp, offsets in self._offsets.items()
            if self._next[tp] < len(offsets)
        }
