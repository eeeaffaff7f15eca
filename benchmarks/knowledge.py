"""Knowledge base benchmark: ingest rate and retrieval latency on 10,000 small documents,
embedded (SQLite file) vs server (PostgreSQL, a throwaway local cluster): with pgvector
when the server has it, and always with vectors as real[] scored in plain SQL.

The documents carry their own vectors (384 dimensions, seeded random), so the numbers
measure the knowledge base, not an embedding model. Run alone:

    python -m benchmarks.knowledge [--docs 10000] [--queries 100] [--batch 500]
                                   [--plain-queries 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from synaprefect.data_models import DataModel, JsonDataModel
from synaprefect.knowledge_bases import KnowledgeBase
from synaprefect.testing.postgres import Postgres

DIMENSIONS = 384


class Document(DataModel):
    id: str
    title: str
    content: str


def _corpus(count: int, seed: int = 7) -> tuple[list[JsonDataModel], list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    vocabulary = [f"w{i:04d}" for i in range(2000)]
    schema = Document.get_schema()
    schema["properties"]["embedding"] = {"type": "array", "items": {"type": "number"}}
    vectors = rng.normal(size=(count, DIMENSIONS)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    records = []
    for i in range(count):
        words = rng.choice(vocabulary, size=24)
        records.append(
            JsonDataModel(
                schema=schema,
                json={
                    "id": f"doc-{i:05d}",
                    "title": " ".join(words[:4]),
                    "content": " ".join(words[4:]),
                    "embedding": vectors[i].tolist(),
                },
            )
        )
    queries = [" ".join(rng.choice(vocabulary, size=2)) for _ in range(count)]
    return records, queries, vectors


def _milliseconds(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 2),
    }


async def _measure(
    uri: str,
    records,
    queries,
    vectors,
    n_queries: int,
    batch: int,
    vector_extension: bool | None = None,
) -> dict:
    kb = KnowledgeBase(uri=uri, data_models=[Document], vector_extension=vector_extension)
    started = time.perf_counter()
    for start in range(0, len(records), batch):
        await kb.update(records[start : start + batch])
    ingest = time.perf_counter() - started
    assert await kb.count(table_name="Document") == len(records)
    rng = np.random.default_rng(11)
    latencies: dict[str, list[float]] = {"fulltext": [], "vector": [], "hybrid": []}
    for i in range(n_queries):
        text = queries[i]
        vector = (vectors[i] + rng.normal(scale=0.05, size=DIMENSIONS)).tolist()
        calls = {
            "fulltext": kb.fulltext_search(text, table_name="Document", k=10),
            "vector": kb.similarity_search(table_name="Document", vector_or_vectors=vector, k=10),
            "hybrid": kb.hybrid_fts_search(
                text, table_name="Document", vector_or_vectors=vector, k=10
            ),
        }
        for kind, call in calls.items():
            started = time.perf_counter()
            found = await call
            latencies[kind].append(time.perf_counter() - started)
            if kind == "vector":  # the perturbed vector still finds its document first
                assert found[0]["id"] == f"doc-{i:05d}"
    await kb.close()
    return {
        "ingest_docs_per_s": round(len(records) / ingest),
        "queries": n_queries,
        **{kind: _milliseconds(values) for kind, values in latencies.items()},
    }


async def run(docs: int, n_queries: int, batch: int, plain_queries: int) -> dict:
    records, queries, vectors = _corpus(docs)
    results = {}
    with tempfile.TemporaryDirectory(prefix="synaprefect-kb-bench-") as folder:
        results["embedded (SQLite)"] = await _measure(
            f"sqlite://{Path(folder) / 'kb.db'}", records, queries, vectors, n_queries, batch
        )
    server = Postgres()
    try:
        # pgvector when the server has it, and plain SQL always: real[] distances cost one
        # SQL aggregate per row, so that mode times fewer queries.
        runs = [(True, n_queries)] if await server.offers_extension("vector") else []
        for vector_extension, count in [*runs, (False, plain_queries)]:
            uri = await server.create_database(f"kb_{uuid.uuid4().hex[:8]}")
            name = (
                "server (PostgreSQL + pgvector)"
                if vector_extension
                else "server (PostgreSQL, real[] in plain SQL)"
            )
            results[name] = await _measure(
                uri, records, queries, vectors, count, batch, vector_extension
            )
    finally:
        server.stop()
    return results


def _table(results: dict, docs: int) -> str:
    lines = [
        f"| backend ({docs:,} docs) | queries | ingest (docs/s) "
        "| full text median / p95 (ms) | vector median / p95 (ms) "
        "| hybrid median / p95 (ms) |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        cells = [
            f"{r[k]['median_ms']} / {r[k]['p95_ms']}" for k in ("fulltext", "vector", "hybrid")
        ]
        lines.append(
            f"| {name} | {r['queries']} | {r['ingest_docs_per_s']:,} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument(
        "--plain-queries",
        type=int,
        default=20,
        help="queries timed on PostgreSQL without pgvector (slower)",
    )
    args = parser.parse_args()
    results = asyncio.run(run(args.docs, args.queries, args.batch, args.plain_queries))
    print(json.dumps(results, indent=2))
    print(_table(results, args.docs))


if __name__ == "__main__":
    main()
