"""Knowledge modules: ``EmbedKnowledge`` (attach embedding vectors) and ``UpdateKnowledge``
(upsert into a ``KnowledgeBase``); with ``RetrieveKnowledge`` (``retrieve_knowledge``: an
LM writes the search, the knowledge base answers it), the parts of a retrieval-augmented
program.

In a job, each is one task of its module, like every module (``task_granularity``): a
retried ``UpdateKnowledge`` upserts the same keys again, so it leaves no duplicate.

Example:
```python
inputs = synaprefect.Input(data_model=Query)
retrieved = await synaprefect.RetrieveKnowledge(
    knowledge_base=kb, language_model=lm, search_type="hybrid", k=3)(inputs)
answer = await synaprefect.Generator(data_model=Answer, language_model=lm)(retrieved)
program = synaprefect.Program(inputs=inputs, outputs=answer)
```
"""

from __future__ import annotations

import copy
from typing import Any

from synaprefect.data_models.json_data_model import JsonDataModel
from synaprefect.data_models.knowledge import (
    is_entities,
    is_entity,
    is_knowledge_graph,
    is_knowledge_graphs,
    is_relation,
    is_relations,
)
from synaprefect.data_models.symbolic_data_model import SymbolicDataModel
from synaprefect.knowledge_bases import get as get_knowledge_base
from synaprefect.language_models import EmbeddingModel
from synaprefect.modules.module import Module
from synaprefect.utils.nest import flatten, map_structure

__all__ = ["EmbedKnowledge", "UpdateKnowledge"]

_EMBEDDING = {"type": "array", "items": {"type": "number"}, "description": "The embedding vector"}


def _embedding_model(value: Any) -> EmbeddingModel:
    if isinstance(value, EmbeddingModel):
        return value
    if isinstance(value, str):
        return EmbeddingModel(value)
    if isinstance(value, dict):
        return EmbeddingModel.from_config(value)
    raise ValueError(
        f"`embedding_model` must be an EmbeddingModel, a model string or its config, got {value!r}."
    )


def _graph_units(json: dict, schema_of: Any) -> list[dict]:
    """The entity dicts of a graph-shaped value, in order (mutable, inside ``json``)."""
    if is_knowledge_graphs(schema_of):
        return [u for g in json.get("knowledge_graphs") or [] for u in _kg_units(g)]
    if is_knowledge_graph(schema_of):
        return _kg_units(json)
    if is_relations(schema_of):
        return [u for r in json.get("relations") or [] for u in _endpoints(r)]
    if is_entities(schema_of):
        return list(json.get("entities") or [])
    if is_relation(schema_of):
        return _endpoints(json)
    return [json]  # a plain data model or an entity: embedded whole


def _endpoints(relation: dict) -> list[dict]:
    return [relation[s] for s in ("subj", "obj") if isinstance(relation.get(s), dict)]


def _kg_units(graph: dict) -> list[dict]:
    return list(graph.get("entities") or []) + [
        u for r in graph.get("relations") or [] for u in _endpoints(r)
    ]


class EmbedKnowledge(Module):
    """Adds an ``embedding`` vector to a data model, or to each entity of an
    ``Entities``, ``Relations`` (their endpoints) or ``KnowledgeGraph``; one batched
    request per input. ``in_mask`` keeps, ``out_mask`` drops, the fields whose text is
    embedded.

    Example:
    ```python
    embedded = await synaprefect.EmbedKnowledge(
        embedding_model=embedder, in_mask=["content"])(inputs)
    ```
    """

    def __init__(
        self,
        *,
        embedding_model: Any = None,
        in_mask: list[str] | None = None,
        out_mask: list[str] | None = None,
        name: str | None = None,
        description: str | None = None,
        trainable: bool = False,
    ):
        super().__init__(name=name, description=description, trainable=trainable)
        self.embedding_model = _embedding_model(embedding_model)
        self.in_mask = list(in_mask) if in_mask else None
        self.out_mask = list(out_mask) if out_mask else None

    def _text(self, unit: dict) -> str:
        fields = {k: v for k, v in unit.items() if k != "embedding"}
        if self.out_mask:
            fields = {k: v for k, v in fields.items() if k not in self.out_mask}
        elif self.in_mask:
            fields = {k: v for k, v in fields.items() if k in self.in_mask}
        return " ".join(str(v) for v in flatten(list(fields.values())) if v not in (None, ""))

    @staticmethod
    def _schema(schema: dict) -> dict:
        schema = copy.deepcopy(schema)
        properties = schema.get("properties") or {}
        if not any(
            key in properties for key in ("entities", "relations", "subj", "knowledge_graphs")
        ):
            properties["embedding"] = _EMBEDDING
        for definition in (schema.get("$defs") or {}).values():
            inner = definition.get("properties") or {}
            if "label" in inner and "subj" not in inner:
                inner["embedding"] = _EMBEDDING
        return schema

    async def _embed(self, value):
        if value is None:
            return None
        json = copy.deepcopy(value.get_json())
        # Units that already carry a vector keep it: an embedding is paid for once.
        units = [u for u in _graph_units(json, value) if not u.get("embedding")]
        if units:
            vectors = await self.embedding_model.embed([self._text(u) for u in units])
            for unit, vector in zip(units, vectors):
                unit["embedding"] = vector
        return JsonDataModel(json=json, schema=self._schema(value.get_schema()))

    async def call(self, inputs):
        if isinstance(inputs, (list, tuple)):
            return type(inputs)([await self._embed(v) for v in inputs])
        return await self._embed(inputs)

    async def compute_output_spec(self, inputs):
        return map_structure(
            lambda v: SymbolicDataModel(schema=self._schema(v.get_schema())), inputs
        )

    def get_config(self) -> dict:
        return {
            "embedding_model": self.embedding_model.get_config(),
            "in_mask": self.in_mask,
            "out_mask": self.out_mask,
            "name": self.name,
            "description": self.description,
            "trainable": self.trainable,
        }


def _resolved(schema: dict, field: str) -> dict:
    """The schema of the items of list field ``field``, ``$ref`` resolved (``{}`` when
    the items may be of several kinds: the records then describe themselves)."""
    items = ((schema.get("properties") or {}).get(field) or {}).get("items") or {}
    definitions = schema.get("$defs") or {}
    if "$ref" in items:
        return {**definitions.get(items["$ref"].rsplit("/", 1)[-1], {}), "$defs": definitions}
    return {}


class UpdateKnowledge(Module):
    """Upserts its input into a ``KnowledgeBase`` and returns it unchanged: a data model
    into its table; an entity, ``Entities``, relation, ``Relations`` or
    ``KnowledgeGraph`` into the graph (relations with their endpoints).

    Example:
    ```python
    stored = await synaprefect.UpdateKnowledge(knowledge_base=kb)(extracted)
    ```
    """

    def __init__(
        self,
        *,
        knowledge_base: Any = None,
        name: str | None = None,
        description: str | None = None,
        trainable: bool = False,
    ):
        super().__init__(name=name, description=description, trainable=trainable)
        if knowledge_base is None:
            raise ValueError(f"{type(self).__name__} needs `knowledge_base=`.")
        self.knowledge_base = get_knowledge_base(knowledge_base)

    async def _update(self, value) -> None:
        kb, json, schema = self.knowledge_base, value.get_json(), value.get_schema()
        if is_knowledge_graphs(value):
            for graph in json.get("knowledge_graphs") or []:
                await kb.update_knowledge_graph(JsonDataModel(json=graph, schema={}))
        elif is_knowledge_graph(value):
            await kb.update_knowledge_graph(value)
        elif is_entities(value) or is_relations(value):
            field = "entities" if is_entities(value) else "relations"
            items = [
                JsonDataModel(json=item, schema=_resolved(schema, field))
                for item in json.get(field) or []
            ]
            if items:
                await (kb.update_entities if field == "entities" else kb.update_relations)(items)
        elif is_relation(value):
            await kb.update_relations(value)
        elif is_entity(value):
            await kb.update_entities(value)
        else:
            await kb.update(value)

    async def call(self, inputs):
        for value in flatten(inputs):
            if value is not None:
                await self._update(value)
        return map_structure(lambda v: v.clone() if v is not None else None, inputs)

    async def compute_output_spec(self, inputs):
        return map_structure(lambda v: v.clone(), inputs)

    def get_config(self) -> dict:
        return {
            "knowledge_base": self.knowledge_base.get_config(),
            "name": self.name,
            "description": self.description,
            "trainable": self.trainable,
        }
