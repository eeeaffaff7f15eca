"""Data models of a knowledge graph: labelled entities, relations between them, and the
lists and graphs that carry them, with checks that work on any data model's schema.

Example:
```python
class City(synaprefect.Entity):
    label: Literal["City"]
    name: str

class IsIn(synaprefect.Relation):
    subj: City
    label: Literal["IsIn"]
    obj: Country

synaprefect.is_relation(IsIn)  # True
```
"""

from typing import Any

from synaprefect.data_models.data_model import DataModel, Field

__all__ = [
    "Entity",
    "Relation",
    "Entities",
    "Relations",
    "KnowledgeGraph",
    "KnowledgeGraphs",
    "is_entity",
    "is_relation",
    "is_entities",
    "is_relations",
    "is_knowledge_graph",
    "is_knowledge_graphs",
    "is_embedded_entity",
]


class Entity(DataModel):
    """A node of a knowledge graph; its ``label`` names its kind (and its table)."""

    label: str = Field(description="The entity label")


class Relation(DataModel):
    """An edge of a knowledge graph: ``subj`` -[``label``]-> ``obj``."""

    subj: Entity = Field(description="The subject entity")
    label: str = Field(description="The relation label")
    obj: Entity = Field(description="The object entity")


class Entities(DataModel):
    """A list of entities."""

    entities: list[Entity] = Field(description="The entities")


class Relations(DataModel):
    """A list of relations."""

    relations: list[Relation] = Field(description="The relations")


class KnowledgeGraph(DataModel):
    """Entities and the relations between them."""

    entities: list[Entity] = Field(description="The entities")
    relations: list[Relation] = Field(description="The relations")


class KnowledgeGraphs(DataModel):
    """A list of knowledge graphs."""

    knowledge_graphs: list[KnowledgeGraph] = Field(description="The knowledge graphs")


def _properties(x: Any) -> dict:
    schema = x.get_schema() if hasattr(x, "get_schema") else x.schema()
    return schema.get("properties") or {}


def is_entity(x: Any) -> bool:
    """Whether ``x`` (a data model, its class, or a variable) has a ``label`` field."""
    return "label" in _properties(x)


def is_embedded_entity(x: Any) -> bool:
    """Whether ``x`` is an entity that carries an ``embedding``."""
    properties = _properties(x)
    return "label" in properties and "embedding" in properties


def is_relation(x: Any) -> bool:
    """Whether ``x`` has ``subj``, ``label`` and ``obj`` fields."""
    return {"subj", "label", "obj"} <= set(_properties(x))


def is_entities(x: Any) -> bool:
    return "entities" in _properties(x)


def is_relations(x: Any) -> bool:
    return "relations" in _properties(x)


def is_knowledge_graph(x: Any) -> bool:
    return {"entities", "relations"} <= set(_properties(x))


def is_knowledge_graphs(x: Any) -> bool:
    return "knowledge_graphs" in _properties(x)
