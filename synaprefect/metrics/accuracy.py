"""``Accuracy``: the share of samples whose (masked) prediction equals the target."""

from typing import Any

from synaprefect.metrics.metric import MaskedMetric, register_builtin_metric
from synaprefect.metrics.reduction import MeanState, MeanStateMixin
from synaprefect.rewards.exact_match import exact_match

__all__ = ["Accuracy"]


@register_builtin_metric
class Accuracy(MeanStateMixin, MaskedMetric):
    """The mean exact match of the masked JSON over samples (1 per equal sample, 0
    otherwise; a ``None`` prediction or target counts as 0).

    ``update_state`` takes one sample or two equal-length lists of samples.

    Example:
    ```python
    accuracy = synaprefect.metrics.Accuracy(in_mask=["answer"])
    await accuracy.update_state([Answer(answer="a"), Answer(answer="b")],
                                [Answer(answer="a"), None])
    accuracy.result()   # 0.5
    ```
    """

    direction = "up"
    state_model = MeanState

    def __init__(
        self,
        name: str = "accuracy",
        in_mask: list[str] | None = None,
        out_mask: list[str] | None = None,
    ):
        super().__init__(name=name, in_mask=in_mask, out_mask=out_mask)

    async def update_state(self, y_true: Any, y_pred: Any) -> None:
        """Score one sample, or two equal-length lists of samples."""
        samples = self.prepare_samples(y_true, y_pred)
        self._add([await exact_match(true, pred) for true, pred in samples])
