"""Command-line options as data, and the types that check their values (a bad value: exit code 2)."""

import argparse
import re
from dataclasses import dataclass
from typing import Any, Dict, Tuple

from ..observing import namespace_problem

KMS_KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+")
TAG_KEY_MAX, TAG_VALUE_MAX = 128, 256  # DynamoDB's limits


@dataclass(frozen=True)
class Option:
    """One ``argparse`` argument: its flags (or name) and settings."""

    flags: Tuple[str, ...]
    settings: Dict[str, Any]

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(*self.flags, **self.settings)


def option(*flags: str, **settings: Any) -> Option:
    return Option(flags, settings)


def positive_int(text: str) -> int:
    value = int(text) if text.isdigit() else 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def image_id(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("IMAGE_ID must not be empty")
    return text


def kms_key_arn(text: str) -> str:
    if not KMS_KEY_ARN.fullmatch(text):
        raise argparse.ArgumentTypeError(f"expected a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), got {text!r}")
    return text


def tag_pair(text: str) -> Tuple[str, str]:
    """``KEY=VALUE``: a tag as DynamoDB takes it (the ``aws:`` prefix is AWS's own)."""
    key, equals, value = text.partition("=")
    if not equals or not 0 < len(key) <= TAG_KEY_MAX or len(value) > TAG_VALUE_MAX or key.startswith("aws:"):
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (a key of 1 to {TAG_KEY_MAX} characters, not "
                                         f"starting aws:, a value of at most {TAG_VALUE_MAX}), got {text!r}")
    return key, value


def cloudwatch_namespace(text: str) -> str:
    problem = namespace_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text
