"""``ExactMatch``: 1.0 when the (masked) prediction equals the target, else 0.0."""

from typing import Any

from synaprefect.data_models.json_data_model import JsonDataModel
from synaprefect.rewards.reward import Reward, register_builtin_reward, to_json_data_model

__all__ = ["ExactMatch", "exact_match"]


async def exact_match(y_true: Any, y_pred: Any) -> float:
    """1.0 iff both values are present and their JSON is equal, else 0.0 (no masks).

    Takes data models (``DataModel`` or ``JsonDataModel``) or ``None``; usable with
    ``synaprefect.metrics.MeanMetricWrapper(exact_match)``.

    Example:
    ```python
    await exact_match(Answer(answer="Paris"), Answer(answer="Paris"))   # 1.0
    ```
    """
    y_true = to_json_data_model(y_true, "y_true")
    y_pred = to_json_data_model(y_pred, "y_pred")
    if y_true is None or y_pred is None:
        return 0.0
    return 1.0 if y_true.get_json() == y_pred.get_json() else 0.0


@register_builtin_reward
class ExactMatch(Reward):
    """1.0 iff the target and the prediction are both present and their (masked) JSON is
    equal, else 0.0; a ``None`` prediction scores 0.0.

    Example:
    ```python
    reward = synaprefect.rewards.ExactMatch(in_mask=["answer"])
    await reward(Answer(thinking="a", answer="Paris"),
                 Answer(thinking="b", answer="Paris"))   # 1.0: `thinking` is ignored
    ```
    """

    def __init__(
        self,
        name: str = "exact_match",
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

    async def call(self, y_true: JsonDataModel | None, y_pred: JsonDataModel | None) -> float:
        return await exact_match(y_true, y_pred)
