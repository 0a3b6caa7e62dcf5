"""The one send-and-retry mechanism: every DynamoDB request the package makes goes through :func:`send`.

The package owns retries (botocore sends each request once), so that it always knows when a
request is sent again and why, and so that no retry budget is shared across calls: a worker
that runs for days keeps retrying however many faults it has met. Each failure is classified::

    answer                               landed?   what send does                                 cause
    -----------------------------------  --------  ---------------------------------------------  ------------
    success                              yes       returns it
    condition refused the write          no        raises ConditionNotMet (with the stored item)
    throttled (also a transaction        no        backs off, sends again (fresh token)           throttled
      cancelled for throttling)
    transaction conflict (also a         no        backs off, sends again (fresh token)           conflict
      transaction cancelled by one)
    5xx (server error)                   maybe     backs off, sends again (same token)            server_error
    read timeout / connection cut        maybe     backs off, sends again (same token)            answer_lost
    connection refused / connect timeout no        backs off, sends again                         not_sent
    anything else (validation, auth...)  no        raises Failed

The cause is what an operation's event counts each resend under (``observing.RETRY_CAUSES``).
While an operation is observed, :func:`send` also counts each request it sends and the capacity
DynamoDB reports in its answer (``ConsumedCapacity``) into the operation's record
(``observing.tally``), and into every meter of the thread (``observing.metered``: a repair's, a
command's reads). DynamoDB reports no capacity with a failure: a refused write or a
cancelled transaction is charged all the same, and not counted.

A transaction's client request token stays the same while an earlier send may have landed
(DynamoDB then answers the resend with the first outcome, without applying it again) and is
renewed after an answer that proves nothing landed. A plain write sent again after an unknown
outcome may be refused by its own landed copy: the refusal says so (``after_unknown``),
and each operation recognises its own write from the stored item.
"""

import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, TypeVar

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError
from pynamodb.exceptions import PynamoDBException, TransactWriteError

from .connection import refused_item
from .observing import meters, tally
from .operations import ConditionNotMet, Failed

logger = logging.getLogger("pynamodb_tables")

T = TypeVar("T")

#: Sends of a request that keeps losing races with transactions (or being throttled).
CONTENTION_ATTEMPTS = 30
BACKOFF_BASE_S = 0.025
BACKOFF_CAP_S = 1.0

THROTTLED = frozenset({"ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
                       "TransactionConflictException"})
SERVER_FAULTS = frozenset({"InternalServerError", "ServiceUnavailable", "InternalFailure",
                           "TransactionInProgressException"})
#: Reasons for a cancelled transaction that mean "nothing landed, try again".
RETRYABLE_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
CONDITION_FAILED = "ConditionalCheckFailedException"


@dataclass
class Failure:
    """What one failed request tells: its code and message, whether it may have landed, what to do."""

    code: str
    message: str
    landed: Optional[bool]  # False: certainly not applied; None: unknown
    retry: bool
    contention: bool = False  # lost a race or was throttled: the contention budget, not the transport one
    refused: bool = False
    reasons: List[Optional[str]] = field(default_factory=list)  # a transaction's per-item codes
    items: List[Optional[Dict[str, Any]]] = field(default_factory=list)  # ... and stored items (wire form)
    cause: str = ""  # why it is sent again (one of observing.RETRY_CAUSES), when it is

    def summary(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code


def _client_error(exc: BaseException) -> Optional[ClientError]:
    """The botocore error behind ``exc`` (PynamoDB wraps it, sometimes twice)."""
    seen: Optional[BaseException] = exc
    while seen is not None:
        if isinstance(seen, ClientError):
            cause = seen.__cause__
            return cause if isinstance(cause, ClientError) and "ResponseMetadata" in cause.response else seen
        seen = seen.__cause__ or getattr(seen, "cause", None)
    return None


def _transport_error(exc: BaseException) -> Optional[BotoCoreError]:
    seen: Optional[BaseException] = exc
    while seen is not None:
        if isinstance(seen, BotoCoreError):
            return seen
        seen = seen.__cause__ or getattr(seen, "cause", None)
    return None


def classify(exc: BaseException) -> Optional[Failure]:
    """What ``exc``, raised by sending a request, tells; ``None`` if it is not a failed request."""
    client_error = _client_error(exc)
    if client_error is not None:
        error = client_error.response.get("Error") or {}
        code = str(error.get("Code") or "Unknown")
        message = str(error.get("Message") or "")
        status = (client_error.response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        if isinstance(exc, TransactWriteError) or code == "TransactionCanceledException":
            reasons = [reason.code if reason is not None else None
                       for reason in getattr(exc, "cancellation_reasons", [])]
            items = [reason.raw_item if reason is not None else None
                     for reason in getattr(exc, "cancellation_reasons", [])]
            if code == "TransactionCanceledException":
                refused = "ConditionalCheckFailed" in reasons
                again = not refused and bool(set(filter(None, reasons))) \
                    and set(filter(None, reasons)) <= RETRYABLE_REASONS
                return Failure(code, message, landed=False, retry=again, contention=again, refused=refused,
                               reasons=reasons, items=items,
                               cause="conflict" if "TransactionConflict" in reasons else "throttled")
        if code == CONDITION_FAILED:
            return Failure(code, message, landed=False, retry=False, refused=True, items=[refused_item(exc)])
        if code in THROTTLED:
            return Failure(code, message, landed=False, retry=True, contention=True,
                           cause="conflict" if code == "TransactionConflictException" else "throttled")
        if code in SERVER_FAULTS or (isinstance(status, int) and status >= 500):
            return Failure(code, message, landed=None, retry=True, cause="server_error")
        return Failure(code, message, landed=False, retry=False)
    transport = _transport_error(exc)
    if transport is not None:
        name = type(transport).__name__
        if isinstance(transport, BotocoreConnectionError):  # never reached DynamoDB
            return Failure(name, str(transport), landed=False, retry=True, cause="not_sent")
        if isinstance(transport, HTTPClientError):  # sent; the answer was lost
            return Failure(name, str(transport), landed=None, retry=True, cause="answer_lost")
        return Failure(name, str(transport), landed=False, retry=False)  # credentials, parameters...
    if isinstance(exc, PynamoDBException):
        return Failure(type(exc).__name__, str(exc), landed=None, retry=False)
    return None


#: What every backoff sleeps with (the send loop's and the contention driver's): replaced in tests by a
#: sleeper that records the delays instead of sleeping them.
sleep: Callable[[float], None] = time.sleep


def backoff_delay(attempt: int) -> float:
    """A full-jitter exponential delay before send ``attempt + 2``: uniform in [0, min(cap, base * 2**attempt)]."""
    return random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt))


def backoff(attempt: int) -> None:
    """Sleep a full-jitter exponential delay before send ``attempt + 2`` (through :data:`sleep`)."""
    sleep(backoff_delay(attempt))


class Attempt:
    """One send of a request: its number and, for transactions, its client request token."""

    def __init__(self) -> None:
        self.number = 0
        self.token = str(uuid.uuid4())


def explained(failure: Failure, attempts: int) -> str:
    """One line for a request that failed: DynamoDB's code and message, and how often it was sent."""
    if failure.retry:  # kept failing until the retries ran out
        return f"DynamoDB did not answer: {failure.summary()} (sent {attempts} times)"
    return f"DynamoDB {failure.summary()}"


def _refused(failure: Failure, after_unknown: bool) -> ConditionNotMet:
    """A plain write's refusal, with its stored item as DynamoDB returned it (wire form)."""
    return ConditionNotMet(failure.items[0] if failure.items else None, after_unknown)


def send(request: Callable[[Attempt], T], *, retries: int, what: str, reads: bool = False,
         key: Optional[Mapping[str, Any]] = None, table: Optional[str] = None,
         refusal: Callable[[Failure, bool], ConditionNotMet] = _refused) -> T:
    """Send ``request`` until DynamoDB answers it; up to ``retries`` resends after transport
    faults and up to :data:`CONTENTION_ATTEMPTS` after throttling or lost races.

    Raises the operations' own family (``operations.py``): ``refusal(failure, after_unknown)`` (a
    :class:`~pynamodb_tables.operations.ConditionNotMet`; by default with the stored item in wire
    form) when a condition refused it, and :class:`~pynamodb_tables.operations.Failed` naming
    ``key`` and ``table`` when it failed for good; any other exception (not a failed request) passes
    through unchanged. ``reads``: the request is a read (the capacity it consumes counts as read
    units where DynamoDB does not say).
    """
    record, metering = tally(), meters()
    attempt = Attempt()
    transport = contention = 0
    after_unknown = False
    while True:
        if record is not None:
            record.sends += 1
        for meter in metering:
            meter.sent(reads=reads)
        try:
            answer = request(attempt)
        except Exception as exc:
            failure = classify(exc)
            if failure is None:
                raise
            if failure.refused:
                raise refusal(failure, after_unknown) from exc
            if failure.landed is None:
                after_unknown = True
            elif not after_unknown:
                attempt.token = str(uuid.uuid4())  # nothing of this request landed: a new token is safe
            if failure.retry and failure.contention and contention < CONTENTION_ATTEMPTS:
                contention += 1
                delay_index = contention
            elif failure.retry and not failure.contention and transport < retries:
                transport += 1
                delay_index = transport
            else:
                raise Failed(explained(failure, attempt.number + 1), key=key, code=failure.code, table=table) from exc
            logger.debug("%s: %s; sending again (attempt %d)", what, failure.code, attempt.number + 2)
            if record is not None:
                record.retries[failure.cause] += 1
            backoff(delay_index - 1)
            attempt.number += 1
        else:
            if isinstance(answer, dict) and (record is not None or metering):
                capacity = answer.get("ConsumedCapacity")
                if record is not None:
                    record.consumed(capacity, reads=reads)
                for meter in metering:
                    meter.consumed(capacity, reads=reads)
            return answer


def describe_failure(exc: BaseException) -> str:
    """One line for any exception raised by a DynamoDB call: its code and message where it has one."""
    failure = classify(exc)
    return failure.summary() if failure is not None else f"{type(exc).__name__}: {exc}"
