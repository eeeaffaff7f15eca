"""``FunctionCallingAgent``: a language model that calls tools until it can answer."""

import copy
from typing import Any

from synaprefect.data_models import ops
from synaprefect.data_models.chat import ChatMessages, is_chat_messages
from synaprefect.data_models.json_data_model import JsonDataModel
from synaprefect.data_models.symbolic_data_model import SymbolicDataModel
from synaprefect.language_models import language_model as language_models
from synaprefect.modules.agents.tool_dispatch import run_tool_calls, tools_by_name
from synaprefect.modules.generator import Generator
from synaprefect.modules.module import Module
from synaprefect.utils.serialization import (
    deserialize_synalinks_object,
    serialize_synalinks_object,
)

__all__ = ["FunctionCallingAgent", "default_agent_instructions"]

_UNSUPPORTED = {"use_chain_of_thought": False, "streaming": False, "workdir": None, "skills": None}


def default_agent_instructions() -> str:
    return (
        "Work step by step. Call the tools you need, several at once when they do not "
        "depend on each other; read their results before the next step and do not "
        "repeat a call that already answered. When the results are enough to answer, "
        "call no tool."
    )


def _messages_of(data: dict) -> list[dict]:
    return copy.deepcopy(list(data.get("messages") or []))


class FunctionCallingAgent(Module):
    """A trainable agent: the language model picks tools (several at once if it wants),
    their results go back into the conversation, and so on until it calls no tool or
    ``max_iterations`` turns have passed; then it answers in ``data_model``.

    Two generators do the work, ``tool_calls_generator_<name>`` (the turns) and
    ``final_generator_<name>`` (the answer); their instructions and few-shot examples
    are trainable variables, so optimizers train an agent like any ``Generator``. Each
    tool call runs once per job: a retried or resumed run replays finished calls
    (see ``Tool``).

    ``autonomous=False`` runs one step at a time for a human in the loop: the input is a
    conversation (``ChatMessages``); the tool calls of its last assistant message are run,
    then the model's next message is appended (its tool calls are not run until the
    conversation comes back with them, approved or edited).

    With ``return_inputs_with_trajectory`` the output holds the conversation
    (``messages``: the input's own, if it was one, then the agent's tool calls and their
    results) and the answer's fields; otherwise the answer alone. Without a data model the
    answer is the model's last message, appended to the conversation.

    Example:
    ```python
    inputs = synaprefect.Input(data_model=Query)
    outputs = await synaprefect.FunctionCallingAgent(
        data_model=NumericalAnswer, tools=[synaprefect.Tool(calculate)],
        language_model=lm, max_iterations=5,
    )(inputs)
    agent = synaprefect.Program(inputs=inputs, outputs=outputs, name="math_agent")
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
        final_instructions: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        top_p: float | None = None,
        top_k: int | None = None,
        use_inputs_schema: bool = False,
        use_outputs_schema: bool = False,
        reasoning_effort: str | None = None,
        use_chain_of_thought: bool = False,
        tools: list | None = None,
        autonomous: bool = True,
        return_inputs_with_trajectory: bool = True,
        max_iterations: int = 5,
        streaming: bool = False,
        workdir: str | None = None,
        skills: list | None = None,
        name: str | None = None,
        description: str | None = None,
        trainable: bool = True,
    ):
        super().__init__(name=name, description=description, trainable=trainable)
        given = {
            "use_chain_of_thought": use_chain_of_thought,
            "streaming": streaming,
            "workdir": workdir,
            "skills": skills,
        }
        for option, default in _UNSUPPORTED.items():
            if given[option] != default:
                raise ValueError(
                    f"FunctionCallingAgent: `{option}` is not provided by "
                    f"synaprefect; leave it at {default!r}."
                )
        if not isinstance(max_iterations, int) or max_iterations < 1:
            raise ValueError(
                f"`max_iterations` must be a positive integer, got {max_iterations!r}."
            )
        if schema is None and data_model is not None:
            schema = data_model.get_schema()
        self.schema = schema
        self.tools = tools_by_name(tools, f"FunctionCallingAgent {self.name!r}")
        self.language_model = (
            language_models.get(language_model) if language_model is not None else None
        )
        self.autonomous = autonomous
        self.return_inputs_with_trajectory = return_inputs_with_trajectory
        self.max_iterations = max_iterations
        self.instructions = instructions or default_agent_instructions()
        self.final_instructions = final_instructions
        self._settings: dict[str, Any] = {
            "prompt_template": prompt_template,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "top_p": top_p,
            "top_k": top_k,
            "use_inputs_schema": use_inputs_schema,
            "use_outputs_schema": use_outputs_schema,
            "reasoning_effort": reasoning_effort,
        }
        self.examples = examples
        self.tool_calls_generator = Generator(
            language_model=self.language_model,
            examples=examples,
            instructions=self.instructions,
            name=f"tool_calls_generator_{self.name}",
            **self._settings,
        )
        self.final_generator = Generator(
            schema=schema,
            language_model=self.language_model,
            instructions=final_instructions or self.instructions,
            name=f"final_generator_{self.name}",
            **self._settings,
        )

    # ---- running ------------------------------------------------------------------------

    async def _step(self, trajectory: JsonDataModel, training: bool) -> dict:
        """The model's next message for ``trajectory`` (with or without tool calls)."""
        reply = await self.tool_calls_generator(
            trajectory, training=training, tools=list(self.tools.values())
        )
        return reply.get_json() if reply is not None else {}

    @staticmethod
    def _with_messages(trajectory: JsonDataModel, messages: list[dict]) -> JsonDataModel:
        return JsonDataModel(
            json={**trajectory.get_json(), "messages": messages}, schema=trajectory.get_schema()
        )

    async def call(self, inputs, training: bool = False):
        if inputs is None:
            return None
        if is_chat_messages(inputs):
            trajectory = inputs
        elif not self.autonomous:
            raise ValueError(
                f"FunctionCallingAgent {self.name!r}: with autonomous=False the "
                "input must be a conversation (ChatMessages), got fields "
                f"{sorted(inputs.get_json())}."
            )
        else:
            trajectory = ops.concat_data(inputs, ChatMessages().to_json_data_model())
        messages = _messages_of(trajectory.get_json())
        if self.autonomous:
            return await self._run_autonomous(trajectory, messages, training)
        return await self._run_interactive(trajectory, messages, training)

    async def _run_autonomous(self, trajectory, messages: list[dict], training: bool):
        for _ in range(self.max_iterations):
            reply = await self._step(trajectory, training)
            if not reply.get("tool_calls"):
                break
            messages += [reply, *await run_tool_calls(self.tools, reply["tool_calls"])]
            trajectory = self._with_messages(trajectory, messages)
        return await self._finish(trajectory, messages, training, new=messages)

    async def _run_interactive(self, trajectory, messages: list[dict], training: bool):
        new: list[dict] = []
        last = messages[-1] if messages else {}
        if last.get("role") == "assistant" and last.get("tool_calls"):
            new += await run_tool_calls(self.tools, last["tool_calls"])
            trajectory = self._with_messages(trajectory, messages + new)
        reply = await self._step(trajectory, training)
        if reply.get("tool_calls"):
            new.append(reply)
            return self._conversation(messages + new if self.return_inputs_with_trajectory else new)
        return await self._finish(trajectory, messages + new, training, new=new)

    async def _finish(self, trajectory, messages: list[dict], training: bool, new: list):
        answer = await self.final_generator(trajectory, training=training)
        if self.schema is None:
            final = [answer.get_json()] if answer is not None else []
            return self._conversation(
                (messages if self.return_inputs_with_trajectory else new) + final
            )
        if not self.return_inputs_with_trajectory:
            return answer
        return ops.concat_data(self._conversation(messages), answer)

    @staticmethod
    def _conversation(messages: list[dict]) -> JsonDataModel:
        return JsonDataModel(
            json=ChatMessages(messages=messages).get_json(), schema=ChatMessages.get_schema()
        )

    async def compute_output_spec(self, inputs, training: bool = False):
        conversation = SymbolicDataModel(schema=ChatMessages.get_schema())
        if not self.autonomous and not is_chat_messages(inputs):
            raise ValueError(
                f"FunctionCallingAgent {self.name!r}: with autonomous=False the "
                "input must be a conversation (ChatMessages)."
            )
        if self.schema is None or not self.autonomous:
            return conversation
        answer = SymbolicDataModel(schema=copy.deepcopy(self.schema))
        return (
            ops.concat_data(conversation, answer) if self.return_inputs_with_trajectory else answer
        )

    # ---- configuration ------------------------------------------------------------------

    def get_config(self) -> dict:
        return {
            "schema": self.schema,
            "instructions": self.instructions,
            "final_instructions": self.final_instructions,
            "examples": self.examples,
            **self._settings,
            "autonomous": self.autonomous,
            "return_inputs_with_trajectory": self.return_inputs_with_trajectory,
            "max_iterations": self.max_iterations,
            "name": self.name,
            "description": self.description,
            "trainable": self.trainable,
            "language_model": self.language_model.get_config()
            if self.language_model is not None
            else None,
            "tools": [serialize_synalinks_object(t) for t in self.tools.values()],
        }

    @classmethod
    def from_config(cls, config: dict) -> "FunctionCallingAgent":
        config = dict(config)
        if "tools" not in config:
            raise ValueError(
                "A FunctionCallingAgent's config needs its `tools` (registered "
                "functions); this one has none."
            )
        tools = [deserialize_synalinks_object(t) for t in config.pop("tools")]
        return cls(tools=tools, **config)
