"""Tools, actions and the function-calling agent against the simulated LM."""

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Literal, Optional

import numpy as np
import pytest
from helpers import KNOWLEDGE, ROWS, Answer, capitals

import synaprefect as sp
from synaprefect.orchestration import tracking
from synaprefect.testing import Fault, ToolCalls, tool_calls_responder
from synaprefect.testing.skills import language_model_for, parse_prompt


@pytest.fixture(autouse=True)
def _no_tracking():
    with tracking(False):
        yield


class Query(sp.DataModel):
    query: str = sp.Field(description="The user query")


class Total(sp.DataModel):
    total: float = sp.Field(description="The final numerical answer")


def add(a: float, b: float) -> dict:
    """Add two numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    return {"sum": a + b}


async def multiply(a: float, b: float = 1.0) -> float:
    """Multiply two numbers.

    Args:
        a: The first number.
        b: The second number (1 when left out).
    """
    return a * b


# ---- Tool ---------------------------------------------------------------------------


def test_tool_schema_in_the_openai_wire_form():
    def search(
        query: str,
        limit: int = 3,
        tags: Optional[list[str]] = None,
        mode: Literal["fast", "exact"] = "fast",
    ) -> list:
        """Search the notes.

        Finds the notes that match best.

        Args:
            query: What to look for.
            limit: How many notes at most.
            tags: Only notes with
                these tags.
            mode: How hard to search.
        """
        return []

    wire = sp.Tool(search).get_wire_schema()
    assert wire["type"] == "function"
    function = wire["function"]
    assert function["name"] == "search"
    assert function["description"] == "Search the notes. Finds the notes that match best."
    parameters = function["parameters"]
    assert parameters["type"] == "object" and parameters["additionalProperties"] is False
    assert parameters["required"] == ["query"]
    properties = parameters["properties"]
    assert properties["query"] == {
        "title": "Query",
        "description": "What to look for.",
        "type": "string",
    }
    assert properties["limit"]["type"] == "integer" and properties["limit"]["default"] == 3
    assert properties["tags"]["type"] == "array"
    assert properties["tags"]["items"] == {"type": "string"}
    assert properties["tags"]["description"] == "Only notes with these tags."
    assert properties["mode"]["enum"] == ["fast", "exact"]


def test_tool_refuses_a_nameless_or_undocumented_function():
    with pytest.raises(ValueError, match="must be a public identifier"):
        sp.Tool(lambda x: x)  # `<lambda>` is no name a model can call
    with pytest.raises(ValueError, match="needs a docstring"):
        sp.Tool(lambda x: x, name="identity")


def test_tool_errors_name_the_parameter():
    def untyped(x):
        """Untyped.

        Args:
            x: A value.
        """

    def undocumented(x: int, y: int):
        """Only x is described.

        Args:
            x: A value.
        """

    def variadic(*values: int):
        """Variadic.

        Args:
            values: Values.
        """

    def opaque(x: object):
        """Opaque.

        Args:
            x: A value.
        """

    def reserved(training: bool):
        """Reserved.

        Args:
            training: A flag.
        """

    def dated(when: str = object()):
        """Dated.

        Args:
            when: A date.
        """

    with pytest.raises(ValueError, match="parameter 'when': the default .* is not JSON"):
        sp.Tool(dated)
    with pytest.raises(ValueError, match="parameter 'training': `training` is the flag"):
        sp.Tool(reserved)
    with pytest.raises(ValueError, match="parameter 'x': missing type annotation"):
        sp.Tool(untyped)
    with pytest.raises(ValueError, match="parameter 'y': missing description"):
        sp.Tool(undocumented)
    with pytest.raises(ValueError, match=r"parameter 'values': \*args"):
        sp.Tool(variadic)
    with pytest.raises(ValueError, match="parameter 'x': the type .* has no JSON schema"):
        sp.Tool(opaque)


async def test_tool_runs_sync_and_async_functions():
    assert (await sp.Tool(add)(a=2, b=3)).get_json() == {"sum": 5}
    assert (await sp.Tool(multiply)(a=2, b=4)).get_json() == {"result": 8}
    assert (await sp.Tool(multiply)(a=2)).get_json() == {"result": 2}


def test_tool_config_round_trip_needs_a_registered_function():
    registered = sp.saving.register_synaprefect_serializable(package="tests")(add)
    tool = sp.Tool(registered)
    clone = sp.Tool.from_config(tool.get_config())
    assert clone.func is add and clone.get_wire_schema() == tool.get_wire_schema()

    def local(x: int) -> int:
        """Local.

        Args:
            x: A value.
        """
        return x

    with pytest.raises(ValueError, match="'local' is not registered"):
        sp.Tool.from_config(sp.Tool(local).get_config())


# ---- the language model and the simulated LM -------------------------------------------


@pytest.mark.parametrize("transport", ["http", "litellm"])
async def test_tool_calls_with_broken_arguments_are_billed(simulated_lm, transport):
    # Arguments that are a JSON string, not an object: unusable, and paid for.
    simulated_lm.set_responder(lambda request: ToolCalls([("add", "one and two")]))
    lm = language_model_for(simulated_lm, transport=transport, retry=2)
    with pytest.raises(sp.language_models.TransientLanguageModelError, match="not a JSON object"):
        await lm([{"role": "user", "content": "1+2?"}], tools=[sp.Tool(add)])
    counters = lm.counters()
    assert counters["failed_calls"] == 1 and simulated_lm.stats().requests == 2
    assert counters["prompt_tokens"] > 0 and counters["completion_tokens"] > 0


@pytest.mark.parametrize("transport", ["http", "litellm"])
async def test_language_model_returns_several_tool_calls(simulated_lm, transport):
    simulated_lm.set_responder(
        lambda request: ToolCalls([("add", {"a": 1, "b": 2}), ("multiply", {"a": 3, "b": 4})])
    )
    lm = language_model_for(simulated_lm, transport=transport)
    message = await lm(
        [{"role": "user", "content": "1+2 and 3*4?"}], tools=[sp.Tool(add), sp.Tool(multiply)]
    )
    calls = message.get_json()["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["add", "multiply"]
    assert calls[1]["function"]["arguments"] == {"a": 3, "b": 4}
    assert len({c["id"] for c in calls}) == 2
    # The conversation goes back in the wire form: arguments and tool results as JSON text.
    sent = []
    simulated_lm.set_responder(lambda request: sent.append(request.messages) or "Done.")
    conversation = [
        {"role": "user", "content": "1+2?"},
        message.get_json(),
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": {"sum": 3}},
        {"role": "tool", "tool_call_id": calls[1]["id"], "content": {"result": 12}},
    ]
    answer = await lm(conversation, tools=[sp.Tool(add), sp.Tool(multiply)])
    assert answer.get_json() == {"role": "assistant", "content": "Done."}
    wired = sent[0]
    assert json.loads(wired[1]["tool_calls"][1]["function"]["arguments"]) == {"a": 3, "b": 4}
    assert [json.loads(m["content"]) for m in wired[2:]] == [{"sum": 3}, {"result": 12}]
    with pytest.raises(ValueError, match="cannot be sent in one call"):
        await lm(
            [{"role": "user", "content": "x"}], schema=Total.get_schema(), tools=[sp.Tool(add)]
        )


async def test_fallback_model_gets_the_tools_too(simulated_lm_factory):
    broken = simulated_lm_factory(responder=lambda request: Fault("server_error"))
    healthy = simulated_lm_factory(
        responder=lambda request: ToolCalls([(request.offered_tools[0], {"a": 1, "b": 1})])
    )
    lm = language_model_for(broken, retry=1, fallback=language_model_for(healthy))
    message = await lm([{"role": "user", "content": "1+1?"}], tools=[sp.Tool(add)])
    assert message.get_json()["tool_calls"][0]["function"]["name"] == "add"


async def test_generator_offers_its_tools_on_every_call(simulated_lm):
    offered = []
    simulated_lm.set_responder(
        lambda request: (
            offered.append(request.offered_tools) or ToolCalls([("add", {"a": 1, "b": 2})])
        )
    )
    generator = sp.Generator(language_model=language_model_for(simulated_lm), tools=[sp.Tool(add)])
    message = await generator(Query(query="1 + 2?"), tools=[sp.Tool(multiply)])
    assert message.get_json()["tool_calls"][0]["function"]["arguments"] == {"a": 1, "b": 2}
    assert sp.is_chat_message(message) and offered == [["add", "multiply"]]
    assert generator.get_config()["tool_schemas"] == [sp.Tool(add).get_wire_schema()]
    with pytest.raises(ValueError, match="cannot offer `tools`"):
        sp.Generator(data_model=Total, language_model="openai/x", tools=[sp.Tool(add)])


# ---- FunctionCallingAgent ---------------------------------------------------------------


async def agent_program(lm, **kwargs) -> sp.Program:
    inputs = sp.Input(data_model=Query)
    outputs = await sp.FunctionCallingAgent(
        data_model=Total,
        tools=[sp.Tool(add), sp.Tool(multiply)],
        language_model=lm,
        name="math_agent",
        **kwargs,
    )(inputs)
    return sp.Program(inputs=inputs, outputs=outputs, name="math_agent")


async def test_agent_runs_parallel_tool_calls_then_answers(simulated_lm):
    simulated_lm.set_responder(
        tool_calls_responder(
            [
                [("add", {"a": 1, "b": 2}), ("multiply", {"a": 3, "b": 4})],
                [("add", {"a": 3, "b": 12})],
            ],
            fallback=lambda request: {"total": 15.0},
        )
    )
    program = await agent_program(language_model_for(simulated_lm))
    result = (await program(Query(query="(1+2) + 3*4?"))).get_json()
    assert list(result) == ["messages", "total"] and result["total"] == 15.0
    roles = [m["role"] for m in result["messages"]]
    assert roles == ["assistant", "tool", "tool", "assistant", "tool"]
    contents = [m["content"] for m in result["messages"] if m["role"] == "tool"]
    assert contents == [{"sum": 3.0}, {"result": 12.0}, {"sum": 15.0}]
    first = result["messages"][0]["tool_calls"]
    assert [m["tool_call_id"] for m in result["messages"][1:3]] == [c["id"] for c in first]
    # 3 turns (the last calls no tool) and the final structured answer.
    assert simulated_lm.stats().completed == 4


async def test_agent_stops_at_max_iterations_and_reports_bad_calls(simulated_lm):
    seen = []

    def responder(request):
        if request.offered_tools:
            seen.append(request.messages)
            return ToolCalls([("divide", {"a": 1}), ("add", {"a": "one", "b": 2})])
        return {"total": 0.0}

    simulated_lm.set_responder(responder)
    program = await agent_program(language_model_for(simulated_lm), max_iterations=2)
    result = (await program(Query(query="?"))).get_json()
    assert len(seen) == 2  # the step limit, though the model never stopped calling
    errors = [m["content"] for m in result["messages"] if m["role"] == "tool"]
    assert "there is no tool 'divide'" in errors[0]
    assert "bad arguments for 'add'" in errors[1] and "field `a`" in errors[1]
    # The model read them: the second turn's conversation carries the error messages.
    assert any("there is no tool" in (m.get("content") or "") for m in seen[1])


async def test_interactive_agent_runs_approved_calls_one_step_at_a_time(simulated_lm):
    simulated_lm.set_responder(tool_calls_responder([[("add", {"a": 2, "b": 2})]]))
    inputs = sp.Input(data_model=sp.ChatMessages)
    outputs = await sp.FunctionCallingAgent(
        tools=[sp.Tool(add)], language_model=language_model_for(simulated_lm), autonomous=False
    )(inputs)
    program = sp.Program(inputs=inputs, outputs=outputs, name="interactive")
    conversation = sp.ChatMessages(messages=[{"role": "user", "content": "2 + 2?"}])
    proposed = (await program(conversation)).get_json()["messages"]
    assert proposed[-1]["tool_calls"][0]["function"]["name"] == "add"
    assert [m["role"] for m in proposed] == ["user", "assistant"]  # nothing run yet
    answered = (await program(sp.ChatMessages(messages=proposed))).get_json()["messages"]
    assert [m["role"] for m in answered] == ["user", "assistant", "tool", "assistant"]
    assert answered[2]["content"] == {"sum": 4.0}
    # No more tool calls: the final generator's answer ends the conversation.
    assert not answered[3].get("tool_calls")
    assert answered[3]["content"].startswith("Simulated answer")


async def test_agent_variables_are_trainable_and_config_round_trips():
    sp.saving.register_synaprefect_serializable(package="tests")(add)
    sp.saving.register_synaprefect_serializable(package="tests")(multiply)
    program = await agent_program(sp.LanguageModel("openai/x"))
    paths = sorted(v.path for v in program.trainable_variables)
    assert paths == [
        "final_generator_math_agent/state_final_generator_math_agent",
        "tool_calls_generator_math_agent/state_tool_calls_generator_math_agent",
    ]
    agent = program.get_module("math_agent")
    clone = sp.FunctionCallingAgent.from_config(json.loads(json.dumps(agent.get_config())))
    assert clone.get_config() == agent.get_config()


# ---- Action ---------------------------------------------------------------------------


async def test_action_fills_the_arguments_and_runs_the_tool(simulated_lm):
    simulated_lm.set_responder(lambda request: {"a": 20, "b": 22})
    inputs = sp.Input(data_model=Query)
    outputs = await sp.Action(tool=sp.Tool(add), language_model=language_model_for(simulated_lm))(
        inputs
    )
    program = sp.Program(inputs=inputs, outputs=outputs, name="adder")
    result = (await program(Query(query="20 + 22?"))).get_json()
    assert result == {"action": {"inputs": {"a": 20, "b": 22}, "outputs": {"sum": 42}}}


# ---- durability: a killed agent resumes without repeating a finished tool call ------------

RESUMABLE_AGENT = Path(__file__).parent / "scripts" / "resumable_agent.py"


def _run_agent(server, work, home, tracked):
    env = {**os.environ, "SYNAPREFECT_HOME": str(home)}
    output = work / "output.json"
    process = subprocess.run(
        [
            sys.executable,
            str(RESUMABLE_AGENT),
            server.base_url,
            str(work),
            str(output),
            *(["tracked"] if tracked else []),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return process, output


@pytest.mark.e2e  # a process killed and run again
@pytest.mark.parametrize("tracked", [False, True], ids=["untracked", "tracked"])
def test_killed_agent_resumes_without_running_a_finished_tool_again(
    simulated_lm, tmp_path, request, tracked
):
    if tracked:  # the default configuration: a real Prefect API, tool calls as tasks
        request.getfixturevalue("prefect_api")
    simulated_lm.set_responder(
        tool_calls_responder(
            [[("record_order", {"item": "tea"})], [("ship", {"item": "tea"})]],
            fallback=lambda request: {"status": "shipped"},
        )
    )
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    (work / "kill-armed").touch()

    killed, output = _run_agent(simulated_lm, work, home, tracked)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert (work / "orders.log").read_text() == "tea\n"  # the first tool ran...
    assert not (work / "shipments.log").exists()  # ...the second was killed
    assert simulated_lm.stats().completed == 2  # two turns, each calling one tool
    simulated_lm.reset_stats()

    resumed, output = _run_agent(simulated_lm, work, home, tracked)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (work / "orders.log").read_text() == "tea\n"  # not run again
    assert (work / "shipments.log").read_text() == "tea\n"
    result = json.loads(output.read_text())
    assert result["status"] == "shipped"
    assert [m["content"] for m in result["messages"] if m["role"] == "tool"] == [
        {"order_id": 1},
        {"shipped": True},
    ]
    # The two paid turns were replayed; only the third turn and the answer were asked.
    assert simulated_lm.stats().completed == 2
    if tracked:
        names = asyncio.run(_task_names_of_last_run(request.getfixturevalue("prefect_api")))
        # The tool that ran is a task nested in the agent's module task; the replayed one
        # ran nothing.
        tools = [name for name in names if name.startswith("predict-batch-1-ship-")]
        assert len(tools) == 1 and "predict-batch-1-shop_agent" in names, names
        assert not [name for name in names if "record_order" in name], names


async def _task_names_of_last_run(prefect_api) -> list[str]:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    async with prefect_api.client() as client:
        [run] = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=["predict-shop"])),
            sort=FlowRunSort.START_TIME_DESC,
            limit=1,
        )
    return [task.name for task in await prefect_api.read_task_runs([run.id], count=3)]


async def test_retried_agent_task_replays_the_finished_tool_call(simulated_lm, monkeypatch):
    """The model fails (HTTP 500, no model retry) on the agent's second turn, after the
    first tool ran: the job retries the agent's module task, which replays the first turn
    and the tool's result instead of running the tool again."""
    monkeypatch.setenv("SYNAPREFECT_TASK_RETRIES", "1")
    monkeypatch.setenv("SYNAPREFECT_TASK_RETRY_DELAY", "0")
    runs = []

    def record(item: str) -> dict:
        """Record an order.

        Args:
            item: What is ordered.
        """
        runs.append(item)
        return {"order_id": len(runs)}

    script = tool_calls_responder(
        [[("record", {"item": "tea"})], [("add", {"a": 1, "b": 1})]],
        fallback=lambda request: {"total": 2.0},
    )
    failed = []

    def responder(request):
        if request.tool_turns == 1 and not failed:
            failed.append(request.index)
            return Fault("server_error")
        return script(request)

    simulated_lm.set_responder(responder)
    inputs = sp.Input(data_model=Query)
    outputs = await sp.FunctionCallingAgent(
        data_model=Total,
        tools=[sp.Tool(record), sp.Tool(add)],
        language_model=language_model_for(simulated_lm, retry=1),
        name="shop",
    )(inputs)
    program = sp.Program(inputs=inputs, outputs=outputs, name="retried_shop")
    [prediction] = await program.predict(np.array([Query(query="tea")], dtype=object), verbose=0)
    assert failed and runs == ["tea"]  # the model failed once; the tool ran once
    tools = [m["content"] for m in prediction.get_json()["messages"] if m["role"] == "tool"]
    assert tools == [{"order_id": 1}, {"sum": 2.0}]
    assert program.replayed_steps == 0  # nothing finished before: the task was retried


# ---- training: few-shot examples teach the agent to use its tool ----------------------------

ATLAS = {row["query"]: row["answer"] for row in ROWS}


def atlas(question: str) -> dict:
    """Look a geography question up in the atlas.

    Args:
        question: The question, as asked.
    """
    return {"capital": ATLAS.get(question, "unknown")}


def tool_shy_student(request):
    """A model that answers from memory (in the wrong style) unless it uses the atlas; it
    uses it for a fixed 30% of the questions, or for all once its prompt shows an example
    of a tool call."""
    parts = parse_prompt(request)
    question = str(parts.inputs.get("query", ""))
    if request.offered_tools:  # the agent's turn: call the atlas or not
        shown = any(isinstance(o, dict) and o.get("tool_calls") for _, o in parts.examples)
        natural = hashlib.sha256(question.encode()).digest()[0] < 0.3 * 256
        if request.tool_turns == 0 and (shown or natural):
            return ToolCalls([("atlas", {"question": question})])
        return "I can answer now."
    looked_up = [m for m in request.messages if m.get("role") == "tool"]
    if looked_up:
        return {"answer": json.loads(looked_up[-1]["content"])["capital"]}
    return {"answer": KNOWLEDGE.get(question, "unknown")}  # title case: a wrong style


async def test_few_shot_examples_teach_the_agent_to_use_its_tool(simulated_lm):
    sp.set_seed(5)
    simulated_lm.set_responder(tool_shy_student)
    inputs = sp.Input(data_model=Query)
    agent = sp.FunctionCallingAgent(
        data_model=Answer,
        tools=[sp.Tool(atlas)],
        language_model=language_model_for(simulated_lm),
        name="geographer",
    )
    outputs = await agent(inputs)
    program = sp.Program(inputs=inputs, outputs=outputs, name="geography")
    agent.final_generator.trainable = False  # what is learned is when to call the atlas
    program.compile(
        reward=sp.rewards.ExactMatch(in_mask=["answer"]), optimizer=sp.optimizers.RandomFewShot()
    )
    x, y = capitals()
    x_train, y_train, x_val, y_val = x[:28], y[:28], x[28:], y[28:]
    before = await program.evaluate(x_val, y_val, verbose=0)
    assert before["reward"] < 0.5, before
    await program.fit(
        x_train, y_train, validation_data=(x_val, y_val), epochs=2, batch_size=7, verbose=0
    )
    after = await program.evaluate(x_val, y_val, verbose=0)
    assert after["reward"] > 0.9, after
    examples = agent.tool_calls_generator.state.value()["examples"]
    assert any(e["outputs"].get("tool_calls") for e in examples)
