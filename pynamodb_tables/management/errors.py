"""Exit codes, and every failure as one line for stderr."""

from typing import Optional

from botocore.exceptions import BotoCoreError, ClientError, NoRegionError
from pynamodb.exceptions import PynamoDBException

from ..errors import PynamoDBTablesError
from ..operations import Failed
from ..retry import classify, describe_failure

PROG = "pynamodb-tables"
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
REGION_ENV = "AWS_DEFAULT_REGION"


class CommandError(PynamoDBTablesError):
    """A failure reported as one line on stderr, with its exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def error_code(exc: ClientError) -> str:
    """DynamoDB's error code on a botocore ``ClientError``."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def one_line(text: str) -> str:
    return " ".join(text.split())


def describe_error(exc: BaseException) -> str:
    """One line for any failure: the package's, PynamoDB's, botocore's or another."""
    if isinstance(exc, PynamoDBTablesError):
        text = str(exc)
    elif isinstance(exc, PynamoDBException):
        text = describe_failure(exc)
    elif isinstance(exc, NoRegionError):
        text = f"{exc} (pass --region or set {REGION_ENV})"
    elif isinstance(exc, (BotoCoreError, ClientError)):
        text = str(exc)
    else:
        text = f"unexpected {type(exc).__name__}: {exc}"
    return one_line(text)


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` means DynamoDB did not answer (connection, timeout, 5xx, throttling): waiting may mend it."""
    seen: Optional[BaseException] = exc
    while seen is not None:
        if isinstance(seen, Failed):
            return seen.transient
        failure = classify(seen) if not isinstance(seen, PynamoDBTablesError) else None
        if failure is not None:
            return failure.retry
        seen = seen.__cause__
    return False
