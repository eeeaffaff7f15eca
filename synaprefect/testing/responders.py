"""Responders for the simulated LM: deterministic answers derived from the request.

A responder is a callable ``(request: SimulatedRequest) -> dict | list | str | Fault``
(sync or async). Non-string values are sent as JSON, strings as raw message content and a
``Fault`` injects that failure.
"""

from __future__ import annotations

import copy
import math
import random
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from synaprefect.testing.wire import ToolCalls

if TYPE_CHECKING:
    from synaprefect.testing.wire import SimulatedRequest

__all__ = [
    "constant_responder",
    "generate_from_schema",
    "match_responder",
    "schema_responder",
    "tool_calls_responder",
]

# Once the same $ref has been entered more than this many times on one path, the recursive
# schema takes its smallest valid form (null branches, required properties, minItems items).
_RECURSION_LIMIT = 2
# Hard stop for schemas whose required chain never ends (they have no finite instance).
_MAX_DEPTH = 64

# Keywords that do not constrain values (ignored when they sit next to anyOf/oneOf).
_ANNOTATIONS = frozenset({"title", "description", "default", "examples", "$comment"})

_WORDS = (
    "alpha", "bravo", "cedar", "delta", "ember", "fable", "grove", "harbor", "island", "juniper",
    "kernel", "lumen", "meadow", "nectar", "orbit", "prism", "quartz", "river", "summit", "tundra",
    "umber", "vertex", "willow", "xenon", "yonder", "zephyr",
)  # fmt: skip


def _words(rng: random.Random, low: int = 2, high: int = 4) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(low, high)))


_FORMATS: dict[str, Callable[[random.Random], str]] = {
    "date-time": lambda rng: (
        f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T"
        f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z"
    ),
    "date": lambda rng: f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
    "time": lambda rng: f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00",
    "email": lambda rng: f"{rng.choice(_WORDS)}@example.com",
    "uri": lambda rng: f"https://example.com/{rng.choice(_WORDS)}",
    "url": lambda rng: f"https://example.com/{rng.choice(_WORDS)}",
    "uuid": lambda rng: str(uuid.UUID(int=rng.getrandbits(128), version=4)),
}


class _SchemaGenerator:
    def __init__(self, root: Any, rng: random.Random) -> None:
        self._root = root
        self._rng = rng

    def _resolve(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise ValueError(f"only local $ref values are supported, got {ref!r}")
        node = self._root
        for token in filter(None, ref[1:].split("/")):
            token = token.replace("~1", "/").replace("~0", "~")
            try:
                node = node[int(token)] if isinstance(node, list) else node[token]
            except (KeyError, IndexError, ValueError, TypeError):
                raise ValueError(f"unresolvable $ref {ref!r}") from None
        return node

    def _follow_refs(self, schema: Any, refs: tuple[str, ...] = ()) -> tuple[Any, tuple[str, ...]]:
        """Resolve ``$ref`` chains, returning the target and the extended chain of refs."""
        while isinstance(schema, dict) and "$ref" in schema:
            refs = (*refs, schema["$ref"])
            siblings = {key: value for key, value in schema.items() if key != "$ref"}
            target = self._resolve(schema["$ref"])
            schema = {**target, **siblings} if siblings and isinstance(target, dict) else target
        return schema, refs

    def _merge(self, parts: list[Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for part in parts:
            part, _ = self._follow_refs(part)
            if not isinstance(part, dict):
                continue
            if "allOf" in part:
                part = {
                    **{k: v for k, v in part.items() if k != "allOf"},
                    **self._merge(part["allOf"]),
                }
            for key, value in part.items():
                if key == "properties":
                    merged["properties"] = {**merged.get("properties", {}), **value}
                elif key == "required":
                    merged["required"] = list(dict.fromkeys([*merged.get("required", []), *value]))
                else:
                    merged[key] = value
        return merged

    def generate(
        self, schema: Any, depth: int = 0, refs: tuple[str, ...] = (), minimal: bool = False
    ) -> Any:
        """``refs`` is the chain of ``$ref`` entered so far; ``minimal`` is set once one repeats."""
        if depth > _MAX_DEPTH:
            return None
        if isinstance(schema, dict) and "$ref" in schema:
            schema, refs = self._follow_refs(schema, refs)
            minimal = minimal or any(refs.count(ref) > _RECURSION_LIMIT for ref in set(refs))
        if schema is True or schema is None:
            return _words(self._rng)
        if schema is False or not isinstance(schema, dict):
            return None
        if "const" in schema:
            return copy.deepcopy(schema["const"])
        if schema.get("enum"):
            return copy.deepcopy(self._rng.choice(schema["enum"]))
        if "default" in schema and (schema["default"] is not None or minimal):
            # A null default usually marks an Optional field: richer answers come from its branch.
            return copy.deepcopy(schema["default"])
        if "allOf" in schema:
            rest = {key: value for key, value in schema.items() if key != "allOf"}
            return self.generate(self._merge([rest, *schema["allOf"]]), depth + 1, refs, minimal)
        for keyword in ("anyOf", "oneOf"):
            if schema.get(keyword):
                rest = {
                    key: value
                    for key, value in schema.items()
                    if key not in _ANNOTATIONS and key != keyword
                }
                branch = self._pick_branch(schema[keyword], minimal)
                if rest:  # constraints next to anyOf apply to the chosen branch too
                    branch = {"allOf": [rest, branch]}
                return self.generate(branch, depth + 1, refs, minimal)
        kind = self._type_of(schema, minimal)
        if kind == "object":
            return self._object(schema, depth, refs, minimal)
        if kind == "array":
            return self._array(schema, depth, refs, minimal)
        if kind == "integer":
            return self._integer(schema)
        if kind == "number":
            return self._number(schema)
        if kind == "boolean":
            return self._rng.random() < 0.5
        if kind == "null":
            return None
        return self._string(schema)

    def _pick_branch(self, branches: list[Any], minimal: bool) -> Any:
        nulls = [b for b in branches if isinstance(b, dict) and b.get("type") == "null"]
        others = [b for b in branches if b not in nulls]
        if nulls and (minimal or not others):
            return nulls[0]
        return others[0]

    def _type_of(self, schema: dict[str, Any], minimal: bool) -> str:
        declared = schema.get("type")
        if isinstance(declared, list):
            non_null = [kind for kind in declared if kind != "null"]
            if not non_null or ("null" in declared and minimal):
                return "null"
            return non_null[0]
        if declared:
            return declared
        if {"properties", "required", "additionalProperties"} & schema.keys():
            return "object"
        if {"items", "prefixItems", "minItems", "maxItems"} & schema.keys():
            return "array"
        if {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"} & schema.keys():
            return "number"
        return "string"

    def _object(
        self, schema: dict[str, Any], depth: int, refs: tuple[str, ...], minimal: bool
    ) -> dict[str, Any]:
        properties = schema.get("properties") or {}
        required = set(schema.get("required") or ())
        result = {
            name: self.generate(sub, depth + 1, refs, minimal)
            for name, sub in properties.items()
            if not minimal or name in required
        }
        for name in required - result.keys():
            result[name] = self.generate(True, depth + 1)
        extra = schema.get("additionalProperties")
        if not properties and isinstance(extra, dict) and not minimal:  # e.g. dict[str, int]
            result["key"] = self.generate(extra, depth + 1, refs, minimal)
        return result

    def _array(
        self, schema: dict[str, Any], depth: int, refs: tuple[str, ...], minimal: bool
    ) -> list[Any]:
        items = schema.get("items", {})
        prefix = schema.get("prefixItems") or (items if isinstance(items, list) else [])
        if isinstance(items, list):  # draft 4-2019 tuple form
            items = schema.get("additionalItems", {})
        count = max(int(schema.get("minItems", 0)), len(prefix), 0 if minimal else 1)
        if items is False:
            count = len(prefix)
        if schema.get("maxItems") is not None:
            count = min(count, int(schema["maxItems"]))
        return [
            self.generate(prefix[i] if i < len(prefix) else items, depth + 1, refs, minimal)
            for i in range(count)
        ]

    def _bounds(self, schema: dict[str, Any]) -> tuple[float | None, float | None, bool, bool]:
        low, high = schema.get("minimum"), schema.get("maximum")
        low_open = high_open = False
        exclusive_low, exclusive_high = (
            schema.get("exclusiveMinimum"),
            schema.get("exclusiveMaximum"),
        )
        if isinstance(exclusive_low, bool):  # draft 4: a flag on minimum
            low_open = exclusive_low
        elif exclusive_low is not None:
            low, low_open = exclusive_low, True
        if isinstance(exclusive_high, bool):
            high_open = exclusive_high
        elif exclusive_high is not None:
            high, high_open = exclusive_high, True
        return low, high, low_open, high_open

    def _integer(self, schema: dict[str, Any]) -> int:
        low, high, low_open, high_open = self._bounds(schema)
        lo = None if low is None else (math.floor(low) + 1 if low_open else math.ceil(low))
        hi = None if high is None else (math.ceil(high) - 1 if high_open else math.floor(high))
        if lo is None:
            lo = 0 if hi is None else hi - 100
        if hi is None:
            hi = lo + 100
        return lo if lo >= hi else self._rng.randint(lo, hi)

    def _number(self, schema: dict[str, Any]) -> float:
        low, high, low_open, high_open = self._bounds(schema)
        lo = float(low) if low is not None else (float(high) - 100.0 if high is not None else 0.0)
        hi = float(high) if high is not None else lo + 100.0
        value = round(self._rng.uniform(lo, hi), 2)
        if (low_open and value <= lo) or (high_open and value >= hi) or not lo <= value <= hi:
            value = (lo + hi) / 2  # rounding pushed it onto/over an edge
        return value

    def _string(self, schema: dict[str, Any]) -> str:
        make = _FORMATS.get(schema.get("format", ""))
        text = make(self._rng) if make else _words(self._rng)
        min_length, max_length = schema.get("minLength"), schema.get("maxLength")
        if min_length is not None and len(text) < min_length:
            text = (text + " ") * (min_length // (len(text) + 1) + 1)
        if max_length is not None:
            text = text[:max_length]
        return text


def generate_from_schema(schema: dict[str, Any] | bool, seed: str) -> Any:
    """Return a value valid against JSON ``schema``, fully determined by ``seed``.

    Supports ``type`` (including type lists), ``enum``, ``const``, ``default``, ``anyOf`` /
    ``oneOf`` (first non-null branch), ``allOf`` (merged), local ``$ref`` into ``$defs`` /
    ``definitions`` (recursion ends in the smallest valid form), ``properties`` (all emitted),
    ``items`` / ``prefixItems`` with ``minItems`` / ``maxItems`` (one item by default),
    numeric bounds, string lengths and common ``format`` values.

    >>> generate_from_schema({"type": "object", "properties": {"n": {"const": 3}}}, seed="x")
    {'n': 3}
    """
    return _SchemaGenerator(schema, random.Random(seed)).generate(schema)


def schema_responder(request: SimulatedRequest) -> Any:
    """Default responder: a schema-valid value when the request asks for structured output
    (``response_format`` JSON schema or a forced tool call), otherwise a short sentence.

    The answer is derived from ``request.prompt_key``: the same prompt always gets the same
    answer.
    """
    if request.schema is not None:
        return generate_from_schema(request.schema, request.prompt_key)
    rng = random.Random(request.prompt_key)
    sentence = f"Simulated answer: {_words(rng, 3, 6)}."
    response_format = request.body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_object":
        return {"answer": sentence}
    return sentence


def constant_responder(answer: Any) -> Callable[[SimulatedRequest], Any]:
    """Responder that always returns ``answer`` (a JSON value, raw string or ``Fault``).

    >>> lm.set_responder(constant_responder({"label": "positive"}))  # doctest: +SKIP
    """

    def respond(request: SimulatedRequest) -> Any:
        return copy.deepcopy(answer)

    return respond


def match_responder(
    rules: Mapping[str, Any], fallback: Callable[[SimulatedRequest], Any] = schema_responder
) -> Callable[[SimulatedRequest], Any]:
    """Responder returning the value of the first rule whose key occurs in the user prompt.

    Values may be answers or callables taking the request; unmatched requests go to
    ``fallback``.

    >>> lm.set_responder(match_responder({"capital of France": {"answer": "Paris"}}))  # doctest: +SKIP
    """

    def respond(request: SimulatedRequest) -> Any:
        prompt = request.user_prompt
        for needle, answer in rules.items():
            if needle in prompt:
                return answer(request) if callable(answer) else copy.deepcopy(answer)
        return fallback(request)

    return respond


def tool_calls_responder(
    turns: list[list[tuple[str, dict[str, Any]]]],
    fallback: Callable[[SimulatedRequest], Any] = schema_responder,
) -> Callable[[SimulatedRequest], Any]:
    """Responder for agents: a request that offers tools (without forcing one) gets the tool
    calls of the next turn, ``turns[k]`` once the conversation holds ``k`` tool-calling
    assistant messages; past the last turn it answers without calling a tool. Every other
    request (the agent's final structured answer, say) goes to ``fallback``.

    >>> lm.set_responder(tool_calls_responder([[("add", {"a": 1, "b": 2})], [("mul", {"a": 3, "b": 3})]]))  # doctest: +SKIP
    """

    def respond(request: SimulatedRequest) -> Any:
        if not request.offered_tools or request.tool_name is not None:
            return fallback(request)
        if request.tool_turns < len(turns):
            return ToolCalls(list(turns[request.tool_turns]))
        return "Done: the tool results answer the question."

    return respond
