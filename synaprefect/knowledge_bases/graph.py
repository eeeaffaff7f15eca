"""The knowledge graph of a ``KnowledgeBase``: entities are records of their label's
table, relations are edges between two entities, stored in the same database.
Retrieval: an entity's neighbourhood (``neighborhood``, ``local_graph_search``) and the
paths from subject matches to object matches (``path_*_search``).

Example:
```python
await kb.update_relations([IsIn(subj=paris, label="IsIn", obj=france)])
graph = await kb.neighborhood("Paris", label="City", max_hops=2)
paths = await kb.path_fulltext_search("Paris", "Europe", subj_label="City",
                                      obj_label="Continent", max_hops=2)
```
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from synaprefect.data_models.json_data_model import JsonDataModel
from synaprefect.data_models.knowledge import KnowledgeGraph
from synaprefect.knowledge_bases.tables import Edge, TableSpec, check_name, spec_for

if TYPE_CHECKING:
    from synaprefect.knowledge_bases.backend import Backend

__all__ = ["GraphMixin"]

_Node = tuple[str, str]  # (label, key)


def _listed(value: Any) -> tuple[list, bool]:
    return (list(value), True) if isinstance(value, (list, tuple)) else ([value], False)


def _endpoint_schema(relation_schema: dict, side: str) -> dict:
    """The schema of a relation's subject or object, ``$ref`` resolved."""
    definitions = relation_schema.get("$defs") or {}
    schema = (relation_schema.get("properties") or {}).get(side) or {}
    for option in [schema, *(schema.get("anyOf") or schema.get("allOf") or [])]:
        if "$ref" in option:
            return {**definitions.get(option["$ref"].rsplit("/", 1)[-1], {}), "$defs": definitions}
    return schema


class GraphMixin:
    """Graph methods of ``KnowledgeBase`` (entities, relations, neighbourhoods, paths)."""

    if TYPE_CHECKING:  # what KnowledgeBase provides, for the type checker
        backend: Backend
        _specs: dict[str, TableSpec]

        async def _setup(self) -> None: ...
        async def _spec(self, table_name: str) -> TableSpec: ...
        async def _store(self, *args: Any, **kwargs: Any) -> Any: ...
        async def get(self, *args: Any, **kwargs: Any) -> Any: ...
        async def fulltext_search(self, *args: Any, **kwargs: Any) -> Any: ...
        async def similarity_search(self, *args: Any, **kwargs: Any) -> Any: ...
        async def hybrid_fts_search(self, *args: Any, **kwargs: Any) -> Any: ...

    # ---- writing ------------------------------------------------------------------------

    def _entity_spec(self, record: dict, schema: dict):
        known = self._specs.get(record.get("label") or "")
        if known is not None:
            return known
        if not (schema.get("properties") or {}):  # no schema: the record's own fields
            schema = {
                "title": record.get("label"),
                "properties": {
                    k: {"type": "string"} if isinstance(v, str) else {} for k, v in record.items()
                },
            }
        return spec_for(schema, record, entity=True)

    async def update_entities(self, entity_or_entities: Any) -> Any:
        """Insert or update entities (each in its label's table); returns their keys."""
        items, many = _listed(entity_or_entities)
        for item in items:
            if "label" not in item.get_json():
                raise ValueError(f"An entity needs a `label` field, got {item.get_json()!r:.200}.")
        records = [item.get_json() for item in items]
        specs = [self._entity_spec(r, i.get_schema()) for r, i in zip(records, items)]
        keys = await self._store(records, [spec.schema for spec in specs], entity=True)
        return keys if many else keys[0]

    async def update_relations(self, relation_or_relations: Any) -> Any:
        """Insert or update relations and their two endpoint entities; returns their ids
        (``"City/Paris-[IsIn]->Country/France"``). Writing one twice changes nothing."""
        items, many = _listed(relation_or_relations)
        edges, ids = [], []
        for item in items:
            record, schema = item.get_json(), item.get_schema()
            nodes = []
            for side in ("subj", "obj"):
                endpoint = record.get(side)
                if not isinstance(endpoint, dict) or "label" not in endpoint:
                    raise ValueError(
                        f"A relation's `{side}` must be an entity with a `label`, "
                        f"got {endpoint!r:.200}."
                    )
                endpoint_schema = _endpoint_schema(schema, side)
                spec = self._entity_spec(endpoint, endpoint_schema)
                self._specs.setdefault(spec.name, spec)
                await self._store([endpoint], [spec.schema], entity=True)
                nodes.append((spec.name, str(endpoint[spec.key])))
            label = check_name(record.get("label"), "a relation's label")
            data = {k: v for k, v in record.items() if k not in ("subj", "label", "obj")}
            edges.append(Edge(label, *nodes[0], *nodes[1], data))
            ids.append(f"{nodes[0][0]}/{nodes[0][1]}-[{label}]->{nodes[1][0]}/{nodes[1][1]}")
        await self._setup()
        await self.backend.upsert_edges(edges)
        return ids if many else ids[0]

    async def update_knowledge_graph(self, knowledge_graph: Any) -> dict:
        """The entities, then the relations, of a ``KnowledgeGraph``; returns their ids."""
        graph = knowledge_graph.get_json()
        entities = list(graph.get("entities") or [])
        specs = [self._entity_spec(entity, {}) for entity in entities]
        entity_ids = (
            await self._store(entities, [s.schema for s in specs], entity=True) if entities else []
        )
        relations = [
            JsonDataModel(schema={"properties": {}}, json=relation)
            for relation in graph.get("relations") or []
        ]
        relation_ids = await self.update_relations(relations) if relations else []
        return {"entities": entity_ids, "relations": relation_ids}

    async def get_entity(self, id_or_ids: Any, *, label: str) -> Any:
        return await self.get(id_or_ids, table_name=label)

    # ---- entity search: an entity label is a table ----------------------------------

    async def entity_fulltext_search(self, text_or_texts: Any, *, label: str, **kwargs):
        return await self.fulltext_search(text_or_texts, table_name=label, **kwargs)

    async def entity_similarity_search(self, text_or_texts: Any = None, *, label: str, **kwargs):
        return await self.similarity_search(text_or_texts, table_name=label, **kwargs)

    async def entity_hybrid_fts_search(self, text_or_texts: Any = None, *, label: str, **kwargs):
        return await self.hybrid_fts_search(text_or_texts, table_name=label, **kwargs)

    # ---- neighbourhoods -----------------------------------------------------------------

    async def _expand(
        self, seeds: list[_Node], max_hops: int, rel_label: str | None
    ) -> JsonDataModel:
        if max_hops < 0:
            raise ValueError(f"`max_hops` must be 0 or more, got {max_hops}.")
        seen, frontier, edges = list(dict.fromkeys(seeds)), list(dict.fromkeys(seeds)), {}
        for _ in range(max_hops):
            if not frontier:
                break
            found = await self.backend.edges_touching(frontier, rel_label)
            frontier = []
            for edge in found:
                edges[
                    (edge.label, edge.subj_label, edge.subj_key, edge.obj_label, edge.obj_key)
                ] = edge
                for node in ((edge.subj_label, edge.subj_key), (edge.obj_label, edge.obj_key)):
                    if node not in seen:
                        seen.append(node)
                        frontier.append(node)
        records = await self._records(seen)
        relations = [self._relation_json(e, records) for e in edges.values()]
        return JsonDataModel(
            schema=KnowledgeGraph.get_schema(),
            json={"entities": [records[n] for n in seen if n in records], "relations": relations},
        )

    async def _records(self, nodes: list[_Node]) -> dict[_Node, dict]:
        by_label: dict[str, list[str]] = {}
        for label, key in nodes:
            by_label.setdefault(label, []).append(key)
        records = {}
        for label, keys in by_label.items():
            for key, record in (await self.backend.get(label, keys)).items():
                records[(label, key)] = record
        return records

    @staticmethod
    def _relation_json(edge: Edge, records: dict) -> dict:
        subj = records.get((edge.subj_label, edge.subj_key)) or {"label": edge.subj_label}
        obj = records.get((edge.obj_label, edge.obj_key)) or {"label": edge.obj_label}
        return {"subj": subj, "label": edge.label, "obj": obj, **edge.data}

    async def neighborhood(
        self, id_or_ids: Any, *, label: str, max_hops: int = 1, rel_label: str | None = None
    ) -> JsonDataModel:
        """The entities within ``max_hops`` relations (either direction) of the given
        entities, and those relations, as a ``KnowledgeGraph``.

        Example: ``await kb.neighborhood("Paris", label="City", max_hops=2)``
        """
        await self._spec(label)
        ids, _ = _listed(id_or_ids)
        return await self._expand([(label, str(i)) for i in ids], max_hops, rel_label)

    async def local_graph_search(
        self,
        text_or_texts: Any = None,
        *,
        label: str,
        vector_or_vectors: list | None = None,
        max_hops: int = 2,
        k: int = 10,
        threshold: float | None = None,
        rel_label: str | None = None,
    ) -> JsonDataModel:
        """The neighbourhood of the ``k`` entities of ``label`` that best match the query
        (hybrid search), as a ``KnowledgeGraph``."""
        spec = await self._spec(label)
        seeds = await self.hybrid_fts_search(
            text_or_texts,
            table_name=label,
            vector_or_vectors=vector_or_vectors,
            k=k,
            similarity_threshold=threshold,
        )
        return await self._expand([(label, str(r[spec.key])) for r in seeds], max_hops, rel_label)

    # ---- paths --------------------------------------------------------------------------

    async def _paths(
        self,
        search: str,
        subj_text,
        obj_text,
        *,
        subj_label: str,
        obj_label: str,
        label: str | None,
        min_hops: int,
        max_hops: int,
        k: int,
        **search_kwargs,
    ) -> list[dict]:
        if not 1 <= min_hops <= max_hops:
            raise ValueError(f"Need 1 <= min_hops <= max_hops, got {min_hops} and {max_hops}.")
        find = getattr(self, search)
        lower_better = search == "similarity_search"
        ends = {}
        for side, text, table in (("subj", subj_text, subj_label), ("obj", obj_text, obj_label)):
            spec = await self._spec(table)
            found = await find(text, table_name=table, k=k, **search_kwargs)
            ends[side] = {(table, str(r[spec.key])): r["score"] for r in found}
        outgoing: dict[_Node, list[Edge]] = {}
        paths = []

        async def walk(node: _Node, trail: list[Edge], visited: set) -> None:
            if node in ends["obj"] and len(trail) >= min_hops:
                paths.append((trail[0].subj_label, trail[0].subj_key, node, list(trail)))
            if len(trail) == max_hops:
                return
            if node not in outgoing:
                outgoing[node] = [
                    e
                    for e in await self.backend.edges_touching([node], label)
                    if (e.subj_label, e.subj_key) == node
                ]
            for edge in outgoing[node]:
                target = (edge.obj_label, edge.obj_key)
                if target not in visited:
                    await walk(target, [*trail, edge], visited | {target})

        for start in ends["subj"]:
            await walk(start, [], {start})
        nodes = {
            n
            for _, _, end, trail in paths
            for e in trail
            for n in ((e.subj_label, e.subj_key), (e.obj_label, e.obj_key))
        }
        records = await self._records(list(nodes))
        results = [
            {
                "subj": records.get((s_label, s_key)),
                "obj": records.get(end),
                "relations": [self._relation_json(e, records) for e in trail],
                "hops": len(trail),
                "score": ends["subj"][(s_label, s_key)] + ends["obj"][end],
            }
            for s_label, s_key, end, trail in paths
        ]
        results.sort(key=lambda r: r["score"], reverse=not lower_better)
        return results[:k]

    async def path_fulltext_search(
        self,
        subj_text_or_texts: Any = None,
        obj_text_or_texts: Any = None,
        *,
        subj_label: str,
        obj_label: str,
        label: str | None = None,
        min_hops: int = 1,
        max_hops: int = 3,
        k: int = 10,
    ) -> list[dict]:
        """Paths ``subj -[...]-> obj`` of ``min_hops`` to ``max_hops`` relations (of
        ``label`` if given) from entities matching the subject query to entities matching
        the object query; ``score`` sums both ends' BM25 scores.

        Example: ``await kb.path_fulltext_search("Paris", "Europe", subj_label="City",
        obj_label="Continent")``
        """
        return await self._paths(
            "fulltext_search",
            subj_text_or_texts,
            obj_text_or_texts,
            subj_label=subj_label,
            obj_label=obj_label,
            label=label,
            min_hops=min_hops,
            max_hops=max_hops,
            k=k,
        )

    async def path_similarity_search(
        self,
        subj_text_or_texts: Any = None,
        obj_text_or_texts: Any = None,
        *,
        subj_label: str,
        obj_label: str,
        label: str | None = None,
        min_hops: int = 1,
        max_hops: int = 3,
        k: int = 10,
    ) -> list[dict]:
        """As ``path_fulltext_search``, ends found by vectors; ``score`` sums both ends'
        distances (lower first)."""
        return await self._paths(
            "similarity_search",
            subj_text_or_texts,
            obj_text_or_texts,
            subj_label=subj_label,
            obj_label=obj_label,
            label=label,
            min_hops=min_hops,
            max_hops=max_hops,
            k=k,
        )

    async def path_hybrid_fts_search(
        self,
        subj_text_or_texts: Any = None,
        obj_text_or_texts: Any = None,
        *,
        subj_label: str,
        obj_label: str,
        label: str | None = None,
        min_hops: int = 1,
        max_hops: int = 3,
        k: int = 10,
        k_rank: int = 60,
    ) -> list[dict]:
        """As ``path_fulltext_search``, ends found by hybrid search; ``score`` sums both
        ends' fused scores."""
        return await self._paths(
            "hybrid_fts_search",
            subj_text_or_texts,
            obj_text_or_texts,
            subj_label=subj_label,
            obj_label=obj_label,
            label=label,
            min_hops=min_hops,
            max_hops=max_hops,
            k=k,
            k_rank=k_rank,
        )
