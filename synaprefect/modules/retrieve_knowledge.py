"""``RetrieveKnowledge``: a ``Generator`` writes the search (tables and queries), the
knowledge base runs it, and the module returns what it found.

In a job it is one task of its module, like every module (``task_granularity``).

Example:
```python
inputs = synaprefect.Input(data_model=Query)
retrieved = await synaprefect.RetrieveKnowledge(
    knowledge_base=kb, language_model=lm, search_type="hybrid", k=3)(inputs)
answer = await synaprefect.Generator(data_model=Answer, language_model=lm)(retrieved)
```
"""

from __future__ import annotations

from typing import Any

from synaprefect.data_models import ops
from synaprefect.data_models.data_model import DataModel, Field
from synaprefect.data_models.generic import GenericResult
from synaprefect.data_models.json_data_model import JsonDataModel
from synaprefect.data_models.symbolic_data_model import SymbolicDataModel
from synaprefect.knowledge_bases import get as get_knowledge_base
from synaprefect.modules.generator import Generator
from synaprefect.modules.module import Module

__all__ = ["RetrieveKnowledge", "SearchQuery", "SEARCH_TYPES"]

# search type -> the KnowledgeBase method; "hybrid" is Synalinks' former name.
SEARCH_TYPES = {
    "similarity": "similarity_search",
    "fulltext": "fulltext_search",
    "hybrid_fts": "hybrid_fts_search",
    "hybrid": "hybrid_fts_search",
}


class SearchQuery(DataModel):
    """What the LM writes for ``RetrieveKnowledge``."""

    tables: list[str] = Field(description="The tables to look up")
    search: list[str] = Field(description="The search queries")


def default_retriever_instructions(tables: list[str]) -> str:
    return (
        f"Choose the tables to search among {tables} and write the search queries "
        "that find the records the input needs, in the `search` list."
    )


class RetrieveKnowledge(Module):
    """A ``Generator`` writes a ``SearchQuery`` (tables and queries) from the input; the
    knowledge base runs it (``search_type``: ``"similarity"``, ``"fulltext"`` or
    ``"hybrid_fts"``, alias ``"hybrid"``) and the module returns the input, the query and
    ``result`` (the ``k`` best records, each with its ``score``). Trainable: the
    generator's instructions and examples.

    Example:
    ```python
    retrieved = await synaprefect.RetrieveKnowledge(
        knowledge_base=kb, language_model=lm, search_type="fulltext", k=5)(inputs)
    ```
    """

    def __init__(
        self,
        *,
        knowledge_base: Any = None,
        language_model: Any = None,
        data_models: list | None = None,
        search_type: str = "hybrid_fts",
        k: int = 10,
        similarity_threshold: float | None = None,
        fulltext_threshold: float | None = None,
        k_rank: int = 60,
        prompt_template: str | None = None,
        examples: list | None = None,
        instructions: str | None = None,
        seed_instructions: list[str] | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        top_p: float | None = None,
        top_k: int | None = None,
        use_inputs_schema: bool = False,
        use_outputs_schema: bool = False,
        return_inputs: bool = True,
        return_query: bool = True,
        name: str | None = None,
        description: str | None = None,
        trainable: bool = True,
    ):
        super().__init__(name=name, description=description, trainable=trainable)
        if knowledge_base is None:
            raise ValueError(f"{type(self).__name__} needs `knowledge_base=`.")
        if search_type not in SEARCH_TYPES:
            raise ValueError(
                f"`search_type` must be one of {sorted(SEARCH_TYPES)}, got "
                f"{search_type!r} (regex searches are not provided)."
            )
        self.knowledge_base = get_knowledge_base(knowledge_base)
        self.search_type, self.k, self.k_rank = search_type, k, k_rank
        self.similarity_threshold = similarity_threshold
        self.fulltext_threshold = fulltext_threshold
        self.return_inputs, self.return_query = return_inputs, return_query
        models = data_models or self.knowledge_base.get_symbolic_data_models()
        self.data_models = [m if isinstance(m, dict) else m.get_schema() for m in models]
        self.tables = [schema["title"] for schema in self.data_models]
        if not self.tables:
            raise ValueError(
                "RetrieveKnowledge needs tables to search: pass `data_models=` "
                "or give the knowledge base its `data_models`."
            )
        self.search_query_generator = Generator(
            data_model=SearchQuery,
            language_model=language_model,
            prompt_template=prompt_template,
            examples=examples,
            instructions=instructions or default_retriever_instructions(self.tables),
            seed_instructions=seed_instructions,
            temperature=temperature,
            max_tokens=max_tokens,
            top_p=top_p,
            top_k=top_k,
            use_inputs_schema=use_inputs_schema,
            use_outputs_schema=use_outputs_schema,
            name=f"search_query_generator_{self.name}",
        )

    def _options(self) -> dict:
        if self.search_type == "fulltext":
            return {"threshold": self.fulltext_threshold}
        if self.search_type == "similarity":
            return {"threshold": self.similarity_threshold}
        return {
            "k_rank": self.k_rank,
            "similarity_threshold": self.similarity_threshold,
            "fulltext_threshold": self.fulltext_threshold,
        }

    async def _search(self, tables: list[str], queries: list[str]) -> list[dict]:
        if not queries:
            return []
        search = getattr(self.knowledge_base, SEARCH_TYPES[self.search_type])
        found = []
        for table in [t for t in tables if t in self.tables] or self.tables:
            found += await search(queries, table_name=table, k=self.k, **self._options())
        # Distances rank lowest first; BM25 and fused scores highest first.
        found.sort(key=lambda r: r["score"], reverse=self.search_type != "similarity")
        return found[: self.k]

    def _assemble(self, inputs, query, result):
        output = result
        if self.return_query:
            output = ops.concat_data(query, output)
        if self.return_inputs:
            output = ops.concat_data(inputs, output)
        return output

    async def call(self, inputs, training: bool = False):
        if inputs is None:
            return None
        query = await self.search_query_generator(inputs, training=training)
        if query is None:
            return None
        plan = query.get_json()
        result = JsonDataModel(
            schema=GenericResult.get_schema(),
            json={
                "result": await self._search(
                    list(plan.get("tables") or []), [q for q in plan.get("search") or [] if q]
                )
            },
        )
        return self._assemble(inputs, query, result)

    async def compute_output_spec(self, inputs, training: bool = False):
        query = await self.search_query_generator.compute_output_spec(inputs)
        return self._assemble(inputs, query, SymbolicDataModel(schema=GenericResult.get_schema()))

    def get_config(self) -> dict:
        generator = self.search_query_generator.get_config()
        return {
            "knowledge_base": self.knowledge_base.get_config(),
            "language_model": generator["language_model"],
            "data_models": self.data_models,
            "search_type": self.search_type,
            "k": self.k,
            "k_rank": self.k_rank,
            "similarity_threshold": self.similarity_threshold,
            "fulltext_threshold": self.fulltext_threshold,
            "prompt_template": generator["prompt_template"],
            "examples": generator["examples"],
            "instructions": generator["instructions"],
            "seed_instructions": generator["seed_instructions"],
            **{key: generator.get(key) for key in ("temperature", "max_tokens", "top_p", "top_k")},
            "use_inputs_schema": generator["use_inputs_schema"],
            "use_outputs_schema": generator["use_outputs_schema"],
            "return_inputs": self.return_inputs,
            "return_query": self.return_query,
            "name": self.name,
            "description": self.description,
            "trainable": self.trainable,
        }
