"""Sub-customers: a parent reference that must never close a loop."""

from __future__ import annotations

from customer_service.domain.errors import FieldProblem, ValidationFailed

# QuickBooks Online allows a parent plus four levels of sub-customers.
MAX_DEPTH = 5


def check_new_parent(customer_id: str | None, parent_chain: list[str]) -> None:
    """`parent_chain` is the proposed parent followed by its ancestors, nearest first."""
    if customer_id is not None and customer_id in parent_chain:
        raise ValidationFailed(
            [FieldProblem("parent_id", "this parent would make a cycle", "cycle")]
        )
    if len(parent_chain) >= MAX_DEPTH:
        raise ValidationFailed(
            [
                FieldProblem(
                    "parent_id",
                    f"sub-customers nest at most {MAX_DEPTH} levels deep",
                    "too_deep",
                )
            ]
        )
