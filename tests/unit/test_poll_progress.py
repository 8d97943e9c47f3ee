"""Offsets are committed up to the first unresolved record of each partition, however the
records were resolved (one at a time on the slow path, all at once on the fast one)."""

from __future__ import annotations

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from platform_kit.progress import PollProgress

A, B = TopicPartition("t", 0), TopicPartition("t", 1)


def record(tp: TopicPartition, offset: int) -> ConsumerRecord:
    return ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, None, b"{}", None, 0, 2, [])


def poll() -> tuple[PollProgress, dict[TopicPartition, list[ConsumerRecord]]]:
    batches = {A: [record(A, o) for o in (10, 11, 12)], B: [record(B, o) for o in (5, 6)]}
    return PollProgress(batches), batches


def test_resolving_all_at_once_commits_what_resolving_one_by_one_does() -> None:
    one_by_one, batches = poll()
    at_once, _ = poll()
    chosen = [batches[A][0], batches[A][2], batches[B][0], batches[B][1]]  # A's 11 stays open
    for r in chosen:
        one_by_one.resolve(r)
    at_once.resolve_all(chosen)
    for progress in (one_by_one, at_once):
        due = progress.uncommitted()
        assert {tp: m.offset for tp, m in due.items()} == {A: 11, B: 7}
        assert progress.unresolved() == {A: 11}
