"""``LMAsJudge``: a language model scores the prediction (against the target if given)."""

from synaprefect.data_models import ops
from synaprefect.modules.reasoning import SelfCritique
from synaprefect.rewards.reward import Reward, register_builtin_reward

__all__ = ["LMAsJudge"]


@register_builtin_reward
class LMAsJudge(Reward):
    """Ask a language model to critique the prediction and score it in [0, 1].

    With a target, the model sees it as ``gold_*`` fields next to the prediction. A missing
    prediction scores 0.0 without any call.

    Example:
    ```python
    program.compile(reward=synaprefect.rewards.LMAsJudge(language_model=judge_lm),
                    optimizer=synaprefect.optimizers.RandomFewShot())
    ```
    """

    def __init__(
        self,
        language_model=None,
        prompt_template: str | None = None,
        examples: list | None = None,
        instructions: str | None = None,
        name: str = "lm_as_judge",
        reduction: str | None = "mean",
        **masks,
    ):
        super().__init__(name=name, reduction=reduction, **masks)
        if language_model is None:
            raise ValueError("LMAsJudge needs `language_model=`: the model that judges.")
        self.critique = SelfCritique(
            language_model=language_model,
            return_inputs=False,
            prompt_template=prompt_template,
            examples=examples,
            instructions=instructions,
            name=f"critique_{name}",
        )
        self._settings = {
            "prompt_template": prompt_template,
            "examples": examples,
            "instructions": instructions,
        }

    async def call(self, y_true, y_pred) -> float:
        if y_pred is None:
            return 0.0
        judged = ops.concat_data(y_true.prefix("gold"), y_pred) if y_true is not None else y_pred
        result = await self.critique(judged)
        return float(result["reward"])

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            **self._settings,
            "language_model": self.critique.language_model.get_config(),
        }
