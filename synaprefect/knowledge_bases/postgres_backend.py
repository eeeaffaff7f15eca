"""The server backend: PostgreSQL with the pgvector extension, through asyncpg (installed
with Prefect).

Each table ``T`` holds the key, the JSON document, the indexed text with its generated
``tsvector`` (a GIN index; English stemming, ranked by ``ts_rank_cd``) and a pgvector
``vector``. Vector search is exact (``ORDER BY embedding <=> query``): add an HNSW index
with a fixed dimension for approximate search on large tables. The database needs
``CREATE EXTENSION vector`` to be allowed (or done once by an administrator).
"""

from __future__ import annotations

import asyncio
import json
import re
import struct

import numpy as np

from synaprefect.knowledge_bases.backend import Backend, LoopLocal
from synaprefect.knowledge_bases.tables import Edge, Row, TableSpec, check_name

__all__ = ["PostgresBackend"]

_META = "synaprefect_kb_tables"
_EDGES = "synaprefect_kb_relations"
# metric -> the pgvector expression of the distance (lower is closer, as in METRICS)
_DISTANCE = {"cosine": "embedding <=> $1::vector", "l2sq": "(embedding <-> $1::vector) ^ 2",
             "ip": "embedding <#> $1::vector"}


def _encode_vector(vector) -> bytes:
    """pgvector's binary form: dimensions and a reserved word (int16 each), then float32s,
    all big-endian."""
    values = np.asarray(vector, dtype=">f4")
    return struct.pack(">HH", values.shape[0], 0) + values.tobytes()


def _decode_vector(data: bytes) -> list[float]:
    count = struct.unpack_from(">H", data)[0]
    return np.frombuffer(data, dtype=">f4", count=count, offset=4).tolist()


async def _register_vector(connection) -> None:
    await connection.set_type_codec("vector", encoder=_encode_vector, decoder=_decode_vector,
                                    format="binary")


class PostgresBackend(Backend):
    """Example: ``KnowledgeBase(uri="postgresql://kb@db.internal:5432/kb", ...)``"""

    def __init__(self, uri: str):
        self.uri = uri
        self._dsn = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", uri)
        self._pools = LoopLocal(lambda: None)  # asyncpg pools belong to one event loop
        self._locks = LoopLocal(asyncio.Lock)
        self._schema_ready = False

    async def _pool(self):
        import asyncpg

        pool = self._pools.get()
        if pool is not None:
            return pool
        async with self._locks.get():  # concurrent first calls make one pool
            pool = self._pools.get()
            if pool is None:
                if not self._schema_ready:  # the extension first: the codec needs its type
                    connection = await asyncpg.connect(self._dsn)
                    try:
                        await self._create_schema(connection)
                    finally:
                        await connection.close()
                    self._schema_ready = True
                pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=4,
                                                 init=_register_vector)
                self._pools.set(pool)
        return pool

    @staticmethod
    async def _create_schema(connection) -> None:
        # Concurrent first calls may race on CREATE ... IF NOT EXISTS: serialise them.
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock(714285)")
            try:
                await connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except Exception as error:
                raise RuntimeError(
                    "The PostgreSQL knowledge base needs the pgvector extension "
                    "(Debian: postgresql-<major>-pgvector, or build it from "
                    f"github.com/pgvector/pgvector): {error}") from error
            await connection.execute(
                f"CREATE TABLE IF NOT EXISTS {_META} (name TEXT PRIMARY KEY, spec JSON)")
            await connection.execute(
                f"CREATE TABLE IF NOT EXISTS {_EDGES} (label TEXT, subj_label TEXT, "
                "subj_key TEXT, obj_label TEXT, obj_key TEXT, data JSON NOT NULL, "
                "PRIMARY KEY (label, subj_label, subj_key, obj_label, obj_key))")
            for side in ("subj", "obj"):
                await connection.execute(f"CREATE INDEX IF NOT EXISTS {_EDGES}_{side} ON "
                                         f"{_EDGES} ({side}_label, {side}_key)")

    async def _fetch(self, sql: str, *args) -> list:
        async with (await self._pool()).acquire() as connection:
            return await connection.fetch(sql, *args)

    async def ensure_table(self, spec: TableSpec) -> None:
        name = check_name(spec.name)
        async with (await self._pool()).acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock(714285)")
            await connection.execute(
                f'CREATE TABLE IF NOT EXISTS "{name}" (key TEXT PRIMARY KEY, '
                "data JSON NOT NULL, body TEXT NOT NULL, tsv tsvector GENERATED ALWAYS AS "
                "(to_tsvector('english', body)) STORED, embedding vector, "
                "position BIGSERIAL)")
            await connection.execute(
                f'CREATE INDEX IF NOT EXISTS "{name}__tsv" ON "{name}" USING gin (tsv)')
            await connection.execute(
                f"INSERT INTO {_META} (name, spec) VALUES ($1, $2) ON CONFLICT (name) "
                "DO UPDATE SET spec = EXCLUDED.spec", name, json.dumps(spec.to_json()))

    async def specs(self) -> dict[str, TableSpec]:
        return {r["name"]: TableSpec.from_json(json.loads(r["spec"]))
                for r in await self._fetch(f"SELECT name, spec FROM {_META}")}

    async def upsert(self, spec: TableSpec, rows: list[Row]) -> None:
        name = check_name(spec.name)
        async with (await self._pool()).acquire() as connection, connection.transaction():
            await connection.executemany(
                f'INSERT INTO "{name}" (key, data, body, embedding) VALUES ($1, $2, $3, '
                "$4::vector) ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data, "
                "body = EXCLUDED.body, embedding = EXCLUDED.embedding",
                [(r.key, json.dumps(r.data), r.text, r.vector) for r in rows])

    async def get(self, table: str, keys: list[str]) -> dict[str, dict]:
        rows = await self._fetch(f'SELECT key, data FROM "{check_name(table)}" '
                                 "WHERE key = ANY($1::text[])", keys)
        return {r["key"]: json.loads(r["data"]) for r in rows}

    async def getall(self, table: str, limit: int, offset: int) -> list[dict]:
        rows = await self._fetch(f'SELECT data FROM "{check_name(table)}" ORDER BY position '
                                 "LIMIT $1 OFFSET $2", limit, offset)
        return [json.loads(r["data"]) for r in rows]

    async def delete(self, table: str, keys: list[str]) -> int:
        rows = await self._fetch(f'DELETE FROM "{check_name(table)}" '
                                 "WHERE key = ANY($1::text[]) RETURNING key", keys)
        return len(rows)

    async def drop(self, table: str) -> bool:
        name = check_name(table)
        async with (await self._pool()).acquire() as connection, connection.transaction():
            existed = await connection.fetchval(f"DELETE FROM {_META} WHERE name = $1 "
                                                "RETURNING name", name)
            await connection.execute(f'DROP TABLE IF EXISTS "{name}"')
        return existed is not None

    async def fulltext(self, table: str, words: list[str], k: int) -> list[tuple[dict, float]]:
        if not words:
            return []
        name = check_name(table)
        # words are [^\W_]+ (letters and digits): safe as to_tsquery operands.
        rows = await self._fetch(
            f"SELECT data, ts_rank_cd(tsv, query) AS score FROM \"{name}\", "
            "to_tsquery('english', $1) AS query WHERE tsv @@ query "
            "ORDER BY score DESC, position LIMIT $2", " | ".join(words), k)
        return [(json.loads(r["data"]), float(r["score"])) for r in rows]

    async def nearest(self, table: str, vector: list[float], k: int,
                      metric: str) -> list[tuple[dict, float]]:
        name = check_name(table)
        rows = await self._fetch(
            f'SELECT data, {_DISTANCE[metric]} AS distance FROM "{name}" '
            "WHERE embedding IS NOT NULL ORDER BY distance, position LIMIT $2", vector, k)
        return [(json.loads(r["data"]), float(r["distance"])) for r in rows]

    async def upsert_edges(self, edges: list[Edge]) -> None:
        async with (await self._pool()).acquire() as connection:
            await connection.executemany(
                f"INSERT INTO {_EDGES} VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT "
                "(label, subj_label, subj_key, obj_label, obj_key) DO UPDATE SET "
                "data = EXCLUDED.data",
                [(e.label, e.subj_label, e.subj_key, e.obj_label, e.obj_key,
                  json.dumps(e.data)) for e in edges])

    async def edges_touching(self, nodes: list[tuple[str, str]],
                             label: str | None = None) -> list[Edge]:
        labels, keys = [n[0] for n in nodes], [n[1] for n in nodes]
        rows = await self._fetch(
            f"SELECT e.* FROM {_EDGES} e JOIN unnest($1::text[], $2::text[]) AS n(l, k) "
            "ON (e.subj_label = n.l AND e.subj_key = n.k) OR (e.obj_label = n.l AND "
            "e.obj_key = n.k) WHERE $3::text IS NULL OR e.label = $3", labels, keys, label)
        found = {}
        for r in rows:
            found[tuple(r)[:5]] = Edge(*tuple(r)[:5], json.loads(r["data"]))
        return list(found.values())

    async def clear_edges(self) -> None:
        await self._fetch(f"DELETE FROM {_EDGES}")

    async def count(self, table: str) -> int:
        return (await self._fetch(f'SELECT count(*) AS n FROM "{check_name(table)}"'))[0]["n"]

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        for owner, pool in self._pools.pop_all():
            if pool is None:
                continue
            if owner is loop:
                await pool.close()
            else:  # another loop's connections cannot be awaited from here
                pool.terminate()
