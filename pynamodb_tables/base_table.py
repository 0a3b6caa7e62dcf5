"""What both tables share: binding a model to a table at run time, reads, and conditional writes.

A table object binds its item model to a table name, endpoint and region by deriving a
subclass with its own ``Meta`` (cached, so any number of table names can be used side by
side in one process). Items the caller builds with the base model are never written
directly: every write is an ``update`` with actions on a key-only instance of the bound
model, so only the attributes a method means to change are ever sent.
"""

import functools
import logging
import os
import random
import re
import time
import uuid
from typing import Any, Dict, Generic, Iterable, Mapping, Optional, Set, Tuple, Type, TypeVar, cast

from botocore.exceptions import BotoCoreError
from pynamodb.connection import Connection
from pynamodb.exceptions import AttributeDeserializationError, PynamoDBException, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from .errors import ConfigurationError, PynamoDBTablesError

logger = logging.getLogger("pynamodb_tables")

M = TypeVar("M", bound=Model)

CONDITION_FAILED = "ConditionalCheckFailedException"
TRANSACTION_CONFLICT = "TransactionConflictException"
#: Sends of a write that keeps losing races with transactions, before giving up.
CONFLICT_ATTEMPTS = 20
BACKOFF_BASE_S = 0.025
BACKOFF_CAP_S = 1.0
_TABLE_NAME = re.compile(r"^[A-Za-z0-9_.\-]{3,255}$")


@functools.cache
def bound_model(base: Type[M], table_name: str, host: Optional[str], region: Optional[str]) -> Type[M]:
    """``base`` bound to one table, endpoint and region (one class per combination)."""
    meta = type("Meta", (), {"table_name": table_name, "host": host, "region": region})
    namespace = {"Meta": meta, "__module__": base.__module__, "__qualname__": base.__qualname__}
    return cast(Type[M], type(base.__name__, (base,), namespace))


def describe_failure(exc: BaseException) -> str:
    """One line for a DynamoDB failure: its error code and message where there is one."""
    if isinstance(exc, PynamoDBException) and exc.cause_response_code:
        return f"DynamoDB {exc.cause_response_code}: {exc.cause_response_message}"
    return f"{type(exc).__name__}: {exc}"


def is_condition_failure(exc: PynamoDBException) -> bool:
    """The write was refused by its condition (nothing was changed)."""
    return exc.cause_response_code == CONDITION_FAILED


class BoundTable(Generic[M]):
    """A DynamoDB table holding items of one model; subclasses add the table's operations."""

    env_var: str
    key_names: Tuple[str, ...]
    missing: str  # what an operation on an unknown key reports

    def __init__(
        self,
        item_class: Type[M],
        table_name: Optional[str] = None,
        *,
        host: Optional[str] = None,
        region: Optional[str] = None,
    ) -> None:
        name = table_name if table_name is not None else os.environ.get(self.env_var)
        if name is None:
            raise ConfigurationError(f"no table name: pass table_name or set {self.env_var}")
        if not isinstance(name, str) or not _TABLE_NAME.match(name):
            raise ConfigurationError(
                f"invalid table name {name!r}: 3 to 255 characters of letters, digits, '_', '-' and '.'"
            )
        self.table_name: str = name
        self.host = host
        self.region = region
        self.model: Type[M] = bound_model(item_class, name, host, region)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.table_name!r})"

    # -- helpers for the table's operations ------------------------------------------------

    def key(self, *values: str) -> Dict[str, str]:
        """The key attributes by name, for error messages and key-only instances."""
        return dict(zip(self.key_names, values))

    def key_values(self, key: Mapping[str, str]) -> Tuple[str, Optional[str]]:
        """The hash key and range key (``None`` for a hash-only table) of ``key``."""
        values = [key[name] for name in self.key_names]
        return values[0], (values[1] if len(values) > 1 else None)

    def instance(self, key: Mapping[str, str]) -> M:
        """A key-only instance of the bound model: the target of an update."""
        model: Any = self.model  # (PynamoDB types the keyword arguments narrowly)
        return cast(M, model(**key))

    def error(
        self,
        error_cls: Type[PynamoDBTablesError],
        operation: str,
        key: Mapping[str, Any],
        message: str,
        item: Any = None,
    ) -> PynamoDBTablesError:
        """An error of ``error_cls`` naming this table, the operation and the key."""
        return error_cls(message, operation=operation, table=self.table_name, key=key, item=item)

    def read(
        self, key: Mapping[str, str], *, operation: str, error: Type[PynamoDBTablesError]
    ) -> Optional[M]:
        """The stored item (strongly consistent read), or ``None`` when there is none."""
        hash_key, range_key = self.key_values(key)
        try:
            return self.model.get(hash_key, range_key, consistent_read=True)
        except self.model.DoesNotExist:
            return None
        except AttributeDeserializationError as exc:
            raise self.error(error, operation, key, f"the stored item cannot be read: {exc}") from exc
        except (PynamoDBException, BotoCoreError) as exc:
            raise self.error(error, operation, key, describe_failure(exc)) from exc

    def existing(
        self,
        key: Mapping[str, str],
        operation: str,
        error: Type[PynamoDBTablesError],
        cause: Optional[BaseException] = None,
    ) -> M:
        """The stored item, which must exist (else ``error``, chaining ``cause``)."""
        stored = self.read(key, operation=operation, error=error)
        if stored is None:
            raise self.error(error, operation, key, self.missing) from cause
        return stored

    def write(
        self,
        key: Mapping[str, str],
        actions: Iterable[Action],
        condition: Condition,
        *,
        operation: str,
        error: Type[PynamoDBTablesError],
    ) -> M:
        """One conditional ``UpdateItem``; returns the item as stored afterwards.

        Raises :class:`ConditionNotMet` (chaining DynamoDB's refusal) when the condition
        failed and nothing changed, and ``error`` for any other failure. A write refused
        because a transaction was touching the item (which botocore does not retry) is sent
        again after a jittered backoff.
        """
        actions = list(actions)
        for attempt in range(CONFLICT_ATTEMPTS):
            instance = self.instance(key)
            try:
                instance.update(actions=actions, condition=condition)
            except PynamoDBException as exc:
                if is_condition_failure(exc):
                    logger.debug("%s on %s %s: condition not met", operation, self.table_name, dict(key))
                    raise ConditionNotMet(operation=operation, table=self.table_name, key=key) from exc
                if exc.cause_response_code == TRANSACTION_CONFLICT and attempt + 1 < CONFLICT_ATTEMPTS:
                    backoff(attempt)
                    continue
                raise self.error(error, operation, key, describe_failure(exc)) from exc
            except BotoCoreError as exc:
                raise self.error(error, operation, key, describe_failure(exc)) from exc
            except AttributeDeserializationError as exc:
                raise self.error(error, operation, key, f"written, but the stored item cannot be read: {exc}") from exc
            logger.debug("%s on %s %s: written", operation, self.table_name, dict(key))
            return instance
        raise AssertionError("unreachable")  # pragma: no cover

    def transition(
        self,
        key: Mapping[str, str],
        actions: Iterable[Action],
        condition: Condition,
        *,
        operation: str,
        error: Type[PynamoDBTablesError],
    ) -> M:
        """A state change whose refusal must mean *someone else*: one conditional update sent as
        a single-item ``TransactWrite`` with a client request token, so that botocore's retry
        of a request that landed but whose answer was lost is not applied (or refused) again.

        Returns the item as stored afterwards (read after the write). Raises
        :class:`ConditionNotMet` when the condition failed, ``error`` for any other failure;
        conflicts with other transactions are retried after a jittered backoff.
        """
        actions = list(actions)
        connection = transaction_connection(self.host, self.region)
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                with TransactWrite(connection=connection, client_request_token=str(uuid.uuid4())) as transaction:
                    transaction.update(self.instance(key), actions, condition)
            except TransactWriteError as exc:
                reasons = cancellation_reasons(exc)
                if "ConditionalCheckFailed" in reasons:
                    raise ConditionNotMet(operation=operation, table=self.table_name, key=key) from exc
                if is_retryable_cancellation(exc, reasons) and attempt + 1 < CONFLICT_ATTEMPTS:
                    backoff(attempt)
                    continue
                raise self.error(error, operation, key, describe_failure(exc)) from exc
            except (PynamoDBException, BotoCoreError) as exc:
                raise self.error(error, operation, key, describe_failure(exc)) from exc
            logger.debug("%s on %s %s: written", operation, self.table_name, dict(key))
            return self.existing(key, operation, error)
        raise AssertionError("unreachable")  # pragma: no cover


class ConditionNotMet(PynamoDBTablesError):
    """A conditional write was refused and changed nothing; the operation decides what that means.

    Raised only between a table's helpers and its operations, which turn it into the
    operation's own error (chaining DynamoDB's refusal, ``__cause__``).
    """

    def __init__(self, **where: Any) -> None:
        super().__init__("condition not met", **where)


@functools.cache
def transaction_connection(host: Optional[str], region: Optional[str]) -> Connection:
    """The connection transactions are sent on, one per endpoint and region."""
    return Connection(host=host, region=region)


def backoff(attempt: int) -> None:
    """Sleep a full-jitter exponential delay before attempt ``attempt + 2``."""
    time.sleep(random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt)))


def cancellation_reasons(exc: TransactWriteError) -> Set[str]:
    """The codes DynamoDB gave for cancelling a transaction (``ConditionalCheckFailed``, ...)."""
    return {reason.code for reason in exc.cancellation_reasons if reason is not None and reason.code != "None"}


def is_retryable_cancellation(exc: TransactWriteError, reasons: Set[str]) -> bool:
    """A transaction that lost a race with another (or was throttled): worth sending again."""
    if exc.cause_response_code == TRANSACTION_CONFLICT:
        return True
    return exc.cause_response_code == "TransactionCanceledException" and bool(reasons) \
        and reasons <= {"TransactionConflict", "ThrottlingError"}
