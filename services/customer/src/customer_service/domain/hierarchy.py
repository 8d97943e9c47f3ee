"""Sub-customers: a parent reference that must never close a loop."""

from __future__ import annotations

from customer_service.domain.errors import FieldProblem, ValidationFailed

# QuickBooks Online allows a parent plus four levels of sub-customers.
MAX_DEPTH = 5


def nests_too_deep(parent_chain_length: int) -> bool:
    """Whether a customer under a parent chain this long (the parent and its ancestors) would be
    deeper than MAX_DEPTH levels."""
    return parent_chain_length >= MAX_DEPTH


TOO_DEEP = f"sub-customers nest at most {MAX_DEPTH} levels deep"


def check_new_parent(customer_id: str | None, parent_chain: list[str]) -> None:
    """`parent_chain` is the proposed parent followed by its ancestors, nearest first."""
    if customer_id is not None and customer_id in parent_chain:
        raise ValidationFailed(
            [FieldProblem("parent_id", "this parent would make a cycle", "cycle")]
        )
    if nests_too_deep(len(parent_chain)):
        raise ValidationFailed([FieldProblem("parent_id", TOO_DEEP, "too_deep")])
