"""The QuickBooks customer mapping form: choices per row and which rows a save changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from customer_service.domain.errors import FieldProblem, ValidationFailed

Choice = Literal["dont_import", "create_here", "link_existing"]
FORM_CHOICES: tuple[str, ...] = ("dont_import", "create_here", "link_existing")
# "Link to an existing customer" names a customer per row; as a default it would have none.
DEFAULT_CHOICES: tuple[str, ...] = ("dont_import", "create_here")
PUSH = "push_to_quickbooks"


@dataclass(frozen=True)
class CurrentMapping:
    qb_customer_id: str
    choice: str
    customer_id: str | None


@dataclass(frozen=True)
class RequestedRow:
    qb_customer_id: str
    choice: str
    customer_id: str | None = None


@dataclass(frozen=True)
class RowChange:
    qb_customer_id: str
    choice: str
    previous: CurrentMapping | None
    # For link_existing: the chosen customer; for create_here the handler fills a new one.
    customer_id: str | None


def check_default_choice(default_choice: str | None) -> None:
    if default_choice is not None and default_choice not in DEFAULT_CHOICES:
        raise ValidationFailed(
            [
                FieldProblem(
                    "default_choice",
                    f"the default is one of {', '.join(DEFAULT_CHOICES)}; "
                    "link rows one by one, each with its customer_id",
                    "invalid_default",
                )
            ]
        )


def rows_to_apply(
    directory_ids: list[str],
    current: dict[str, CurrentMapping],
    requested: list[RequestedRow],
    default_choice: str | None,
) -> list[RowChange]:
    """Explicit rows first; the default applies to every directory row that has no mapping yet
    and was not named. A row whose outcome equals its current mapping is not a change."""
    wanted: dict[str, RequestedRow] = {r.qb_customer_id: r for r in requested}
    if default_choice is not None:
        for qb_id in directory_ids:
            if qb_id not in current and qb_id not in wanted:
                wanted[qb_id] = RequestedRow(qb_id, default_choice)
    changes = []
    for qb_id, row in wanted.items():
        previous = current.get(qb_id)
        if previous is not None and previous.choice == row.choice:
            same_target = row.choice != "link_existing" or previous.customer_id == row.customer_id
            if same_target:
                continue
        target = row.customer_id if row.choice == "link_existing" else None
        changes.append(RowChange(qb_id, row.choice, previous, target))
    return changes
