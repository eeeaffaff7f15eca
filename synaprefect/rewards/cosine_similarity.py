"""``CosineSimilarity``: semantic closeness of the prediction's fields to the target's."""

import math
from typing import Any

from synaprefect.data_models.json_data_model import JsonDataModel
from synaprefect.rewards.reward import (
    Reward,
    flatten_fields,
    register_builtin_reward,
    to_json_data_model,
)
from synaprefect.utils.serialization import deserialize_object, serialize_object

__all__ = ["CosineSimilarity", "cosine_similarity"]


def _normalize(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm > 0 else [0.0 for _ in vector]


def _check_embedding_model(embedding_model: Any, owner: str) -> None:
    if embedding_model is None:
        raise ValueError(
            f"{owner} needs an embedding model: pass `embedding_model=` (an object with "
            "`async embed(texts) -> list[list[float]]`, e.g. "
            "synaprefect.EmbeddingModel(model=...))."
        )
    if not callable(getattr(embedding_model, "embed", None)):
        raise TypeError(
            f"`embedding_model` must have an `embed(texts)` coroutine method, got "
            f"{type(embedding_model).__name__}."
        )


def _check_axis(axis: int) -> None:
    if axis not in (-1, 0):
        raise ValueError(
            f"`axis` must be -1 (or 0): each field has one embedding vector, got {axis!r}."
        )


async def _embed(embedding_model: Any, texts: list[str], owner: str) -> list[list[float]]:
    vectors = await embedding_model.embed(texts)
    if not isinstance(vectors, (list, tuple)) or len(vectors) != len(texts):
        count = len(vectors) if isinstance(vectors, (list, tuple)) else type(vectors)
        raise ValueError(
            f"{owner}: the embedding model returned {count} vectors for {len(texts)} texts; "
            "`embed` must return one vector per text."
        )
    vectors = [[float(x) for x in vector] for vector in vectors]
    sizes = {len(vector) for vector in vectors}
    if len(sizes) > 1:
        raise ValueError(
            f"{owner}: the embedding model returned vectors of different sizes {sorted(sizes)}."
        )
    return vectors


async def _similarity(y_true: Any, y_pred: Any, embedding_model: Any, owner: str) -> float:
    if y_true is None or y_pred is None:
        return 0.0
    true_fields = flatten_fields(y_true.get_json())
    pred_fields = flatten_fields(y_pred.get_json())
    if not true_fields:
        return 1.0 if not pred_fields else 0.0
    paths = list(true_fields)
    present = [path for path in paths if path in pred_fields]
    texts = [true_fields[path] for path in present] + [pred_fields[path] for path in present]
    vectors = await _embed(embedding_model, texts, owner) if texts else []
    dots = []
    for index in range(len(present)):
        a = _normalize(vectors[index])
        b = _normalize(vectors[index + len(present)])
        dots.append(sum(x * y for x, y in zip(a, b)))
    dots += [-1.0] * (len(paths) - len(present))
    mean = sum(dots) / len(dots)
    return min(1.0, max(0.0, (mean + 1.0) / 2.0))


async def cosine_similarity(
    y_true: Any, y_pred: Any, embedding_model: Any = None, axis: int = -1
) -> float:
    """The reward function of ``CosineSimilarity`` (no masks), as in Synalinks.

    Takes data models (``DataModel`` or ``JsonDataModel``) or ``None``; see
    ``CosineSimilarity`` for how the fields are compared.

    Example:
    ```python
    await synaprefect.rewards.cosine_similarity(
        Answer(answer="Paris"), Answer(answer="paris"), embedding_model=embedder)
    ```
    """
    _check_embedding_model(embedding_model, "cosine_similarity")
    _check_axis(axis)
    return await _similarity(
        to_json_data_model(y_true, "y_true"),
        to_json_data_model(y_pred, "y_pred"),
        embedding_model,
        "cosine_similarity",
    )


@register_builtin_reward
class CosineSimilarity(Reward):
    """Embed each field of the target and of the prediction, compare them pairwise.

    The fields are the flattened leaves of the target's (masked) JSON, in key order (see
    ``flatten_fields``), each embedded as a string. For each field, the L2-normalised
    embeddings of the target and of the prediction are dotted; the reward is
    ``(mean of the dots + 1) / 2``, in ``[0, 1]``. A field missing from the prediction
    counts as the worst similarity (-1); fields only in the prediction are ignored (use
    ``in_mask`` to choose what is compared). A ``None`` prediction (or target) gives 0.0.

    ``embedding_model`` is anything with ``async embed(texts: list[str]) ->
    list[list[float]]``, such as ``synaprefect.EmbeddingModel``. ``axis`` is the
    embedding axis (-1 or 0 for one vector per field), kept for Synalinks compatibility.

    Example:
    ```python
    reward = synaprefect.rewards.CosineSimilarity(embedding_model=embedder,
                                                  in_mask=["answer"])
    await reward(Answer(answer="Paris"), Answer(answer="paris, France"))   # close to 1
    ```
    """

    def __init__(
        self,
        embedding_model: Any = None,
        axis: int = -1,
        name: str = "cosine_similarity",
        reduction: str | None = "mean",
        in_mask: list[str] | None = None,
        out_mask: list[str] | None = None,
        in_mask_pattern: str | None = None,
        out_mask_pattern: str | None = None,
    ):
        super().__init__(
            name=name,
            reduction=reduction,
            in_mask=in_mask,
            out_mask=out_mask,
            in_mask_pattern=in_mask_pattern,
            out_mask_pattern=out_mask_pattern,
        )
        _check_embedding_model(embedding_model, "CosineSimilarity")
        _check_axis(axis)
        self.embedding_model = embedding_model
        self.axis = axis

    async def call(self, y_true: JsonDataModel | None, y_pred: JsonDataModel | None) -> float:
        return await _similarity(y_true, y_pred, self.embedding_model, f"Reward '{self.name}'")

    def get_config(self) -> dict:
        """JSON config; the embedding model is included when it can be serialised
        (has ``get_config``), otherwise pass it again to ``from_config``."""
        model = self.embedding_model
        serialized = serialize_object(model) if hasattr(model, "get_config") else None
        return {"embedding_model": serialized, "axis": self.axis, **super().get_config()}

    @classmethod
    def from_config(cls, config: dict, embedding_model: Any = None) -> "CosineSimilarity":
        config = dict(config)
        saved = config.pop("embedding_model", None)
        if embedding_model is None and saved is not None:
            embedding_model = deserialize_object(saved)
        if embedding_model is None:
            raise ValueError(
                "This CosineSimilarity config holds no embedding model (it could not be "
                "serialised): pass it again, e.g. `CosineSimilarity.from_config(config, "
                "embedding_model=embedder)` or `rewards.deserialize(config, "
                "embedding_model=embedder)`."
            )
        return cls(embedding_model=embedding_model, **config)
