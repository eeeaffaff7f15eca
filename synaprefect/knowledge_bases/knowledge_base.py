"""``KnowledgeBase``: tables of data models with full-text, vector and hybrid search,
and a knowledge graph of entities and relations, on an embedded file or a server.

Example:
```python
class Document(synaprefect.DataModel):
    id: str
    title: str
    content: str

kb = synaprefect.KnowledgeBase(data_models=[Document], embedding_model=embedder)
await kb.update(Document(id="1", title="Hello", content="Hello World!"))
await kb.get("1", table_name="Document")
await kb.hybrid_fts_search("greeting", table_name="Document", k=5)
```
"""

from __future__ import annotations

import asyncio
from typing import Any

from synaprefect.data_models.json_data_model import JsonDataModel
from synaprefect.data_models.symbolic_data_model import SymbolicDataModel
from synaprefect.knowledge_bases.backend import Backend, LoopLocal, backend_for, default_uri
from synaprefect.knowledge_bases.graph import GraphMixin
from synaprefect.knowledge_bases.search import SearchMixin, as_list
from synaprefect.knowledge_bases.tables import TableSpec, row_for, spec_for
from synaprefect.utils.naming import auto_name

__all__ = ["KnowledgeBase"]


def _schema_of(model: Any) -> dict:
    if isinstance(model, dict):
        return model
    if hasattr(model, "get_schema"):
        return model.get_schema()
    raise TypeError(f"Expected a data model (class, instance or schema dict), got {model!r}.")


class KnowledgeBase(SearchMixin, GraphMixin):
    """A knowledge base of data models: one table per data model (per label for
    entities), keyed by its first declared field (after ``label`` for an entity).

    ``update`` is an upsert, so a retried write leaves no duplicate. Searches:
    ``fulltext_search`` (BM25), ``similarity_search`` (vectors, with an
    ``embedding_model`` or given vectors) and ``hybrid_fts_search`` (both, fused by
    reciprocal rank fusion). Graph methods (``update_entities``, ``update_relations``,
    ``local_graph_search``, ``path_hybrid_fts_search``...) store relations between entities
    in the same database.

    ``uri``: ``sqlite:///path/kb.db`` (embedded; Synalinks' ``duckdb://path`` is read as a
    SQLite file), ``sqlite://:memory:``, or ``postgresql://user@host:port/db``. Default:
    ``<storage setting>/knowledge/<name or 'database'>.db``. ``vector_extension``
    (PostgreSQL only): True needs pgvector, False stores vectors as ``real[]`` scored in
    plain SQL, None (default) uses pgvector when the server has it.

    Example:
    ```python
    kb = synaprefect.KnowledgeBase(uri="postgresql://kb@db:5432/kb",
                                   data_models=[Document], embedding_model=embedder)
    ids = await kb.update([doc1, doc2])  # ['doc-1', 'doc-2']
    rows = await kb.fulltext_search("neural networks", table_name="Document", k=3)
    ```
    """

    def __init__(
        self,
        *,
        uri: str | None = None,
        graph_uri: str | None = None,
        data_models: list | None = None,
        entity_models: list | None = None,
        relation_models: list | None = None,
        embedding_model: Any = None,
        metric: str = "cosine",
        wipe_on_start: bool = False,
        name: str | None = None,
        vector_extension: bool | None = None,
    ):
        from synaprefect.language_models import EmbeddingModel

        if uri and graph_uri and uri != graph_uri:
            raise ValueError(
                "One database holds both the tables and the graph here: pass "
                "`uri` alone (or the same value as `graph_uri`)."
            )
        self.name = name or auto_name("knowledge_base")
        self.uri = uri or graph_uri or default_uri(name or "database")
        self.metric = metric
        self.wipe_on_start = wipe_on_start
        if isinstance(embedding_model, dict):
            embedding_model = EmbeddingModel.from_config(embedding_model)
        elif isinstance(embedding_model, str):
            embedding_model = EmbeddingModel(embedding_model)
        self.embedding_model = embedding_model
        self.data_models = list(data_models or [])
        self.entity_models = list(entity_models or [])
        self.relation_models = list(relation_models or [])
        self.vector_extension = vector_extension
        self.backend: Backend = backend_for(self.uri, metric, vector_extension)
        self._specs: dict[str, TableSpec] = {}
        for model, entity in [(m, False) for m in self.data_models] + [
            (m, True) for m in self.entity_models
        ]:
            spec = spec_for(_schema_of(model), entity=entity)
            self._specs[spec.name] = spec
        self._ready = False
        self._setup_lock = LoopLocal(asyncio.Lock)
        self._ensured: set[str] = set()  # tables created (or checked) by this instance

    # ---- tables -------------------------------------------------------------------------

    async def _setup(self) -> None:
        if self._ready:
            return
        async with self._setup_lock.get():  # concurrent first calls: one setup, one wipe
            if self._ready:
                return
            if self.wipe_on_start:
                for table in await self.backend.specs():
                    await self.backend.drop(table)
                await self.backend.clear_edges()
            stored = await self.backend.specs()
            for spec in self._specs.values():
                await self.backend.ensure_table(spec)
                self._ensured.add(spec.name)
            self._specs = {**stored, **self._specs}
            self._ready = True

    async def _spec(self, table_name: str) -> TableSpec:
        await self._setup()
        if table_name not in self._specs:
            self._specs.update(await self.backend.specs())
        if table_name not in self._specs:
            raise ValueError(
                f"No table named {table_name!r} in knowledge base '{self.name}'; "
                f"it has {sorted(self._specs)}."
            )
        return self._specs[table_name]

    def get_symbolic_data_models(self) -> list[SymbolicDataModel]:
        """The tables this knowledge base knows (declared, written or found on disk at
        its first use), as symbolic data models."""
        return [SymbolicDataModel(schema=spec.schema) for spec in self._specs.values()]

    # ---- records ------------------------------------------------------------------------

    async def _vectors(self, texts: list[str]) -> list[list[float]]:
        if self.embedding_model is None:
            raise ValueError(
                f"Knowledge base '{self.name}' has no `embedding_model`: pass "
                "one, or `vector_or_vectors=` to search by vectors."
            )
        return await self.embedding_model.embed(texts)

    async def _store(
        self, records: list[dict], schemas: list[dict], entity: bool = False
    ) -> list[str]:
        """Upsert records (JSON and schema), embedding those without a vector; entities
        go to their label's table."""
        await self._setup()
        by_table: dict[str, list[int]] = {}
        specs = []
        for index, (record, schema) in enumerate(zip(records, schemas)):
            spec = spec_for(schema, record, entity=entity)
            specs.append(self._specs.setdefault(spec.name, spec))
            by_table.setdefault(spec.name, []).append(index)
        keys: list[str] = [""] * len(records)
        for indices in by_table.values():
            spec = specs[indices[0]]
            if spec.name not in self._ensured:
                await self.backend.ensure_table(spec)
                self._ensured.add(spec.name)
            rows = [row_for(spec, records[i], records[i].get("embedding")) for i in indices]
            missing = [j for j, row in enumerate(rows) if row.vector is None and row.text]
            if missing and self.embedding_model is not None:
                vectors = await self._vectors([rows[j].text for j in missing])
                for j, vector in zip(missing, vectors):
                    rows[j] = row_for(spec, records[indices[j]], vector)
            await self.backend.upsert(spec, rows)
            for i, row in zip(indices, rows):
                keys[i] = row.key
        return keys

    async def update(self, data_model_or_data_models: Any) -> Any:
        """Insert or update records (a data model or a list); returns their key(s).

        Example: ``await kb.update(Document(id="d1", title="T", content="..."))  # 'd1'``
        """
        items, many = as_list(data_model_or_data_models)
        for item in items:
            if not hasattr(item, "get_json"):
                raise TypeError(f"`update` takes data models, got {type(item).__name__}.")
        keys = await self._store([i.get_json() for i in items], [i.get_schema() for i in items])
        return keys if many else keys[0]

    async def get(self, id_or_ids: Any, *, table_name: str) -> Any:
        """The record(s) with these key(s): a ``JsonDataModel`` or None each."""
        spec = await self._spec(table_name)
        ids, many = as_list(id_or_ids)
        found = await self.backend.get(table_name, [str(i) for i in ids])
        records = [
            JsonDataModel(schema=spec.schema, json=found[str(i)]) if str(i) in found else None
            for i in ids
        ]
        return records if many else records[0]

    async def getall(
        self, *, table_name: str, limit: int = 50, offset: int = 0
    ) -> list[JsonDataModel]:
        """Records of a table in insertion order, a page at a time."""
        spec = await self._spec(table_name)
        return [
            JsonDataModel(schema=spec.schema, json=record)
            for record in await self.backend.getall(table_name, limit, offset)
        ]

    async def delete(self, id_or_ids: Any, *, table_name: str) -> int:
        """Delete records by key; returns how many existed."""
        await self._spec(table_name)
        ids, _ = as_list(id_or_ids)
        return await self.backend.delete(table_name, [str(i) for i in ids])

    async def drop_table(self, table_name: str) -> bool:
        await self._setup()
        self._specs.pop(table_name, None)
        self._ensured.discard(table_name)
        return await self.backend.drop(table_name)

    async def count(self, *, table_name: str) -> int:
        """The number of records in a table."""
        await self._spec(table_name)
        return await self.backend.count(table_name)

    # ---- lifecycle and configuration ----------------------------------------------------

    async def close(self) -> None:
        await self.backend.close()

    def get_config(self) -> dict:
        return {
            "uri": self.uri,
            "name": self.name,
            "metric": self.metric,
            "wipe_on_start": self.wipe_on_start,
            "vector_extension": self.vector_extension,
            "data_models": [_schema_of(m) for m in self.data_models],
            "entity_models": [_schema_of(m) for m in self.entity_models],
            "relation_models": [_schema_of(m) for m in self.relation_models],
            "embedding_model": (
                self.embedding_model.get_config() if self.embedding_model is not None else None
            ),
        }

    @classmethod
    def from_config(cls, config: dict) -> KnowledgeBase:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<KnowledgeBase name={self.name!r} uri={self.uri!r}>"
