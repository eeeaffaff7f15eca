"""Validate JSON values against JSON schemas with errors that name the field."""

import functools
import json
import re
from typing import Any

import jsonschema

from synaprefect.utils.identity_cache import IdentityCache
from synaprefect.utils.json_utils import canonical_dumps


@functools.lru_cache(maxsize=512)
def _validator(schema_text: str) -> jsonschema.protocols.Validator:
    schema = json.loads(schema_text)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema)


# Equal schemas share one validator (by their text); a schema object already met skips
# writing its text out again.
_validators = IdentityCache(lambda schema: _validator(canonical_dumps(schema)), maxsize=512)


def schema_errors(value: Any, schema: dict) -> list[str]:
    """Readable problems of ``value`` against ``schema`` (empty when valid)."""
    validator = _validators.get(schema)
    problems = []
    for error in sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.path))):
        path = [str(part) for part in error.path]
        if error.validator == "required":
            names = re.findall(r"'([^']+)' is a required property", error.message)
            problems += [f"field `{'.'.join(path + [n])}`: missing (required)" for n in names]
        elif error.validator == "additionalProperties":
            names = re.findall(r"'([^']+)'", error.message.split("(")[-1])
            problems += [
                f"field `{'.'.join(path + [n])}`: not allowed by the schema" for n in names
            ]
        else:
            problems.append(f"field `{'.'.join(path) or '<root>'}`: {error.message}")
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
