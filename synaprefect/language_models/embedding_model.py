"""``EmbeddingModel``: text embeddings through litellm, with the same rules as chat."""

from typing import Any

from synaprefect.data_models.json_data_model import JsonDataModel
from synaprefect.language_models.base import ModelBase, litellm_module, usage_figures
from synaprefect.language_models.errors import InvalidOutputError

__all__ = ["EmbeddingModel"]

EMBEDDINGS_SCHEMA = {
    "additionalProperties": False,
    "properties": {
        "embeddings": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}
    },
    "required": ["embeddings"],
    "title": "Embeddings",
    "type": "object",
}


class EmbeddingModel(ModelBase):
    """An embedding model reached through litellm.

    Example:
    ```python
    embedder = synaprefect.EmbeddingModel("openai/text-embedding-3-small")
    vectors = await embedder.embed(["first text", "second text"])
    ```
    """

    _kind = "embedding_model"
    # Ollama embeds through ``ollama/`` only (``ollama_chat/`` is the chat route).
    _provider_rewrites = {"ollama_chat": "ollama", "vllm": "hosted_vllm"}

    def __init__(
        self,
        model: str,
        api_base: str | None = None,
        timeout: float = 60.0,
        retry: int = 5,
        caching: bool = False,
        cache_dir: str | None = None,
        max_concurrency: int | None = None,
        retry_backoff: float = 1.0,
        retry_max_wait: float = 60.0,
        name: str | None = None,
        rate_limit: str | None = None,
        **default_kwargs,
    ):
        super().__init__(
            model,
            api_base,
            timeout,
            retry,
            retry_backoff,
            retry_max_wait,
            caching,
            cache_dir,
            max_concurrency,
            name,
            default_kwargs,
            rate_limit,
        )

    async def embed(self, texts: list[str] | str) -> list[list[float]]:
        """One vector per text."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            return []
        call_kwargs = self._call_kwargs({"input": texts})
        litellm = litellm_module()

        async def attempt():
            response = await litellm.aembedding(**call_kwargs)
            data = sorted(response.data, key=lambda item: _field(item, "index"))
            vectors = [list(_field(item, "embedding")) for item in data]
            figures = usage_figures(response)
            if len(vectors) != len(texts):
                error = InvalidOutputError(
                    self.model, f"{len(vectors)} embeddings for {len(texts)} texts"
                )
                error.usage = figures  # billed all the same
                raise error
            return vectors, figures

        return await self._cached(
            {
                "model": self.model,
                "api_base": self.api_base,
                "input": texts,
                "kwargs": self.default_kwargs,
            },
            attempt,
        )

    async def __call__(self, texts: Any) -> JsonDataModel:
        """Synalinks-style call: returns ``{"embeddings": [...]}``."""
        if hasattr(texts, "get_json"):
            texts = texts.get_json().get("texts", [])
        return JsonDataModel(json={"embeddings": await self.embed(texts)}, schema=EMBEDDINGS_SCHEMA)

    def get_config(self) -> dict:
        return self._base_config()


def _field(item: Any, key: str) -> Any:
    return item[key] if isinstance(item, dict) else getattr(item, key)
