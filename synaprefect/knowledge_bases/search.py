"""The searches of a ``KnowledgeBase``: full-text (BM25), vector, and both fused by
reciprocal rank fusion, each over one table, answered as JSON rows or CSV.

Example:
```python
rows = await kb.hybrid_fts_search("learning from data", table_name="Document", k=5)
fused = reciprocal_rank_fusion([["a", "b"], ["b", "c"]])  # b first: in both rankings
```
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from synaprefect.knowledge_bases.tables import tokens

if TYPE_CHECKING:
    from synaprefect.knowledge_bases.backend import Backend
    from synaprefect.knowledge_bases.tables import TableSpec
    from synaprefect.language_models import EmbeddingModel

__all__ = ["SearchMixin", "reciprocal_rank_fusion", "as_list"]


def reciprocal_rank_fusion(rankings: list[list[str]], k_rank: int = 60) -> dict[str, float]:
    """Each key's fused score: the sum over rankings of ``1 / (k_rank + rank)`` (rank
    from 1). A key near the top of several rankings beats one first in a single one."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k_rank + rank)
    return scores


def as_list(value: Any) -> tuple[list, bool]:
    """``value`` as a list, and whether it was one (None: an empty list)."""
    if value is None:
        return [], False
    return (list(value), True) if isinstance(value, (list, tuple)) else ([value], False)


def _output(rows: list[dict], output_format: str) -> list[dict] | str:
    if output_format == "json":
        return rows
    if output_format != "csv":
        raise ValueError(f"`output_format` must be 'json' or 'csv', got {output_format!r}.")
    buffer = io.StringIO()
    fields = list(dict.fromkeys(key for row in rows for key in row))
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


class SearchMixin:
    """Search methods of ``KnowledgeBase``."""

    if TYPE_CHECKING:  # what KnowledgeBase provides, for the type checker
        backend: Backend
        metric: str
        embedding_model: EmbeddingModel | None

        async def _spec(self, table_name: str) -> TableSpec: ...
        async def _vectors(self, texts: list[str]) -> list[list[float]]: ...

    async def _fulltext_rankings(
        self, table: str, texts: list[str], k: int, threshold: float | None
    ) -> list[list[tuple[dict, float]]]:
        rankings = []
        for text in texts:
            found = await self.backend.fulltext(table, tokens(text), k)
            rankings.append([(r, s) for r, s in found if threshold is None or s >= threshold])
        return rankings

    async def _vector_rankings(
        self, table: str, texts: list[str], vectors: list | None, k: int, threshold: float | None
    ):
        vectors = vectors or (await self._vectors(texts) if texts else [])
        rankings = []
        for vector in vectors:
            found = await self.backend.nearest(table, vector, k, self.metric)
            rankings.append([(r, s) for r, s in found if threshold is None or s <= threshold])
        return rankings

    @staticmethod
    def _best(rankings, key: str, k: int, higher_better: bool) -> list[dict]:
        best: dict[str, dict] = {}
        for ranking in rankings:
            for record, score in ranking:
                kept = best.get(str(record[key]))
                if kept is None or (score > kept["score"]) == higher_better:
                    best[str(record[key])] = {**record, "score": score}
        ordered = sorted(best.values(), key=lambda r: r["score"], reverse=higher_better)
        return ordered[:k]

    async def fulltext_search(
        self,
        text_or_texts: Any,
        *,
        table_name: str,
        k: int = 10,
        threshold: float | None = None,
        output_format: str = "json",
    ) -> list[dict] | str:
        """BM25 search: records containing any query word, best first; ``score`` is the
        BM25 score (higher is better), ``threshold`` its minimum.

        Example: ``await kb.fulltext_search("transformer", table_name="Document", k=3)``
        """
        spec = await self._spec(table_name)
        texts, _ = as_list(text_or_texts)
        rankings = await self._fulltext_rankings(table_name, texts, k, threshold)
        return _output(self._best(rankings, spec.key, k, True), output_format)

    async def similarity_search(
        self,
        text_or_texts: Any = None,
        *,
        table_name: str,
        vector_or_vectors: list | None = None,
        k: int = 10,
        threshold: float | None = None,
        output_format: str = "json",
    ) -> list[dict] | str:
        """Vector search: nearest records first; ``score`` is the distance (lower is
        closer), ``threshold`` its maximum.

        Example: ``await kb.similarity_search("how machines learn", table_name="Document")``
        """
        spec = await self._spec(table_name)
        texts, _ = as_list(text_or_texts)
        if not texts and vector_or_vectors is None:
            raise ValueError("similarity_search needs `text_or_texts` or `vector_or_vectors`.")
        rankings = await self._vector_rankings(
            table_name, texts, _vectors_list(vector_or_vectors), k, threshold
        )
        return _output(self._best(rankings, spec.key, k, False), output_format)

    async def hybrid_fts_search(
        self,
        text_or_texts: Any = None,
        *,
        keywords: Any = None,
        table_name: str,
        vector_or_vectors: list | None = None,
        k: int = 10,
        k_rank: int = 60,
        similarity_threshold: float | None = None,
        fulltext_threshold: float | None = None,
        output_format: str = "json",
    ) -> list[dict] | str:
        """Vector and BM25 rankings fused by reciprocal rank fusion (``score``, higher is
        better). Full-text only when there is neither an embedding model nor a vector.

        Example: ``await kb.hybrid_fts_search("learning from data", table_name="Document")``
        """
        spec = await self._spec(table_name)
        texts, _ = as_list(text_or_texts)
        words = as_list(keywords)[0] or texts
        depth = max(2 * k, 20)  # fusion needs more than the top k of each ranking
        rankings = await self._fulltext_rankings(table_name, words, depth, fulltext_threshold)
        vectors = _vectors_list(vector_or_vectors)
        if vectors or (texts and self.embedding_model is not None):
            rankings += await self._vector_rankings(
                table_name, texts, vectors, depth, similarity_threshold
            )
        records = {str(r[spec.key]): r for ranking in rankings for r, _ in ranking}
        fused = reciprocal_rank_fusion(
            [[str(r[spec.key]) for r, _ in ranking] for ranking in rankings], k_rank
        )
        ordered = sorted(fused, key=lambda key: -fused[key])[:k]
        return _output([{**records[key], "score": fused[key]} for key in ordered], output_format)

    async def hybrid_search(self, *args, **kwargs) -> list[dict] | str:
        """Synalinks' former name of ``hybrid_fts_search``."""
        return await self.hybrid_fts_search(*args, **kwargs)


def _vectors_list(value: Any) -> list | None:
    if value is None:
        return None
    return [value] if value and not isinstance(value[0], (list, tuple)) else list(value)
