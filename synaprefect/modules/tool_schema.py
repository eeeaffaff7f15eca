"""The JSON schema of a Python function's parameters, read from its signature and
docstring: what a language model is told about a ``Tool``.

Example:
```python
def add(a: int, b: int = 0) -> int:
    '''Add two numbers.

    Args:
        a: The first number.
        b: The second number.
    '''

describe_function(add)
# ("Add two numbers.", {"type": "object", "properties": {"a": {...}, "b": {...}},
#                       "required": ["a"], ...})
```
"""

import enum
import inspect
import json
import types
import typing
from collections.abc import Callable
from typing import Any

import docstring_parser

__all__ = ["describe_function", "type_schema"]

_PRIMITIVES = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


def type_schema(annotation: Any, where: str) -> dict:
    """The JSON schema of values of ``annotation``; ``ValueError`` naming ``where`` when
    the type has no JSON form."""
    if annotation in _PRIMITIVES:
        return {"type": _PRIMITIVES[annotation]}
    if annotation in (list, typing.List):  # noqa: UP006 - the bare typing alias too
        return {"type": "array", "items": {}}
    if annotation in (dict, typing.Dict):  # noqa: UP006
        return {"type": "object", "additionalProperties": {}}
    if annotation is Any:
        return {}
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return {"enum": [member.value for member in annotation]}
    if isinstance(annotation, type) and hasattr(annotation, "model_json_schema"):
        return annotation.model_json_schema()  # a DataModel / pydantic model
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        if len(members) == 1:  # Optional[T]: the model may leave it out, not send null
            return type_schema(members[0], where)
        return {"anyOf": [type_schema(a, where) for a in args]}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (list, tuple, set, frozenset):
        return {"type": "array", "items": type_schema(args[0], where) if args else {}}
    if origin is dict:
        if args and args[0] is not str:
            raise ValueError(f"{where}: JSON object keys are strings, got {annotation!r}.")
        return {
            "type": "object",
            "additionalProperties": type_schema(args[1], where) if args else {},
        }
    raise ValueError(
        f"{where}: the type {annotation!r} has no JSON schema; use str, int, float, bool, "
        "list[...], dict[str, ...], Optional[...], Literal[...], an Enum or a DataModel."
    )


def describe_function(func: Callable, name: str) -> tuple[str, dict]:
    """``(description, parameters schema)`` of ``func``: every parameter needs a type
    annotation and a description in the docstring (Google, NumPy or reST style), because
    the language model only knows what they say."""
    doc = inspect.getdoc(func)
    if not doc:
        raise ValueError(
            f"Tool {name!r}: the function needs a docstring that says what it does and "
            "describes each parameter (an `Args:` section)."
        )
    parsed = docstring_parser.parse(doc)
    described = {p.arg_name: (p.description or "").strip() for p in parsed.params}
    hints = typing.get_type_hints(func)
    properties, required = {}, []
    for parameter in inspect.signature(func).parameters.values():
        where = f"Tool {name!r}, parameter {parameter.name!r}"
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise ValueError(
                f"{where}: *args and **kwargs cannot be described to a language "
                "model; name each parameter."
            )
        if parameter.name == "training":
            raise ValueError(
                f"{where}: `training` is the flag every module call takes; rename the parameter."
            )
        if parameter.name not in hints:
            raise ValueError(f"{where}: missing type annotation (for example `: str`).")
        if not described.get(parameter.name):
            raise ValueError(f"{where}: missing description in the docstring's `Args:` section.")
        schema = {
            "title": parameter.name.replace("_", " ").title(),
            "description": " ".join(described[parameter.name].split()),
            **type_schema(hints[parameter.name], where),
        }
        if parameter.default is parameter.empty:
            required.append(parameter.name)
        else:
            try:
                json.dumps(parameter.default)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{where}: the default {parameter.default!r} is not JSON; "
                    "use None, a string, a number, a boolean, a list or a dict."
                ) from None
            schema["default"] = parameter.default
        properties[parameter.name] = schema
    description = " ".join(
        part for part in (parsed.short_description, parsed.long_description) if part
    )
    return description, {
        "title": name.replace("_", " ").title(),
        "description": parsed.short_description or "",
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
