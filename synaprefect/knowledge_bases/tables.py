"""Tables of a knowledge base: one per data model (or entity label), keyed by the first
declared field, and the rows a backend stores for a record.

A backend stores each record as its JSON document, the text indexed for full-text
search (its string fields, joined) and, when there is one, its embedding vector.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "TableSpec",
    "Row",
    "Edge",
    "table_name",
    "spec_for",
    "row_for",
    "text_of",
    "check_name",
    "tokens",
]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,50}$")
_TOKEN = re.compile(r"[^\W_]+")


def check_name(name: Any, what: str = "table_name") -> str:
    """A table or label name safe to quote into SQL (letters, digits, underscores)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"`{what}` must be a name of letters, digits and underscores (at most 51, not "
            f"starting with a digit), got {name!r}."
        )
    return name


def tokens(text: str) -> list[str]:
    """The lower-case words of ``text``, the only part of a query that reaches SQL."""
    return _TOKEN.findall(text.lower())


@dataclass(frozen=True)
class TableSpec:
    """A table: its name, its key field, the schema of its records and their text
    fields (full-text indexed and embedded)."""

    name: str
    key: str
    schema: dict
    text_fields: tuple[str, ...]

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "key": self.key,
            "schema": self.schema,
            "text_fields": list(self.text_fields),
        }

    @classmethod
    def from_json(cls, value: dict) -> TableSpec:
        return cls(value["name"], value["key"], value["schema"], tuple(value["text_fields"]))


@dataclass(frozen=True)
class Row:
    """What a backend stores for one record."""

    key: str
    data: dict
    text: str
    vector: list[float] | None


@dataclass(frozen=True)
class Edge:
    """A stored relation: ``subj`` -[``label``]-> ``obj`` with its other fields."""

    label: str
    subj_label: str
    subj_key: str
    obj_label: str
    obj_key: str
    data: dict

    @classmethod
    def from_columns(cls, columns: Sequence[Any], data: dict) -> Edge:
        """From a stored row: its first five columns are the key, in field order."""
        label, subj_label, subj_key, obj_label, obj_key = columns[:5]
        return cls(label, subj_label, subj_key, obj_label, obj_key, data)


def _label_value(schema: dict) -> str | None:
    label = (schema.get("properties") or {}).get("label") or {}
    if "const" in label:
        return label["const"]
    enum = label.get("enum") or []
    return enum[0] if len(enum) == 1 else None


def table_name(schema: dict, json: dict | None = None, *, entity: bool = False) -> str:
    """An entity's table is its label; any other record's is its schema's title."""
    if entity:
        label = (json or {}).get("label") or _label_value(schema)
        return check_name(label, "label")
    return check_name(schema.get("title"), "the data model's title (its class name)")


def _is_text(field: dict) -> bool:
    kinds = [field, *(field.get("anyOf") or [])]  # Optional[str] is an anyOf
    return any(k.get("type") == "string" or "string" in (k.get("type") or []) for k in kinds)


def spec_for(schema: dict, json: dict | None = None, *, entity: bool = False) -> TableSpec:
    """The table of records of ``schema``: keyed by the first declared field, after
    ``label`` for an entity (whose label names the table and is not indexed as text)."""
    properties = schema.get("properties") or {}
    skipped = ("label", "embedding") if entity else ("embedding",)
    fields = [name for name in properties if name not in skipped]
    name = table_name(schema, json, entity=entity)
    if not fields:
        raise ValueError(
            f"Data model '{name}' has no field to key its table by: the first declared "
            "field (after `label` for an entity) is the primary key."
        )
    kept = {k: v for k, v in properties.items() if k != "embedding"}
    stored = {
        **schema,
        "properties": kept,
        "required": [r for r in schema.get("required", []) if r != "embedding"],
    }
    text_fields = tuple(f for f in fields if _is_text(properties[f]))
    return TableSpec(name, fields[0], stored, text_fields)


def row_for(spec: TableSpec, json: dict, vector: list[float] | None) -> Row:
    """The row of one record; ``ValueError`` names the missing key field."""
    if json.get(spec.key) is None:
        raise ValueError(
            f"Record of '{spec.name}' has no value for its key field `{spec.key}` (the "
            f"first declared field): {json!r:.200}"
        )
    data = {k: v for k, v in json.items() if k != "embedding"}
    return Row(str(json[spec.key]), data, text_of(spec, data), vector)


def text_of(spec: TableSpec, data: dict) -> str:
    return " ".join(str(data[f]) for f in spec.text_fields if data.get(f))
