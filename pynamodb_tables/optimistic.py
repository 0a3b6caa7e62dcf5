"""Decide, write on condition, decide again from the refusal: the one driver of every conditional write.

An operation supplies only its decision, a step that takes what is known of the item
(:class:`Seen`), writes on a condition that holds only in that state, and returns its result.
Its write refused, the step is taken again on the item as the refusal returned it (DynamoDB
sends it back: no read), after a backoff from the second refusal on, up to
:data:`~pynamodb_tables.retry.CONTENTION_ATTEMPTS` times. The step raises the operation's own
errors (the region already succeeded, the job ended...) when the item it is given says so.
"""

from dataclasses import dataclass, replace
from typing import Any, Callable, Generic, Mapping, Optional, TypeVar

from .failures import ConditionNotMet, Failed
from .retry import CONTENTION_ATTEMPTS, backoff

M = TypeVar("M")
T = TypeVar("T")


@dataclass(frozen=True)
class Seen(Generic[M]):
    """What a step knows of the item."""

    item: Optional[M] = None  # the item as last seen (``None``: none is stored, where ``known``)
    known: bool = False  # whether ``item`` came from DynamoDB (else: nothing read yet, or the caller's copy)
    refusals: int = 0  # writes refused so far
    moved_on: int = 0  # ... by another writer's progress that left the step's decision standing
    after_unknown: bool = False  # an earlier send of a write may have landed (its answer was lost)
    cause: Optional[BaseException] = None  # DynamoDB's last refusal

    def read(self, item: Optional[M]) -> "Seen[M]":
        """The same, with ``item`` read from DynamoDB."""
        return replace(self, item=item, known=True)


def settle(step: Callable[[Seen[M]], T], seen: Optional[Seen[M]] = None, *, gave_up: str,
           key: Optional[Mapping[str, Any]] = None, same_decision: Optional[Callable[[Any, Any], bool]] = None,
           retry: bool = True) -> T:
    """Take ``step`` until its write lands; on a refusal, again on the item the refusal returned.

    ``same_decision(before, after)``: whether a refusal left the decision standing (counted in
    :attr:`Seen.moved_on`, so that a step can write on a weaker condition when another writer keeps
    moving the item on). ``retry=False``: a refusal is raised as it is (the caller acts only on the
    item as it was seen). After :data:`CONTENTION_ATTEMPTS` refusals: a failure saying ``gave_up``.
    """
    seen = seen or Seen()
    for attempt in range(CONTENTION_ATTEMPTS):
        try:
            return step(seen)
        except ConditionNotMet as refused:
            if not retry:
                raise
            moved_on = (same_decision is not None and seen.item is not None and refused.stored is not None
                        and same_decision(seen.item, refused.stored))
            seen = Seen(refused.stored, True, seen.refusals + 1, seen.moved_on + int(moved_on),
                        seen.after_unknown or refused.after_unknown, refused.__cause__)
            if attempt:  # (the first refusal carries the item as it is now: decided again at once)
                backoff(attempt - 1)
    raise Failed(f"{gave_up}: it kept changing ({CONTENTION_ATTEMPTS} writes refused)", key=key) from seen.cause
