"""Validate JSON values against JSON schemas with errors that name the field."""

import functools
import json
from typing import Any

import jsonschema

from synaprefect.utils.json_utils import canonical_dumps


@functools.lru_cache(maxsize=512)
def _validator(schema_text: str) -> jsonschema.protocols.Validator:
    schema = json.loads(schema_text)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema)


def schema_errors(value: Any, schema: dict) -> list[str]:
    """Readable problems of ``value`` against ``schema`` (empty when valid)."""
    validator = _validator(canonical_dumps(schema))
    problems = []
    for error in sorted(validator.iter_errors(value), key=lambda e: list(e.path)):
        where = ".".join(str(part) for part in error.path) or "<root>"
        problems.append(f"field `{where}`: {error.message}")
    return problems


def validate_json(value: Any, schema: dict, what: str) -> None:
    """Raise a ``ValueError`` naming every offending field of ``value``."""
    problems = schema_errors(value, schema)
    if problems:
        expected = ", ".join(
            f"{key}: {prop.get('type', 'any')}"
            for key, prop in schema.get("properties", {}).items()
        )
        raise ValueError(
            f"{what} does not match its schema: {'; '.join(problems)}. "
            f"Expected an object with {{{expected}}}."
        )
