"""The server backend: PostgreSQL through asyncpg (installed with Prefect), with or
without the pgvector extension.

Each table ``T`` holds the key, the JSON document, the indexed text with its generated
``tsvector`` (a GIN index; English stemming, ranked by ``ts_rank_cd``) and the vector.
With pgvector (when ``CREATE EXTENSION vector`` works), the vector is a ``vector`` and
its distance operators score it. On a stock PostgreSQL, it is a ``real[]`` scored by an
SQL function this backend creates (``_FUNCTION``): the same distances, computed exactly
in float8, slower. Vector search is exact either way; with pgvector, add an HNSW index
with a fixed dimension for approximate search on large tables.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import struct

import numpy as np

from synaprefect.knowledge_bases.backend import Backend, LoopLocal
from synaprefect.knowledge_bases.tables import Edge, Row, TableSpec, check_name

__all__ = ["PostgresBackend"]

_LOG = logging.getLogger(__name__)
_META = "synaprefect_kb_tables"
_EDGES = "synaprefect_kb_relations"
# metric -> the pgvector expression of the distance (lower is closer, as in METRICS)
_DISTANCE = {
    "cosine": "embedding <=> $1::vector",
    "l2sq": "(embedding <-> $1::vector) ^ 2",
    "ip": "embedding <#> $1::vector",
}
# Without pgvector: the same distances over real[] (as the embedded backend computes them:
# a zero norm counts as 1), summed in float8 and rounded to float32, the precision of the
# vectors, so that noise below it does not reorder ties. It raises on a dimension
# mismatch, as pgvector does.
_FUNCTION = "synaprefect_kb_distance"
_FALLBACK_DISTANCE = {
    metric: f"{_FUNCTION}(embedding, $1::real[], '{metric}')" for metric in _DISTANCE
}
_CREATE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {_FUNCTION}(a real[], b real[], metric text) RETURNS float8
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $body$
DECLARE dot float8; aa float8; bb float8;
BEGIN
  IF cardinality(a) <> cardinality(b) THEN
    RAISE EXCEPTION 'The query vector has % dimensions; the stored vectors have %',
      cardinality(b), cardinality(a) USING ERRCODE = 'data_exception';
  END IF;
  IF metric = 'l2sq' THEN
    RETURN (SELECT coalesce(sum((x::float8 - y::float8) ^ 2), 0) FROM unnest(a, b) t(x, y))
      ::real;
  END IF;
  SELECT coalesce(sum(x::float8 * y::float8), 0), sum(x::float8 * x::float8),
         sum(y::float8 * y::float8) INTO dot, aa, bb FROM unnest(a, b) t(x, y);
  IF metric = 'ip' THEN
    RETURN (-dot)::real;
  END IF;
  RETURN (1 - dot / coalesce(nullif(sqrt(aa) * coalesce(nullif(sqrt(bb), 0), 1), 0), 1))
    ::real;
END $body$"""


def _encode_vector(vector) -> bytes:
    """pgvector's binary form: dimensions and a reserved word (int16 each), then float32s,
    all big-endian."""
    values = np.asarray(vector, dtype=">f4")
    return struct.pack(">HH", values.shape[0], 0) + values.tobytes()


def _decode_vector(data: bytes) -> list[float]:
    count = struct.unpack_from(">H", data)[0]
    return np.frombuffer(data, dtype=">f4", count=count, offset=4).tolist()


async def _register_vector(connection) -> None:
    await connection.set_type_codec(
        "vector", encoder=_encode_vector, decoder=_decode_vector, format="binary"
    )


class PostgresBackend(Backend):
    """Example: ``KnowledgeBase(uri="postgresql://kb@db.internal:5432/kb", ...)``"""

    def __init__(self, uri: str, vector_extension: bool | None = None):
        self.uri = uri
        self._dsn = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", uri)
        self._pools = LoopLocal(lambda: None)  # asyncpg pools belong to one event loop
        self._locks = LoopLocal(asyncio.Lock)
        self._schema_ready = False
        # True: pgvector or fail; False: real[] arrays; None: pgvector when available.
        self.vector_extension = vector_extension
        self.uses_pgvector: bool | None = None  # known after the first connection

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
                pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=1,
                    max_size=4,
                    init=_register_vector if self.uses_pgvector else None,
                )
                self._pools.set(pool)
        return pool

    async def _create_schema(self, connection) -> None:
        import asyncpg

        # Concurrent first calls may race on CREATE ... IF NOT EXISTS: serialise them.
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock(714285)")
            reason = "vector_extension=False"
            if self.vector_extension is not False:
                try:
                    async with connection.transaction():  # a savepoint: a failure spares the rest
                        await connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
                    self.uses_pgvector = True
                except asyncpg.PostgresError as error:
                    if self.vector_extension:
                        raise RuntimeError(
                            "vector_extension=True needs the pgvector extension "
                            "(Debian: postgresql-<major>-pgvector from apt.postgresql.org "
                            f"or Debian 13): {error}"
                        ) from error
                    reason = f"pgvector is not available: {error}"
            if self.uses_pgvector:
                _LOG.info("Knowledge base on %s: vectors in pgvector.", self._safe_uri())
            else:
                self.uses_pgvector = False
                await connection.execute(_CREATE_FUNCTION)
                _LOG.info(
                    "Knowledge base on %s: vectors as real[] scored exactly in SQL (%s).",
                    self._safe_uri(),
                    reason,
                )
            await connection.execute(
                f"CREATE TABLE IF NOT EXISTS {_META} (name TEXT PRIMARY KEY, spec JSON)"
            )
            await connection.execute(
                f"CREATE TABLE IF NOT EXISTS {_EDGES} (label TEXT, subj_label TEXT, "
                "subj_key TEXT, obj_label TEXT, obj_key TEXT, data JSON NOT NULL, "
                "PRIMARY KEY (label, subj_label, subj_key, obj_label, obj_key))"
            )
            for side in ("subj", "obj"):
                await connection.execute(
                    f"CREATE INDEX IF NOT EXISTS {_EDGES}_{side} ON "
                    f"{_EDGES} ({side}_label, {side}_key)"
                )

    def _safe_uri(self) -> str:
        return re.sub(r"//([^:@/]*):[^@/]*@", r"//\1:***@", self.uri)  # no password in logs

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
                "(to_tsvector('english', body)) STORED, "
                f"embedding {self._column_type()}, position BIGSERIAL)"
            )
            found = await connection.fetchval(
                "SELECT format_type(atttypid, NULL) FROM pg_attribute WHERE attrelid = "
                "$1::regclass AND attname = 'embedding'",
                f'"{name}"',
            )
            if found != self._column_type():
                raise ValueError(
                    f"Table '{name}' stores its vectors as {found}, not "
                    f"{self._column_type()}: it was made with"
                    f"{'out' if self.uses_pgvector else ''} pgvector. Pass "
                    f"`vector_extension={not self.uses_pgvector}` to use it."
                )
            await connection.execute(
                f'CREATE INDEX IF NOT EXISTS "{name}__tsv" ON "{name}" USING gin (tsv)'
            )
            await connection.execute(
                f"INSERT INTO {_META} (name, spec) VALUES ($1, $2) ON CONFLICT (name) "
                "DO UPDATE SET spec = EXCLUDED.spec",
                name,
                json.dumps(spec.to_json()),
            )

    def _column_type(self) -> str:
        return "vector" if self.uses_pgvector else "real[]"

    async def specs(self) -> dict[str, TableSpec]:
        return {
            r["name"]: TableSpec.from_json(json.loads(r["spec"]))
            for r in await self._fetch(f"SELECT name, spec FROM {_META}")
        }

    async def upsert(self, spec: TableSpec, rows: list[Row]) -> None:
        name = check_name(spec.name)
        async with (await self._pool()).acquire() as connection, connection.transaction():
            await connection.executemany(
                f'INSERT INTO "{name}" (key, data, body, embedding) VALUES ($1, $2, $3, '
                f"$4::{self._column_type()}) ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data, "
                "body = EXCLUDED.body, embedding = EXCLUDED.embedding",
                [(r.key, json.dumps(r.data), r.text, r.vector) for r in rows],
            )

    async def get(self, table: str, keys: list[str]) -> dict[str, dict]:
        rows = await self._fetch(
            f'SELECT key, data FROM "{check_name(table)}" WHERE key = ANY($1::text[])', keys
        )
        return {r["key"]: json.loads(r["data"]) for r in rows}

    async def getall(self, table: str, limit: int, offset: int) -> list[dict]:
        rows = await self._fetch(
            f'SELECT data FROM "{check_name(table)}" ORDER BY position LIMIT $1 OFFSET $2',
            limit,
            offset,
        )
        return [json.loads(r["data"]) for r in rows]

    async def delete(self, table: str, keys: list[str]) -> int:
        rows = await self._fetch(
            f'DELETE FROM "{check_name(table)}" WHERE key = ANY($1::text[]) RETURNING key', keys
        )
        return len(rows)

    async def drop(self, table: str) -> bool:
        name = check_name(table)
        async with (await self._pool()).acquire() as connection, connection.transaction():
            existed = await connection.fetchval(
                f"DELETE FROM {_META} WHERE name = $1 RETURNING name", name
            )
            await connection.execute(f'DROP TABLE IF EXISTS "{name}"')
        return existed is not None

    async def fulltext(self, table: str, words: list[str], k: int) -> list[tuple[dict, float]]:
        if not words:
            return []
        name = check_name(table)
        # words are [^\W_]+ (letters and digits): safe as to_tsquery operands.
        rows = await self._fetch(
            f'SELECT data, ts_rank_cd(tsv, query) AS score FROM "{name}", '
            "to_tsquery('english', $1) AS query WHERE tsv @@ query "
            "ORDER BY score DESC, position LIMIT $2",
            " | ".join(words),
            k,
        )
        return [(json.loads(r["data"]), float(r["score"])) for r in rows]

    async def nearest(
        self, table: str, vector: list[float], k: int, metric: str
    ) -> list[tuple[dict, float]]:
        import asyncpg

        name = check_name(table)
        await self._pool()  # the mode is known once connected
        distance = (_DISTANCE if self.uses_pgvector else _FALLBACK_DISTANCE)[metric]
        try:
            rows = await self._fetch(
                f'SELECT data, {distance} AS distance FROM "{name}" '
                "WHERE embedding IS NOT NULL ORDER BY distance, position LIMIT $2",
                vector,
                k,
            )
        except asyncpg.DataError as error:  # dimensions differ
            raise ValueError(f"Vector search on table '{name}': {error}") from error
        return [(json.loads(r["data"]), float(r["distance"])) for r in rows]

    async def upsert_edges(self, edges: list[Edge]) -> None:
        async with (await self._pool()).acquire() as connection:
            await connection.executemany(
                f"INSERT INTO {_EDGES} VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT "
                "(label, subj_label, subj_key, obj_label, obj_key) DO UPDATE SET "
                "data = EXCLUDED.data",
                [
                    (e.label, e.subj_label, e.subj_key, e.obj_label, e.obj_key, json.dumps(e.data))
                    for e in edges
                ],
            )

    async def edges_touching(
        self, nodes: list[tuple[str, str]], label: str | None = None
    ) -> list[Edge]:
        labels, keys = [n[0] for n in nodes], [n[1] for n in nodes]
        rows = await self._fetch(
            f"SELECT e.* FROM {_EDGES} e JOIN unnest($1::text[], $2::text[]) AS n(l, k) "
            "ON (e.subj_label = n.l AND e.subj_key = n.k) OR (e.obj_label = n.l AND "
            "e.obj_key = n.k) WHERE $3::text IS NULL OR e.label = $3",
            labels,
            keys,
            label,
        )
        found = {}
        for r in rows:
            found[tuple(r)[:5]] = Edge.from_columns(r, json.loads(r["data"]))
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
