"""``Backend``: what a knowledge base needs from a database, and the choice of one by URI.

Every write is an upsert keyed by the record's key (a relation's key is its label and its
two endpoints), so writing the same batch twice, as a retried task does, leaves the same
rows. Searches return ``(record, score)`` pairs, best first.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from synaprefect.knowledge_bases.tables import Edge, Row, TableSpec

__all__ = ["Backend", "METRICS", "LoopLocal", "backend_for", "default_uri"]

# metric -> what the distance means; lower is closer for every metric.
METRICS = {
    "cosine": "1 - cosine similarity",
    "l2sq": "squared Euclidean distance",
    "ip": "negative inner product",
}


class LoopLocal:
    """One value per running event loop: asyncio locks and asyncpg pools belong to the
    loop that made them, and a run may call from several loops (Prefect runs sync tasks
    on worker threads).

    Example: ``lock = LoopLocal(asyncio.Lock); async with lock.get(): ...``
    """

    def __init__(self, factory: Callable[[], Any]):
        self._factory = factory
        self._values: dict[int, tuple[asyncio.AbstractEventLoop, Any]] = {}

    def get(self) -> Any:
        loop = asyncio.get_running_loop()
        owner, value = self._values.get(id(loop), (None, None))
        if owner is not loop:  # none yet, or a closed loop's id reused
            value = self._factory()
            self._values[id(loop)] = (loop, value)
        return value

    def set(self, value: Any) -> None:
        loop = asyncio.get_running_loop()
        self._values[id(loop)] = (loop, value)

    def pop_all(self) -> list[tuple[asyncio.AbstractEventLoop, Any]]:
        values, self._values = list(self._values.values()), {}
        return values


class Backend(abc.ABC):
    """A store of tables of JSON records with full-text and vector search, and of
    relations between records (the graph)."""

    uri: str

    @abc.abstractmethod
    async def ensure_table(self, spec: TableSpec) -> None:
        """Create the table (and its indexes) when missing; remember its spec."""

    @abc.abstractmethod
    async def specs(self) -> dict[str, TableSpec]:
        """The tables that exist, by name."""

    @abc.abstractmethod
    async def upsert(self, spec: TableSpec, rows: list[Row]) -> None: ...

    @abc.abstractmethod
    async def get(self, table: str, keys: list[str]) -> dict[str, dict]: ...

    @abc.abstractmethod
    async def getall(self, table: str, limit: int, offset: int) -> list[dict]: ...

    @abc.abstractmethod
    async def delete(self, table: str, keys: list[str]) -> int: ...

    @abc.abstractmethod
    async def drop(self, table: str) -> bool: ...

    @abc.abstractmethod
    async def fulltext(self, table: str, words: list[str], k: int) -> list[tuple[dict, float]]:
        """Records matching any of ``words`` (lower-case), by BM25-like score, highest
        first."""

    @abc.abstractmethod
    async def nearest(
        self, table: str, vector: list[float], k: int, metric: str
    ) -> list[tuple[dict, float]]:
        """Records with a vector, by distance (``METRICS``), lowest first."""

    @abc.abstractmethod
    async def upsert_edges(self, edges: list[Edge]) -> None: ...

    @abc.abstractmethod
    async def edges_touching(
        self, nodes: list[tuple[str, str]], label: str | None = None
    ) -> list[Edge]:
        """Relations whose subject or object is one of ``nodes`` (``(label, key)``)."""

    @abc.abstractmethod
    async def clear_edges(self) -> None: ...

    @abc.abstractmethod
    async def count(self, table: str) -> int: ...

    @abc.abstractmethod
    async def close(self) -> None: ...


def default_uri(name: str) -> str:
    """The embedded file under the storage setting: ``<storage>/knowledge/<name>.db``.

    A remote storage setting (``s3://...``) cannot hold a live SQLite file; that is a
    clear error rather than a silent local file that a new container would not see.
    """
    from synaprefect.config import storage_root

    root = storage_root()
    if not root.is_local:
        raise ValueError(
            f"The embedded knowledge base is a SQLite file and needs a local folder, but "
            f"the storage setting is {root.url}. Pass `uri='sqlite:///path/to/kb.db'` "
            "(a local file) or `uri='postgresql://...'` (a server every worker reaches)."
        )
    return f"sqlite://{Path(root.path) / 'knowledge' / (name + '.db')}"


def backend_for(uri: str, metric: str, vector_extension: bool | None = None) -> Backend:
    """``sqlite://<path>`` (or Synalinks' ``duckdb://<path>``, stored in SQLite),
    ``sqlite://:memory:``, or ``postgresql://user@host:port/db`` (``vector_extension``:
    pgvector or not; None uses it when the server has it)."""
    if metric not in METRICS:
        raise ValueError(f"`metric` must be one of {sorted(METRICS)}, got {metric!r}.")
    scheme, separator, rest = uri.partition("://")
    if separator and scheme in ("sqlite", "duckdb"):
        from synaprefect.knowledge_bases.sqlite_backend import SQLiteBackend

        return SQLiteBackend(rest)
    if separator and scheme in ("postgresql", "postgres"):
        from synaprefect.knowledge_bases.postgres_backend import PostgresBackend

        return PostgresBackend(uri, vector_extension)
    raise ValueError(
        f"`uri` must start with sqlite:// (embedded file; duckdb:// is read as one too) or "
        f"postgresql:// (a PostgreSQL server), got {uri!r}."
    )
