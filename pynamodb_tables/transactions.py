"""The transaction mechanism: one ``TransactWriteItems`` with a client request token, all or nothing."""

import logging
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from .connection import commit, shared_connection, transaction
from .failures import TransactionRefused
from .retry import Attempt, Refused
from .store import Store

logger = logging.getLogger("pynamodb_tables")


@dataclass
class Write:
    """One write of a transaction: an update of ``key`` in ``store``'s table (or, without actions, a check)."""

    store: Store[Any]
    key: Mapping[str, str]
    actions: Sequence[Action]
    condition: Condition


def transact(writes: Sequence[Write], *, settings_from: Optional[Store[Any]] = None) -> None:
    """One ``TransactWriteItems`` of ``writes`` with a client request token: all or nothing.

    Botocore's and the package's resends reuse the token while an earlier send may have
    landed, so DynamoDB applies the transaction once. Raises :class:`~pynamodb_tables.failures.
    TransactionRefused` when a condition failed (nothing changed), a failure for any other. The
    connection settings are those of ``settings_from`` (default: the first write's table).
    """
    owner = settings_from or writes[0].store
    connection = shared_connection(owner.host, owner.region, owner.settings)
    first = writes[0]
    # PynamoDB sends condition checks before updates; DynamoDB answers each item in that order.
    sent = sorted(range(len(writes)), key=lambda index: bool(writes[index].actions))

    def send_once(attempt: Attempt) -> Dict[str, Any]:
        writing = transaction(connection, attempt.token)
        for write in (writes[index] for index in sent):
            if write.actions:
                writing.update(write.store.instance(write.key), list(write.actions), write.condition,
                               return_values="ALL_OLD")
            else:
                hash_key, range_key = write.store.key_values(write.key)
                writing.condition_check(write.store.model, hash_key, range_key, condition=write.condition)
        return commit(writing)

    try:
        first.store.send(send_once, key=first.key, settings=owner.settings)
    except Refused as refused:
        reasons: List[Optional[str]] = [None] * len(writes)
        items: List[Optional[Dict[str, Any]]] = [None] * len(writes)
        for position, index in enumerate(sent):
            if position < len(refused.failure.reasons):
                reasons[index], items[index] = refused.failure.reasons[position], refused.failure.items[position]
        stored = [write.store.loaded(raw, key=write.key) for write, raw in zip(writes, items)]
        raise TransactionRefused([reason == "ConditionalCheckFailed" for reason in reasons], stored,
                                 refused.after_unknown) from refused.__cause__
    logger.debug("%s %s: transaction written", first.store.table_name, dict(first.key))
