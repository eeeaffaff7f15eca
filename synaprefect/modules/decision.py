"""Classification and routing: ``Decision``, ``MultiDecision``, ``Branch``."""

from synaprefect.data_models import ops
from synaprefect.data_models.json_data_model import JsonDataModel
from synaprefect.data_models.symbolic_data_model import SymbolicDataModel
from synaprefect.modules.generator import Generator
from synaprefect.modules.module import Module
from synaprefect.utils.async_utils import gather_or_cancel
from synaprefect.utils.serialization import deserialize_object, serialize_object

__all__ = ["Decision", "MultiDecision", "Branch"]

_QUESTION_SCHEMA = {
    "additionalProperties": False,
    "properties": {"question": {"title": "Question", "type": "string"}},
    "required": ["question"],
    "title": "Question",
    "type": "object",
}


def _check_labels(question, labels) -> list[str]:
    if not question or not isinstance(question, str):
        raise ValueError("A decision needs `question=`, a string such as 'Which topic?'.")
    if (
        not isinstance(labels, list)
        or not labels
        or not all(isinstance(label, str) for label in labels)
    ):
        raise ValueError(f"`labels` must be a non-empty list of strings, got {labels!r}.")
    return labels


class Decision(Generator):
    """Choose exactly one of ``labels`` for the input.

    Example:
    ```python
    decision = await synaprefect.Decision(
        question="Is this easy or hard?", labels=["easy", "hard"], language_model=lm,
    )(inputs)
    decision["choice"]
    ```
    """

    _multiple = False

    def __init__(self, *, question: str | None = None, labels: list[str] | None = None, **kwargs):
        self.question = question
        self.labels = list(_check_labels(question, labels))
        kwargs.pop("schema", None)
        kwargs.pop("data_model", None)
        choice = {"enum": self.labels, "type": "string"}
        key = "choices" if self._multiple else "choice"
        schema = {
            "additionalProperties": False,
            "properties": {
                "thinking": {"title": "Thinking", "type": "string"},
                key: {"items": choice, "type": "array"} if self._multiple else choice,
            },
            "required": ["thinking", key],
            "title": "Decision",
            "type": "object",
        }
        kwargs.setdefault(
            "instructions",
            f"Answer the question with {'the labels that apply' if self._multiple else 'one label'}"
            f" among {self.labels}; think step by step first.",
        )
        super().__init__(schema=schema, **kwargs)

    def _with_question(self, inputs):
        if isinstance(inputs, SymbolicDataModel):
            return ops.concat_data(inputs, SymbolicDataModel(schema=_QUESTION_SCHEMA))
        question = JsonDataModel(json={"question": self.question}, schema=_QUESTION_SCHEMA)
        return ops.concat_data(inputs, question)

    async def call(self, inputs, training: bool = False, tools=None, tool_schemas=None):
        if inputs is None:
            return None
        return await super().call(
            self._with_question(inputs), training=training, tools=tools, tool_schemas=tool_schemas
        )

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("schema")
        return {**config, "question": self.question, "labels": self.labels}


class MultiDecision(Decision):
    """Choose every label of ``labels`` that applies (``choices``: a list)."""

    _multiple = True


class Branch(Module):
    """Route the input to the module of the chosen label; the others give None.

    Returns one output per label. Join them with ``|``.

    Example:
    ```python
    easy, hard = await synaprefect.Branch(
        question="Easy or hard?", labels=["easy", "hard"], language_model=lm,
        branches=[synaprefect.Generator(data_model=Answer, language_model=lm),
                  synaprefect.ChainOfThought(data_model=Answer, language_model=lm)],
    )(inputs)
    answer = easy | hard
    ```
    """

    def __init__(
        self,
        *,
        question: str | None = None,
        labels: list[str] | None = None,
        branches: list[Module] | None = None,
        language_model=None,
        inject_decision: bool = True,
        return_decision: bool = True,
        decision_type: type = Decision,
        name: str | None = None,
        description: str | None = None,
        trainable: bool = True,
        **decision_kwargs,
    ):
        super().__init__(name=name, description=description, trainable=trainable)
        labels = _check_labels(question, labels)
        if not isinstance(branches, list) or len(branches) != len(labels):
            raise ValueError(
                f"`branches` must be a list with one module per label ({len(labels)}), got "
                f"{branches!r:.120}."
            )
        self.question, self.labels = question, list(labels)
        self.inject_decision, self.return_decision = inject_decision, return_decision
        self.decision = decision_type(
            question=question,
            labels=labels,
            language_model=language_model,
            name=f"decision_{self.name}",
            **decision_kwargs,
        )
        self.branches = branches

    def _selected(self, decision) -> list[bool]:
        chosen = decision.get("choice", decision.get("choices"))
        chosen = chosen if isinstance(chosen, list) else [chosen]
        return [label in chosen for label in self.labels]

    async def _run_branch(self, module, inputs, decision):
        branch_inputs = ops.and_data(inputs, decision) if self.inject_decision else inputs
        output = await module(branch_inputs)
        return ops.and_data(decision, output) if self.return_decision else output

    async def call(self, inputs, training: bool = False):
        if inputs is None:
            return tuple(None for _ in self.labels)
        decision = await self.decision(inputs)
        if decision is None:
            return tuple(None for _ in self.labels)
        selected = self._selected(decision)

        async def maybe_run(module, chosen):
            return await self._run_branch(module, inputs, decision) if chosen else None

        # One failing branch fails the call: cancel the others rather than let them pay on.
        return tuple(
            await gather_or_cancel(
                *(maybe_run(module, chosen) for module, chosen in zip(self.branches, selected))
            )
        )

    async def compute_output_spec(self, inputs, training: bool = False):
        decision = await self.decision(inputs)
        return tuple([await self._run_branch(m, inputs, decision) for m in self.branches])

    def get_config(self) -> dict:
        decision = self.decision.get_config()
        for key in ("name", "question", "labels", "description", "trainable"):
            decision.pop(key, None)
        return {
            "question": self.question,
            "labels": self.labels,
            "branches": [serialize_object(m) for m in self.branches],
            "inject_decision": self.inject_decision,
            "return_decision": self.return_decision,
            "name": self.name,
            "description": self.description,
            "trainable": self.trainable,
            **decision,
        }

    @classmethod
    def from_config(cls, config: dict) -> "Branch":
        config = dict(config)
        config["branches"] = [deserialize_object(b) for b in config["branches"]]
        return cls(**config)
