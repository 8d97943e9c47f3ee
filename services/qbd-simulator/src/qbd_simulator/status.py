"""The statuses QuickBooks puts on each `*Rs`: code, severity (by range: 0-499 Info, 500-999 Warn,
1000+ Error) and message text, as in Intuit's status-code reference."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Status:
    code: int
    message: str

    @property
    def severity(self) -> str:
        if self.code < 500:
            return "Info"
        return "Warn" if self.code < 1000 else "Error"

    @property
    def is_error(self) -> bool:
        return self.code >= 1000


OK = Status(0, "Status OK")
NO_MATCH = Status(1, "A query request did not find a matching object in QuickBooks")


def not_found(element: str) -> Status:
    return Status(
        500,
        "The query request has not been fully completed. There was a required element "
        f'("{element}") that could not be found in QuickBooks.',
    )


def name_in_use(name: str) -> Status:
    return Status(3100, f'The name "{name}" of the list element is already in use.')


def object_not_found(ref: str) -> Status:
    return Status(3120, f'Object "{ref}" specified in the request cannot be found.')


def locked(list_id: str) -> Status:
    return Status(
        3170,
        f'There was an error when modifying a Customer list, element "{list_id}". QuickBooks '
        "error message: This record is being used by another user.",
    )


def stale_edit_sequence(edit_sequence: str) -> Status:
    return Status(3200, f'The provided edit sequence "{edit_sequence}" is out-of-date.')


PERMISSION_DENIED = Status(3260, "Insufficient permission level to perform this action.")


def bad_iterator(iterator_id: str) -> Status:
    return Status(3391, f'The iteratorID "{iterator_id}" in the request is not valid.')
