"""The data models that make a variable trainable by in-context optimizers."""

from typing import Any, Optional

from synaprefect.data_models.data_model import DataModel, Field

__all__ = [
    "Prediction",
    "Trainable",
    "Instructions",
    "is_trainable_schema",
    "BOOKKEEPING_KEYS",
    "trained_fields",
]


class Prediction(DataModel):
    """One recorded prediction: the inputs, what the program produced, and its reward."""

    inputs: dict = {}
    outputs: Optional[dict] = None
    reward: Optional[float] = None


class Trainable(DataModel):
    """Bookkeeping every trainable variable carries for the optimizers.

    Subclass it and add fields with defaults to make custom trainable state.
    """

    examples: list[Prediction] = Field(default=[], description="The few-shot examples")
    current_predictions: list[Prediction] = []
    predictions: list[Prediction] = []
    seed_candidates: list[Any] = []
    candidates: list[Any] = []
    best_candidates: list[Any] = []
    history: list[Any] = []
    nb_visit: int = 0
    cumulative_reward: float = 0.0


class Instructions(Trainable):
    """The instructions for the language model"""

    instructions: Optional[str] = None


BOOKKEEPING_KEYS = tuple(Trainable.model_fields)


def is_trainable_schema(schema: dict) -> bool:
    """True when ``schema`` declares every ``Trainable`` field."""
    properties = schema.get("properties", {})
    return all(key in properties for key in BOOKKEEPING_KEYS)


def trained_fields(value: dict) -> dict:
    """What a trainable variable gives the program (its examples and the fields of its
    data model), without the optimizer's bookkeeping."""
    return {k: v for k, v in value.items() if k == "examples" or k not in BOOKKEEPING_KEYS}
