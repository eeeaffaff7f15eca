"""``Generator``: one structured language-model call, with trainable instructions and
few-shot examples."""

import copy
from typing import Any

from synaprefect.data_models import ops
from synaprefect.data_models.chat import ChatMessage, is_chat_messages
from synaprefect.data_models.json_data_model import JsonDataModel
from synaprefect.data_models.symbolic_data_model import SymbolicDataModel
from synaprefect.data_models.trainable import Instructions
from synaprefect.language_models import language_model as language_models
from synaprefect.language_models.language_model import CHAT_MESSAGE_SCHEMA
from synaprefect.language_models.tool_calls import wire_tools
from synaprefect.modules.module import Module
from synaprefect.modules.prompts import (
    DEFAULT_PROMPT_TEMPLATE,
    render_system_prompt,
    user_message,
)
from synaprefect.modules.recording import current_recorder, current_sample

__all__ = ["Generator", "default_instructions"]

_SAMPLING = ("temperature", "max_tokens", "top_p", "top_k")
_REASONING = {None, "minimal", "low", "medium", "high", "disable", "none"}


def default_instructions(schema: dict | None) -> str:
    if not schema:
        return "Answer the user's input."
    keys = list(schema.get("properties", {}))
    return f"Answer with a JSON object that has the keys {keys}."


def _schema_of(schema, data_model) -> dict | None:
    if schema is not None:
        return schema
    if data_model is None:
        return None
    if hasattr(data_model, "get_schema"):
        return data_model.get_schema()
    raise TypeError(f"`data_model` must be a DataModel, got {type(data_model).__name__}.")


class Generator(Module):
    """Ask a language model for JSON that follows ``data_model``.

    The prompt holds the instructions and few-shot examples read from the module's
    trainable variable (``state_<name>``), which optimizers change. In training mode,
    inside the trainer's recording block, each prediction is recorded for the optimizer,
    keyed by the sample it belongs to. Without a data model, ``tools`` (``Tool`` objects)
    and ``tool_schemas`` (wire declarations) are offered to the model on every call (as
    are the call's own ``tools=``): the answer is then an assistant ``ChatMessage`` whose
    ``tool_calls`` say which to run; a ``FunctionCallingAgent`` runs them.

    Example:
    ```python
    answer = await synaprefect.Generator(
        data_model=Answer, language_model=lm, instructions="Answer in one word.",
    )(inputs)
    ```
    """

    def __init__(
        self,
        *,
        schema: dict | None = None,
        data_model=None,
        language_model=None,
        prompt_template: str | None = None,
        examples: list | None = None,
        instructions: str | None = None,
        seed_instructions: list[str] | None = None,
        use_inputs_schema: bool = False,
        use_outputs_schema: bool = False,
        return_inputs: bool = False,
        temperature: float | None = None,
        max_tokens: int | None = None,
        top_p: float | None = None,
        top_k: int | None = None,
        reasoning_effort: str | None = None,
        streaming: bool = False,
        tools: list | None = None,
        tool_schemas: list[dict] | None = None,
        name: str | None = None,
        description: str | None = None,
        trainable: bool = True,
    ):
        super().__init__(name=name, description=description, trainable=trainable)
        if language_model is None:
            raise ValueError(
                f"{type(self).__name__} needs `language_model=`: a LanguageModel or a "
                "litellm model string such as 'openai/gpt-4o-mini'."
            )
        if reasoning_effort not in _REASONING:
            raise ValueError(
                f"`reasoning_effort` must be one of {sorted(map(str, _REASONING))}, got "
                f"{reasoning_effort!r}."
            )
        self.schema = _schema_of(schema, data_model)
        if streaming and self.schema is None:
            raise ValueError("Streaming is not supported; set `streaming=False`.")
        self.language_model = language_models.get(language_model)
        self.prompt_template = prompt_template or DEFAULT_PROMPT_TEMPLATE
        self.examples = [list(pair) for pair in examples or []]
        self.instructions = instructions or default_instructions(self.schema)
        self.seed_instructions = list(seed_instructions or [])
        self.use_inputs_schema = use_inputs_schema
        self.use_outputs_schema = use_outputs_schema
        self.return_inputs = return_inputs
        self.sampling = {
            key: value
            for key, value in zip(_SAMPLING, (temperature, max_tokens, top_p, top_k))
            if value is not None
        }
        self.reasoning_effort = reasoning_effort
        if self.schema is not None and (tools or tool_schemas):
            raise ValueError(
                "A Generator with a `schema`/`data_model` answers in it and "
                "cannot offer `tools`: use two generators (see "
                "FunctionCallingAgent)."
            )
        # Offered on every call, with the call's own `tools`; the tools are not run here.
        self.tools = list(tools or [])
        self.tool_schemas = list(tool_schemas or [])
        self.state = self.add_variable(
            initializer={
                "examples": [{"inputs": i, "outputs": o, "reward": None} for i, o in self.examples],
                "seed_candidates": [{"instructions": s} for s in self.seed_instructions],
                "instructions": self.instructions,
            },
            data_model=Instructions,
            name=f"state_{self.name}",
        )

    @property
    def output_schema(self) -> dict:
        return self.schema or CHAT_MESSAGE_SCHEMA

    def format_messages(self, inputs: JsonDataModel) -> list[dict]:
        """The chat messages sent for ``inputs``, from the current variable value. Inputs
        that hold a conversation (``messages``, as an agent's trajectory does) are sent as
        that conversation, after the system prompt and a user turn with their other fields
        (the system prompt is left out when the conversation brings its own)."""
        state = self.state.value()
        system = render_system_prompt(
            self.prompt_template,
            instructions=state.get("instructions") or "",
            examples=[(e["inputs"], e["outputs"]) for e in state.get("examples", [])],
            inputs_schema=inputs.get_schema() if self.use_inputs_schema else None,
            outputs_schema=self.schema if self.use_outputs_schema else None,
        )
        data = inputs.get_json()
        if not is_chat_messages(inputs):
            return [
                {"role": "system", "content": system},
                {"role": "user", "content": user_message(data)},
            ]
        conversation = list(data.get("messages") or [])
        fields = {key: value for key, value in data.items() if key != "messages"}
        has_system = any(m.get("role") in ("system", "developer") for m in conversation)
        head = [] if has_system else [{"role": "system", "content": system}]
        if fields:
            head.append({"role": "user", "content": user_message(fields)})
        return head + conversation

    async def call(self, inputs, training: bool = False, tools=None, tool_schemas=None):
        """One answer for ``inputs``. With ``tools`` (``Tool`` objects) or ``tool_schemas``
        (wire declarations) the model may call them: the answer is then an assistant
        ``ChatMessage`` whose ``tool_calls`` lists the calls (not run here)."""
        if inputs is None:
            return None
        recorder = current_recorder() if training else None
        fill = recorder.reserve(self.state.path, current_sample()) if recorder else None
        options: dict[str, Any] = dict(self.sampling)
        if self.reasoning_effort is not None:
            options["reasoning_effort"] = self.reasoning_effort
        tools = self.tools + list(tools or [])
        tool_schemas = self.tool_schemas + list(tool_schemas or [])
        if tools or tool_schemas:
            options.update(tools=tools, tool_schemas=tool_schemas)
        result = await self.language_model(
            self.format_messages(inputs), schema=self.schema, **options
        )
        assert result is not None  # a model answers None only to no messages
        # The model's answer carries its schema: the ChatMessage one when it called tools.
        output = JsonDataModel(json=result.get_json(), schema=result.get_schema())
        if fill is not None:
            fill(
                {
                    "inputs": copy.deepcopy(inputs.get_json()),
                    "outputs": copy.deepcopy(output.get_json()),
                    "reward": None,
                }
            )
        return ops.concat_data(inputs, output) if self.return_inputs else output

    async def compute_output_spec(
        self, inputs, training: bool = False, tools=None, tool_schemas=None
    ):
        schema = self.output_schema
        if schema is CHAT_MESSAGE_SCHEMA and (
            self.tools or self.tool_schemas or tools or tool_schemas
        ):
            schema = ChatMessage.get_schema()
        output = SymbolicDataModel(schema=copy.deepcopy(schema))
        return ops.concat_data(inputs, output) if self.return_inputs else output

    def get_config(self) -> dict:
        return {
            "schema": self.schema,
            "prompt_template": None
            if self.prompt_template == DEFAULT_PROMPT_TEMPLATE
            else self.prompt_template,
            "examples": self.examples,
            "instructions": self.instructions,
            "seed_instructions": self.seed_instructions,
            "use_inputs_schema": self.use_inputs_schema,
            "use_outputs_schema": self.use_outputs_schema,
            "return_inputs": self.return_inputs,
            **self.sampling,
            "reasoning_effort": self.reasoning_effort,
            # Tools are saved as their wire declarations, as Synalinks does (only when set).
            **(
                {"tool_schemas": self.tool_schemas + wire_tools(self.tools)}
                if self.tools or self.tool_schemas
                else {}
            ),
            "name": self.name,
            "description": self.description,
            "trainable": self.trainable,
            "language_model": self.language_model.get_config(),
        }
