"""Pure functions over JSON schemas and JSON values.

Symbolic data models use the ``*_schema`` functions, concrete ones use both the schema and
the ``*_json`` twin, so that a value and its schema always transform the same way.
"""

import copy
import re
from collections.abc import Callable, Iterable
from typing import Any

_TRAILING_INDEX = re.compile(r"_\d+$")
_IRREGULAR_PLURALS = {
    "children": "child",
    "people": "person",
    "men": "man",
    "women": "woman",
    "mice": "mouse",
    "geese": "goose",
    "teeth": "tooth",
    "feet": "foot",
    "data": "datum",
    "criteria": "criterion",
    "analyses": "analysis",
    "indices": "index",
    "matrices": "matrix",
    "vertices": "vertex",
}
_IRREGULAR_SINGULARS = {single: plural for plural, single in _IRREGULAR_PLURALS.items()}
_NOT_PLURAL = {"is", "was", "has", "this", "status", "analysis", "bias", "thinking", "news"}


def singularize(word: str) -> str:
    lower = word.lower()
    if lower in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[lower]
    if lower in _NOT_PLURAL or len(lower) <= 2:
        return word
    if lower.endswith("ies") and len(lower) > 4:
        return word[:-3] + "y"
    if lower.endswith(("ches", "shes", "sses", "xes", "zes")):
        return word[:-2]
    if lower.endswith("s") and not lower.endswith("ss"):
        return word[:-1]
    return word


def pluralize(word: str) -> str:
    lower = word.lower()
    if lower in _IRREGULAR_SINGULARS:
        return _IRREGULAR_SINGULARS[lower]
    if lower.endswith("y") and len(lower) > 1 and lower[-2] not in "aeiou":
        return word[:-1] + "ies"
    if lower.endswith(("ch", "sh", "ss", "x", "z")):
        return word + "es"
    if lower.endswith("s"):
        return word
    return word + "s"


def base_key(key: str) -> str:
    """The key that masks and ``factorize`` match on.

    A trailing ``_<digits>`` is dropped and the last ``_`` word singularised, so
    ``answer``, ``answer_1`` and ``answers`` all have the base key ``answer``.
    """
    key = _TRAILING_INDEX.sub("", key)
    head, _, last = key.rpartition("_")
    last = singularize(last)
    return f"{head}_{last}" if head else last


def _title(key: str) -> str:
    return key.replace("_", " ").title()


def _properties(schema: dict) -> dict:
    return schema.get("properties", {}) or {}


def _next_free_key(key: str, taken: Iterable[str]) -> str:
    taken = set(taken)
    if key not in taken:
        return key
    stem = _TRAILING_INDEX.sub("", key)
    index = 1
    while f"{stem}_{index}" in taken:
        index += 1
    return f"{stem}_{index}"


def concat_key_mapping(keys1: Iterable[str], keys2: Iterable[str]) -> dict[str, str]:
    """How the keys of the second operand are renamed when concatenated after the first."""
    taken = list(keys1)
    mapping = {}
    for key in keys2:
        new_key = _next_free_key(key, taken)
        mapping[key] = new_key
        taken.append(new_key)
    return mapping


def concat_schema(schema1: dict, schema2: dict) -> dict:
    """Merge two object schemas; duplicate keys of the second become ``key_1``, ``key_2``."""
    props1, props2 = _properties(schema1), _properties(schema2)
    mapping = concat_key_mapping(props1, props2)
    properties = copy.deepcopy(props1)
    for key, prop in props2.items():
        new_key = mapping[key]
        prop = copy.deepcopy(prop)
        if new_key != key and "title" in prop:
            prop["title"] = _title(new_key)
        properties[new_key] = prop
    required = list(schema1.get("required", []))
    required += [mapping[key] for key in schema2.get("required", []) if key in mapping]
    result: dict[str, Any] = {}
    defs = {**schema2.get("$defs", {}), **schema1.get("$defs", {})}
    if defs:
        result["$defs"] = copy.deepcopy(defs)
    result["additionalProperties"] = False
    result["properties"] = properties
    if required:
        result["required"] = list(dict.fromkeys(required))
    result["title"] = schema1.get("title", schema2.get("title", "Concat"))
    result["type"] = "object"
    return result


def concat_json(json1: dict, json2: dict) -> dict:
    mapping = concat_key_mapping(json1, json2)
    result = copy.deepcopy(json1)
    for key, value in json2.items():
        result[mapping[key]] = copy.deepcopy(value)
    return result


def merge_schema(schema1: dict, schema2: dict) -> dict:
    """Schema of ``x1 | x2`` / ``x1 ^ x2``: whichever operand is present at run time.

    Equal schemas (the Branch idiom ``a | b``) keep the first; otherwise every key of either
    side is declared, none of them required, since either side may be missing.
    """
    if _properties(schema1) == _properties(schema2):
        return copy.deepcopy(schema1)
    merged = concat_schema(schema1, schema2)
    merged.pop("required", None)
    return merged


def same_properties(schema1: dict, schema2: dict) -> bool:
    return _properties(schema1) == _properties(schema2)


def contains_schema(container: dict, contained: dict) -> bool:
    """True when every property of ``contained`` is in ``container`` with the same schema."""
    props = _properties(container)
    return all(props.get(key) == value for key, value in _properties(contained).items())


def _key_matches(key: str, mask: list[str], pattern: str | None) -> bool:
    bkey = base_key(key)
    if mask and bkey in {base_key(entry) for entry in mask}:
        return True
    return bool(pattern and re.search(pattern, bkey))


def _resolve(schema: dict, prop: dict) -> dict:
    ref = prop.get("$ref")
    if ref and ref.startswith("#/$defs/"):
        return schema.get("$defs", {}).get(ref.split("/")[-1], prop)
    return prop


def _mask_properties(
    properties: dict,
    keep: Callable[[str], bool],
    recursive: bool,
    root: dict,
    descend_kept: bool,
) -> dict:
    result = {}
    for key, prop in properties.items():
        kept = keep(key)
        target = _resolve(root, prop)
        nested = target.get("type") == "object" and "properties" in target
        if kept and not (descend_kept and recursive and nested):
            result[key] = copy.deepcopy(prop)
        elif recursive and nested:
            inner = _mask_properties(target["properties"], keep, recursive, root, descend_kept)
            if inner or kept:
                result[key] = {**copy.deepcopy(target), "properties": inner}
                required = [k for k in target.get("required", []) if k in inner]
                result[key]["required"] = required
    return result


def _mask_schema(
    schema: dict, keep: Callable[[str], bool], recursive: bool, descend_kept: bool
) -> dict:
    properties = _mask_properties(_properties(schema), keep, recursive, schema, descend_kept)
    result = {key: copy.deepcopy(value) for key, value in schema.items() if key != "$defs"}
    result["properties"] = properties
    result["required"] = [key for key in schema.get("required", []) if key in properties]
    if not result["required"]:
        result.pop("required")
    defs = {}
    for name, definition in schema.get("$defs", {}).items():
        if recursive and "properties" in definition:
            inner = _mask_properties(
                definition["properties"], keep, recursive, schema, descend_kept
            )
            defs[name] = {**copy.deepcopy(definition), "properties": inner}
        else:
            defs[name] = copy.deepcopy(definition)
    if defs and _uses_defs(properties):
        result["$defs"] = defs
    return result


def _uses_defs(value: Any) -> bool:
    if isinstance(value, dict):
        return "$ref" in value or any(_uses_defs(v) for v in value.values())
    if isinstance(value, list):
        return any(_uses_defs(v) for v in value)
    return False


_DROPPED = object()


def _mask_json(value: Any, keep: Callable[[str], bool], recursive: bool, descend_kept: bool) -> Any:
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            kept = keep(key)
            nested = isinstance(item, (dict, list))
            if kept and not (descend_kept and recursive and nested):
                result[key] = copy.deepcopy(item)
            elif recursive and nested:
                inner = _mask_json(item, keep, recursive, descend_kept)
                if inner or kept:
                    result[key] = inner
        return result
    if isinstance(value, list):
        masked = [_mask_json(item, keep, recursive, descend_kept) for item in value]
        return [item for item in masked if item is not _DROPPED and item != {}]
    # A bare value inside a list: an out-mask keeps it, an in-mask has no key to match.
    return copy.deepcopy(value) if descend_kept else _DROPPED


def _keeper(mask, pattern, invert: bool) -> Callable[[str], bool]:
    mask = list(mask or [])
    if not isinstance(mask, list) or not all(isinstance(m, str) for m in mask):
        raise ValueError(f"A mask must be a list of key names, got {mask!r}.")

    def keep(key: str) -> bool:
        return _key_matches(key, mask, pattern) != invert

    return keep


# An in-mask keeps a matching key with everything under it; an out-mask keeps the other
# keys but still removes matching keys nested under them.


def in_mask_schema(schema: dict, mask=None, pattern=None, recursive=True) -> dict:
    """Keep only the keys matching ``mask`` (by base key) or the regex ``pattern``."""
    return _mask_schema(schema, _keeper(mask, pattern, invert=False), recursive, False)


def out_mask_schema(schema: dict, mask=None, pattern=None, recursive=True) -> dict:
    """Remove the keys matching ``mask`` (by base key) or the regex ``pattern``."""
    return _mask_schema(schema, _keeper(mask, pattern, invert=True), recursive, True)


def in_mask_json(value: dict, mask=None, pattern=None, recursive=True) -> dict:
    return _mask_json(value, _keeper(mask, pattern, invert=False), recursive, False) or {}


def out_mask_json(value: dict, mask=None, pattern=None, recursive=True) -> dict:
    return _mask_json(value, _keeper(mask, pattern, invert=True), recursive, True) or {}


def _rename_schema(schema: dict, rename: Callable[[str], str]) -> dict:
    result = copy.deepcopy(schema)
    properties = {}
    for key, prop in _properties(schema).items():
        prop = copy.deepcopy(prop)
        new_key = rename(key)
        if "title" in prop:
            prop["title"] = _title(new_key)
        properties[new_key] = prop
    result["properties"] = properties
    result["required"] = list(properties)
    return result


def prefix_schema(schema: dict, prefix: str) -> dict:
    return _rename_schema(schema, lambda key: f"{prefix}_{key}")


def suffix_schema(schema: dict, suffix: str) -> dict:
    return _rename_schema(schema, lambda key: f"{key}_{suffix}")


def prefix_json(value: dict, prefix: str) -> dict:
    return {f"{prefix}_{key}": copy.deepcopy(item) for key, item in value.items()}


def suffix_json(value: dict, suffix: str) -> dict:
    return {f"{key}_{suffix}": copy.deepcopy(item) for key, item in value.items()}


def _factor_groups(keys: Iterable[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for key in keys:
        groups.setdefault(base_key(key), []).append(key)
    return groups


def _is_plural(key: str) -> bool:
    return base_key(key) != _TRAILING_INDEX.sub("", key)


def factorize_schema(schema: dict) -> dict:
    """Group keys sharing a base key into one plural list key (``answer``, ``answer_1``
    -> ``answers``); keys that are already plural are kept as they are."""
    result = {key: copy.deepcopy(v) for key, v in schema.items() if key != "properties"}
    properties = {}
    for base, keys in _factor_groups(_properties(schema)).items():
        first = _properties(schema)[keys[0]]
        if len(keys) == 1 and (_is_plural(keys[0]) or keys[0] == base):
            properties[keys[0]] = copy.deepcopy(first)
            continue
        plural = pluralize(base)
        properties[plural] = {
            "items": copy.deepcopy(first),
            "title": _title(plural),
            "type": "array",
        }
    result["properties"] = properties
    result["required"] = list(properties)
    return result


def factorize_json(value: dict) -> dict:
    result = {}
    for base, keys in _factor_groups(value).items():
        if len(keys) == 1 and (_is_plural(keys[0]) or keys[0] == base):
            result[keys[0]] = copy.deepcopy(value[keys[0]])
            continue
        result[pluralize(base)] = [copy.deepcopy(value[key]) for key in keys]
    return result
