"""An operation's failures and the one place they become its public error.

The one family the internals raise to an operation, never to a caller, from the send loop
(``connection.send``) up:

- :class:`ConditionNotMet` (and :class:`TransactionRefused`): a conditional write was refused and
  changed nothing; it carries the item as stored, so the operation decides again
  (``store.settle``).
- :class:`Failed`: the operation failed (a request DynamoDB did not take, an unknown item, an
  item that cannot be read...).

:func:`operation` (and :func:`table_operation`, for a table's public method) wraps one public
operation: observed as one event (``observing.observed``), its :class:`Failed` raised as the
operation's public error, naming the operation, the table and the key, chaining the cause
(:func:`failing_as`); the package's own errors raised inside are named where they are not already
(:func:`located`).
"""

import functools
from contextlib import contextmanager
from typing import Any, Callable, Iterator, List, Mapping, Optional, Type, TypeVar, cast

from .errors import PynamoDBTablesError
from .observing import observed


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


F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def located(operation: str, table: Optional[str] = None) -> Iterator[None]:
    """Errors raised inside name ``operation`` and ``table`` where they do not already."""
    try:
        yield
    except PynamoDBTablesError as exc:
        exc.locate(operation, table)
        raise


@contextmanager
def failing_as(error: Type["PynamoDBTablesError"], operation: Optional[str],
               table: Optional[str] = None) -> Iterator[None]:
    """The one place where a failure becomes the public error: inside, a :class:`Failed` is raised as
    ``error`` naming ``operation``, the table (the failure's, else ``table``) and the failure's key,
    chaining its cause; the package's own errors are named where they are not already. ``operation``
    ``None``: the enclosing operation's (a step of it whose failures are ``error`` rather than the
    operation's own class)."""
    try:
        if operation is None:
            yield
        else:
            with located(operation, table):
                yield
    except Failed as failure:
        public = error(failure.message, operation=operation, table=failure.table or table, key=failure.key,
                       item=failure.item)
        public.code = failure.code
        raise public from failure.__cause__


@contextmanager
def operation(name: str, table: Optional[str], error: Type["PynamoDBTablesError"],
              key: Optional[Mapping[str, str]] = None) -> Iterator[None]:
    """One public operation: observed (one event, ``observing.observed``, on ``key`` if given, else on
    the first key it names), its failures raised as ``error`` (:func:`failing_as`)."""
    with observed(name, table, key), failing_as(error, name, table):
        yield


def table_operation(error: Type["PynamoDBTablesError"]) -> Callable[[F], F]:
    """A public table method, one :func:`operation` named after it on ``self.table_name``, whose
    failures are ``error``."""

    def decorate(method: F) -> F:
        name = method.__name__

        @functools.wraps(method)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            with operation(name, getattr(self, "table_name", None), error):
                return method(self, *args, **kwargs)

        return cast(F, wrapper)

    return decorate
