"""Knowledge bases: tables of data models and a knowledge graph, searched by full text,
vectors or both, on an embedded SQLite file or a PostgreSQL server (pgvector optional)."""

from synaprefect.knowledge_bases.backend import Backend, backend_for
from synaprefect.knowledge_bases.knowledge_base import KnowledgeBase
from synaprefect.knowledge_bases.search import reciprocal_rank_fusion

__all__ = ["KnowledgeBase", "Backend", "backend_for", "reciprocal_rank_fusion", "get"]


def get(identifier) -> KnowledgeBase:
    """A ``KnowledgeBase`` from an instance or its config dict."""
    if isinstance(identifier, KnowledgeBase):
        return identifier
    if isinstance(identifier, dict):
        return KnowledgeBase.from_config(identifier)
    raise ValueError(f"Expected a KnowledgeBase or its config dict, got {identifier!r}.")
