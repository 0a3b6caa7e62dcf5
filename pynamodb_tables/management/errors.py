"""Exit codes, and every failure as one line for stderr."""


from botocore.exceptions import BotoCoreError, ClientError, NoRegionError
from pynamodb.exceptions import PynamoDBException

from ..errors import PynamoDBTablesError
from ..reads import describe_failure, is_transient

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


__all__ = ["CommandError", "describe_error", "error_code", "is_transient", "one_line"]
