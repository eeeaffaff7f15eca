"""Argument types of the command line: a bad value is a one-line usage error (exit 2).

Example: ``parser.add_argument("--epochs", type=positive_int)``
"""

import argparse
import json
from pathlib import Path
from typing import Any

from synaprefect.storage import is_url, location

__all__ = [
    "existing_file",
    "existing_data",
    "program_file",
    "existing_program",
    "positive_int",
    "fraction",
    "field_list",
    "key_value",
]


def existing_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"file not found: '{text}'")
    return path


def existing_data(text: str) -> str:
    """A local file or a storage URL (``s3://bucket/rows.jsonl``) that exists."""
    if not is_url(text):
        return str(existing_file(text))
    try:
        found = location(text).exists()
    except (ImportError, ValueError, OSError) as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if not found:
        raise argparse.ArgumentTypeError(f"file not found: '{text}'")
    return text


def program_file(text: str) -> str:
    if not text.endswith(".json"):
        raise argparse.ArgumentTypeError(f"a program file ends with .json, got '{text}'")
    return text


def existing_program(text: str) -> str:
    return existing_data(program_file(text))


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'")
    return value


def fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got '{text}'")
    return value


def field_list(text: str) -> list[str]:
    fields = [field.strip() for field in text.split(",") if field.strip()]
    if not fields:
        raise argparse.ArgumentTypeError(f"expected comma-separated field names, got '{text}'")
    return fields


def key_value(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got '{text}'")
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw  # a bare string
