"""The embedded backend: one SQLite file (Python's ``sqlite3``, with its built-in FTS5
for BM25 full-text search) and vectors as float32 blobs scored exactly with numpy.

Nothing to install or download, no server. Each table ``T`` is a row table (key, JSON
document, vector) and an FTS5 table ``T__fts`` sharing its rowid. Vectors are scanned
exactly (a matrix kept in memory per table, rebuilt after a write from any connection):
fine for tens of thousands of records; beyond that, the PostgreSQL backend.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import numpy as np

from synaprefect.knowledge_bases.backend import Backend
from synaprefect.knowledge_bases.tables import Edge, Row, TableSpec, check_name

__all__ = ["SQLiteBackend", "distances"]

_META = "synaprefect_kb_tables"
_EDGES = "synaprefect_kb_relations"


def distances(
    matrix: np.ndarray, vector: np.ndarray, metric: str, norms: np.ndarray | None = None
) -> np.ndarray:
    """The distance of each row of ``matrix`` to ``vector`` (lower is closer); ``norms``:
    the rows' norms, when already known."""
    if metric == "ip":
        return -(matrix @ vector)
    if metric == "l2sq":
        return ((matrix - vector) ** 2).sum(axis=1)
    norms = (np.linalg.norm(matrix, axis=1) if norms is None else norms) * (
        np.linalg.norm(vector) or 1.0
    )
    return 1.0 - (matrix @ vector) / np.where(norms == 0.0, 1.0, norms)


class SQLiteBackend(Backend):
    """Example: ``KnowledgeBase(uri="sqlite:///srv/kb/documents.db", data_models=[Doc])``"""

    def __init__(self, path: str):
        self.uri = f"sqlite://{path}"
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # One connection shared by the tasks of a run (possibly on several threads),
        # serialised by a lock: SQLite has one writer at a time anyway.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._matrices: dict[str, tuple[int, list[str], np.ndarray, np.ndarray]] = {}
        with self._lock:
            if path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                f"CREATE TABLE IF NOT EXISTS {_META} (name TEXT PRIMARY KEY, spec TEXT NOT NULL)"
            )
            self._db.execute(
                f"CREATE TABLE IF NOT EXISTS {_EDGES} (label TEXT, subj_label TEXT, "
                "subj_key TEXT, obj_label TEXT, obj_key TEXT, data TEXT NOT NULL, "
                "PRIMARY KEY (label, subj_label, subj_key, obj_label, obj_key))"
            )
            self._db.execute(
                f"CREATE INDEX IF NOT EXISTS {_EDGES}_obj ON {_EDGES} (obj_label, obj_key)"
            )
            self._db.execute(
                f"CREATE INDEX IF NOT EXISTS {_EDGES}_subj ON {_EDGES} (subj_label, subj_key)"
            )

    def _run(self, sql: str, params=()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def _write(self, statements: list[tuple[str, list | None]]) -> None:
        """Several statements in one transaction (all or nothing); ``None`` parameters
        run a statement once, a list runs it once per item."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                for sql, rows in statements:
                    if rows is None:
                        self._db.execute(sql)
                    else:
                        self._db.executemany(sql, rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    async def ensure_table(self, spec: TableSpec) -> None:
        name = check_name(spec.name)
        self._write(
            [
                (
                    f'CREATE TABLE IF NOT EXISTS "{name}" (key TEXT PRIMARY KEY, data TEXT NOT NULL,'
                    " vector BLOB)",
                    None,
                ),
                (
                    f'CREATE VIRTUAL TABLE IF NOT EXISTS "{name}__fts" USING fts5(body, '
                    "tokenize='porter unicode61')",
                    None,
                ),
                (
                    f"INSERT INTO {_META} (name, spec) VALUES (?, ?) ON CONFLICT (name) "
                    "DO UPDATE SET spec = excluded.spec",
                    [(name, json.dumps(spec.to_json()))],
                ),
            ]
        )

    async def specs(self) -> dict[str, TableSpec]:
        return {
            name: TableSpec.from_json(json.loads(spec))
            for name, spec in self._run(f"SELECT name, spec FROM {_META}")
        }

    async def upsert(self, spec: TableSpec, rows: list[Row]) -> None:
        name = check_name(spec.name)
        records = [(r.key, json.dumps(r.data), _blob(r.vector)) for r in rows]
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    f'INSERT INTO "{name}" (key, data, vector) VALUES (?, ?, ?) '
                    "ON CONFLICT (key) DO UPDATE SET data = excluded.data, "
                    "vector = excluded.vector",
                    records,
                )
                # The FTS row shares the record's rowid, which an upsert keeps.
                rowids = [
                    self._db.execute(
                        f'SELECT rowid FROM "{name}" WHERE key = ?', (r.key,)
                    ).fetchone()[0]
                    for r in rows
                ]
                self._db.executemany(
                    f'DELETE FROM "{name}__fts" WHERE rowid = ?', [(i,) for i in rowids]
                )
                self._db.executemany(
                    f'INSERT INTO "{name}__fts" (rowid, body) VALUES (?, ?)',
                    [(i, r.text) for i, r in zip(rowids, rows)],
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        self._matrices.pop(name, None)

    async def get(self, table: str, keys: list[str]) -> dict[str, dict]:
        name = check_name(table)
        found = {}
        for key in keys:
            for (data,) in self._run(f'SELECT data FROM "{name}" WHERE key = ?', (key,)):
                found[key] = json.loads(data)
        return found

    async def getall(self, table: str, limit: int, offset: int) -> list[dict]:
        rows = self._run(
            f'SELECT data FROM "{check_name(table)}" ORDER BY rowid LIMIT ? OFFSET ?',
            (limit, offset),
        )
        return [json.loads(data) for (data,) in rows]

    async def delete(self, table: str, keys: list[str]) -> int:
        name = check_name(table)
        rowids = [
            r[0]
            for key in keys
            for r in self._run(f'SELECT rowid FROM "{name}" WHERE key = ?', (key,))
        ]
        self._write(
            [
                (f'DELETE FROM "{name}__fts" WHERE rowid = ?', [(i,) for i in rowids]),
                (f'DELETE FROM "{name}" WHERE rowid = ?', [(i,) for i in rowids]),
            ]
        )
        self._matrices.pop(name, None)
        return len(rowids)

    async def drop(self, table: str) -> bool:
        name = check_name(table)
        existed = bool(self._run(f"SELECT 1 FROM {_META} WHERE name = ?", (name,)))
        self._write(
            [
                (f'DROP TABLE IF EXISTS "{name}__fts"', None),
                (f'DROP TABLE IF EXISTS "{name}"', None),
                (f"DELETE FROM {_META} WHERE name = ?", [(name,)]),
            ]
        )
        self._matrices.pop(name, None)
        return existed

    async def fulltext(self, table: str, words: list[str], k: int) -> list[tuple[dict, float]]:
        if not words:
            return []
        name = check_name(table)
        query = " OR ".join(f'"{w}"' for w in words)  # words are [^\W_]+: nothing to escape
        rows = self._run(
            f'SELECT t.data, bm25("{name}__fts") AS rank FROM "{name}__fts" f '
            f'JOIN "{name}" t ON t.rowid = f.rowid WHERE "{name}__fts" MATCH ? '
            "ORDER BY rank LIMIT ?",
            (query, k),
        )
        return [(json.loads(data), -rank) for data, rank in rows]  # bm25(): lower is better

    async def nearest(
        self, table: str, vector: list[float], k: int, metric: str
    ) -> list[tuple[dict, float]]:
        name = check_name(table)
        # data_version changes when another connection (process) commits to the file.
        version = self._run("PRAGMA data_version")[0][0]
        if name not in self._matrices or self._matrices[name][0] != version:
            rows = self._run(
                f'SELECT data, vector FROM "{name}" WHERE vector IS NOT NULL ORDER BY rowid'
            )
            matrix = (
                np.stack([np.frombuffer(v, dtype=np.float32) for _, v in rows])
                if rows
                else np.zeros((0, 0), dtype=np.float32)
            )
            self._matrices[name] = (
                version,
                [d for d, _ in rows],
                matrix,
                np.linalg.norm(matrix, axis=1),
            )
        _, documents, matrix, norms = self._matrices[name]
        if not documents:
            return []
        query = np.asarray(vector, dtype=np.float32)
        if query.shape[0] != matrix.shape[1]:
            raise ValueError(
                f"The query vector has {query.shape[0]} dimensions; the vectors "
                f"of table '{name}' have {matrix.shape[1]}."
            )
        scores = distances(matrix, query, metric, norms)
        # The k lowest, ties in insertion order (as PostgreSQL's ORDER BY distance, position).
        best = (
            np.flatnonzero(scores <= np.partition(scores, k - 1)[k - 1])
            if k < len(scores)
            else np.arange(len(scores))
        )
        best = best[np.argsort(scores[best], kind="stable")][:k]
        return [(json.loads(documents[i]), float(scores[i])) for i in best]

    async def upsert_edges(self, edges: list[Edge]) -> None:
        self._write(
            [
                (
                    f"INSERT INTO {_EDGES} VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT "
                    "(label, subj_label, subj_key, obj_label, obj_key) DO UPDATE SET data = "
                    "excluded.data",
                    [
                        (
                            e.label,
                            e.subj_label,
                            e.subj_key,
                            e.obj_label,
                            e.obj_key,
                            json.dumps(e.data),
                        )
                        for e in edges
                    ],
                )
            ]
        )

    async def edges_touching(
        self, nodes: list[tuple[str, str]], label: str | None = None
    ) -> list[Edge]:
        found: dict[tuple, Edge] = {}
        for node_label, key in nodes:
            for side in ("subj", "obj"):
                sql = f"SELECT * FROM {_EDGES} WHERE {side}_label = ? AND {side}_key = ?" + (
                    " AND label = ?" if label else ""
                )
                params = (node_label, key, label) if label else (node_label, key)
                for row in self._run(sql, params):
                    found[row[:5]] = Edge.from_columns(row, json.loads(row[5]))
        return list(found.values())

    async def clear_edges(self) -> None:
        self._write([(f"DELETE FROM {_EDGES}", None)])

    async def count(self, table: str) -> int:
        return self._run(f'SELECT count(*) FROM "{check_name(table)}"')[0][0]

    async def close(self) -> None:
        with self._lock:
            self._db.close()


def _blob(vector: list[float] | None) -> bytes | None:
    return None if vector is None else np.asarray(vector, dtype=np.float32).tobytes()
