"""What the package's internals raise to its operations, never to a caller.

- :class:`ConditionNotMet` (and :class:`TransactionRefused`): a conditional write was refused and
  changed nothing; it carries the item as stored, so the operation decides again
  (``store.settle``).
- :class:`Failed`: the operation failed (a request DynamoDB did not take, an unknown item, an
  item that cannot be read...). The operation's wrapper (``errors.operation``) raises it as the
  operation's public error, naming the operation, the table and the key, chaining the cause: the
  one place where failures become the public error.
"""

from typing import Any, List, Mapping, Optional


class ConditionNotMet(Exception):
    """A conditional write was refused and changed nothing; the operation decides what that means.

    ``stored`` is the item as the refusal found it (``None``: no such item), ``after_unknown``
    whether an earlier send of the same write may have landed (so the refusal may be its own).
    """

    def __init__(self, stored: Any, after_unknown: bool) -> None:
        super().__init__("condition not met")
        self.stored = stored
        self.after_unknown = after_unknown


class TransactionRefused(ConditionNotMet):
    """A transaction cancelled by a condition: ``refused[i]`` tells whether write ``i``'s condition
    failed, ``stored_items[i]`` is its item as stored (``None``: no such item)."""

    def __init__(self, refused: List[bool], stored_items: List[Any], after_unknown: bool) -> None:
        first = next((item for item, no in zip(stored_items, refused) if no), None)
        super().__init__(first, after_unknown)
        self.refused = refused
        self.stored_items = stored_items


class Failed(Exception):
    """The operation failed: ``message`` says why, ``key`` names the item (``None``: the operation's
    own), ``item`` is the stored item where the failure has one, ``code`` DynamoDB's error code
    when a request failed, ``table`` the table it failed on (``None``: the operation's own).
    Raise it ``from`` the cause."""

    def __init__(self, message: str, *, key: Optional[Mapping[str, Any]] = None, item: Any = None,
                 code: Optional[str] = None, table: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.key = key
        self.item = item
        self.code = code
        self.table = table
