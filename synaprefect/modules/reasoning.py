"""Generators that think first (``ChainOfThought``) or judge (``SelfCritique``)."""

from synaprefect.data_models.data_model import DataModel, Field
from synaprefect.data_models.schema import concat_schema
from synaprefect.modules.generator import Generator, _schema_of

__all__ = ["ChainOfThought", "SelfCritique"]


class Thinking(DataModel):
    thinking: str = Field(description="Your step by step thinking")


class Critique(DataModel):
    critique: str = Field(description="The critique of the prediction")


class CritiqueWithReward(Critique):
    reward: float = Field(ge=0.0, le=1.0, description="How good the prediction is, from 0.0 to 1.0")


class ChainOfThought(Generator):
    """A ``Generator`` whose answer starts with a ``thinking`` field.

    As in Synalinks, it asks for a ``"low"`` ``reasoning_effort`` unless told otherwise
    (``None`` means that default too; ``"none"`` or ``"disable"`` turn reasoning off).
    Models without a reasoning setting ignore it (litellm drops the parameter).

    Example:
    ```python
    answer = await synaprefect.ChainOfThought(data_model=Answer, language_model=lm)(inputs)
    answer["thinking"], answer["answer"]
    ```
    """

    def __init__(
        self,
        *,
        schema: dict | None = None,
        data_model=None,
        reasoning_effort: str | None = "low",
        **kwargs,
    ):
        target = _schema_of(schema, data_model)
        self.target_schema = target
        super().__init__(
            schema=concat_schema(Thinking.get_schema(), target)
            if target
            else Thinking.get_schema(),
            reasoning_effort=reasoning_effort or "low",
            **kwargs,
        )

    def get_config(self) -> dict:
        return {**super().get_config(), "schema": self.target_schema}


class SelfCritique(Generator):
    """Critique the input (usually a prediction) and score it in [0, 1].

    Example:
    ```python
    judged = await synaprefect.SelfCritique(language_model=lm)(inputs & prediction)
    judged["reward"]
    ```
    """

    def __init__(
        self,
        *,
        return_reward: bool = True,
        return_inputs: bool = True,
        instructions: str | None = None,
        **kwargs,
    ):
        kwargs.pop("schema", None)
        kwargs.pop("data_model", None)
        self.return_reward = return_reward
        super().__init__(
            data_model=CritiqueWithReward if return_reward else Critique,
            return_inputs=return_inputs,
            instructions=instructions
            or (
                "Critique the input: point out what is wrong or missing"
                + (
                    ", then give a reward between 0.0 (wrong) and 1.0 (perfect)."
                    if return_reward
                    else "."
                )
            ),
            **kwargs,
        )

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("schema")
        return {**config, "return_reward": self.return_reward}
