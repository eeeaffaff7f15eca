"""Synalinks' tool and agent scripts (``import synaprefect as synalinks``): tools, actions,
autonomous and interactive function-calling agents, saved and loaded."""

import json
import re

import pytest

import synaprefect as synalinks
from synaprefect.orchestration import tracking
from synaprefect.testing import ToolCalls
from synaprefect.testing.skills import language_model_for

MAX_ITERATIONS = 5


class Query(synalinks.DataModel):
    query: str = synalinks.Field(description="The user query")


class NumericalFinalAnswer(synalinks.DataModel):
    final_answer: float = synalinks.Field(description="The correct final numerical answer")


@synalinks.utils.register_synalinks_serializable()
async def calculate(expression: str):
    """Calculate the result of a mathematical expression.

    Args:
        expression (str): The mathematical expression to calculate, such as
            '2 + 2'. The expression can contain numbers, operators (+, -, *, /),
            parentheses, and spaces.
    """
    if not all(char in "0123456789+-*/(). " for char in expression):
        return {"result": None, "log": "Error: invalid characters in expression"}
    result = round(float(eval(expression, {"__builtins__": None}, {})), 2)
    return {"result": result, "log": "Successfully executed"}


def calculator_student(request):
    """Calls `calculate` on the arithmetic of the question, then answers from its result."""
    conversation = request.messages
    results = [json.loads(m["content"]) for m in conversation if m.get("role") == "tool"]
    if request.offered_tools and request.tool_name is None:
        if results:
            return f"The result is {results[-1]['result']}."
        asked = next(m["content"] for m in conversation if m.get("role") == "user")
        expression = re.search(r"[\d.]+(?: *[-+*/] *[\d.]+)+", asked).group(0)
        return ToolCalls([("calculate", {"expression": expression})])
    if "expression" in (request.schema or {}).get("properties", {}):  # an Action
        return {
            "expression": re.search(r"[\d.]+(?: *[-+*/] *[\d.]+)+", request.user_prompt).group(0)
        }
    return {"final_answer": results[-1]["result"] if results else 0.0}


@pytest.fixture(autouse=True)
def _no_tracking():
    with tracking(False):
        yield


@pytest.fixture
def language_model(simulated_lm):
    simulated_lm.set_responder(calculator_student)
    return language_model_for(simulated_lm)


async def test_autonomous_agent_script(language_model, tmp_path, monkeypatch):
    tools = [synalinks.Tool(calculate)]
    inputs = synalinks.Input(data_model=Query)
    outputs = await synalinks.FunctionCallingAgent(
        data_model=NumericalFinalAnswer,
        tools=tools,
        language_model=language_model,
        max_iterations=5,
        return_inputs_with_trajectory=True,
        autonomous=True,
    )(inputs)
    agent = synalinks.Program(
        inputs=inputs, outputs=outputs, name="math_agent", description="A math agent"
    )

    synalinks.utils.plot_program(
        agent, to_folder=tmp_path, show_module_names=True, show_trainable=True, show_schemas=True
    )
    assert (tmp_path / "math_agent.png").stat().st_size > 0

    response = await agent(Query(query="How much is 152648 + 485?"))

    assert list(response.get_json()) == ["messages", "final_answer"]  # as Synalinks' log
    assert response.get("final_answer") == 153133.0
    messages = response.get("messages")
    assert [m["role"] for m in messages] == ["assistant", "tool"]
    call = messages[0]["tool_calls"][0]
    assert call["type"] == "function" and call["function"]["name"] == "calculate"
    assert call["function"]["arguments"] == {"expression": "152648 + 485"}
    assert messages[1]["tool_call_id"] == call["id"]
    assert messages[1]["content"] == {"result": 153133.0, "log": "Successfully executed"}
    assert "153133" in response.prettify_json()

    agent.save(tmp_path / "math_agent.json")  # keys are not saved: the environment has it
    monkeypatch.setenv("OPENAI_API_KEY", "sk-simulated")
    reloaded = synalinks.Program.load(tmp_path / "math_agent.json")
    again = await reloaded(Query(query="How much is 2 * 21?"))
    assert again.get("final_answer") == 42.0


async def test_interactive_agent_script(language_model):
    tools = [synalinks.Tool(calculate)]
    inputs = synalinks.Input(data_model=synalinks.ChatMessages)
    outputs = await synalinks.FunctionCallingAgent(
        tools=tools,
        language_model=language_model,
        return_inputs_with_trajectory=True,
        autonomous=False,
    )(inputs)
    agent = synalinks.Program(
        inputs=inputs, outputs=outputs, name="math_agent", description="A math agent"
    )

    input_messages = synalinks.ChatMessages(
        messages=[synalinks.ChatMessage(role="user", content="How much is 152648 + 485?")]
    )
    steps = 0
    for _ in range(MAX_ITERATIONS):
        response = await agent(input_messages)
        steps += 1
        assistant_message = response.get("messages")[-1]
        if not assistant_message.get("tool_calls"):
            break
        # A human validates the tool calls here; the script approves them as they are.
        input_messages.messages.append(assistant_message)

    assert steps == 2
    roles = [m["role"] for m in response.get("messages")]
    assert roles == ["user", "assistant", "tool", "assistant"]
    assert response.get("messages")[2]["content"]["result"] == 153133.0


async def test_action_script(language_model):
    x0 = synalinks.Input(data_model=Query)
    x1 = await synalinks.Action(tool=synalinks.Tool(calculate), language_model=language_model)(x0)
    program = synalinks.Program(
        inputs=x0, outputs=x1, name="calculator", description="This program perform the calculation"
    )

    result = await program(Query(query="How much is 6 * 7?"))

    assert result.get("action") == {
        "inputs": {"expression": "6 * 7"},
        "outputs": {"result": 42.0, "log": "Successfully executed"},
    }


async def test_tool_script():
    tool = synalinks.Tool(calculate)
    result = await tool(expression="2 + 2")
    assert result.get_json() == {"result": 4.0, "log": "Successfully executed"}
    assert tool.name == "calculate"
    assert tool.description == "Calculate the result of a mathematical expression."
    schema = tool.get_tool_schema()
    assert schema["required"] == ["expression"]
    assert schema["properties"]["expression"]["type"] == "string"
    assert schema["properties"]["expression"]["description"].startswith(
        "The mathematical expression to calculate, such as '2 + 2'."
    )


class Answer(synalinks.DataModel):
    """Final answer."""

    answer: str = synalinks.Field(description="Final answer to the user")


async def calculator(expression: str):
    """Evaluate a mathematical expression.

    Args:
        expression (str): A mathematical expression like '2 + 2' or '15 * 23'.
    """
    if not all(char in "0123456789+-*/(). " for char in expression):
        return {"error": "Invalid characters in expression"}
    return {"result": str(eval(expression, {"__builtins__": None}, {}))}


async def get_current_time():
    """Get the current date and time."""
    return {"time": "2026-01-01 12:00:00"}


async def convert_temperature(value: float, from_unit: str, to_unit: str):
    """Convert temperature between Celsius and Fahrenheit.

    Args:
        value (float): The temperature value to convert.
        from_unit (str): Source unit ('celsius' or 'fahrenheit').
        to_unit (str): Target unit ('celsius' or 'fahrenheit').
    """
    if from_unit.lower() == "fahrenheit" and to_unit.lower() == "celsius":
        return {"result": f"{(value - 32) * 5 / 9:.1f}C"}
    return {"error": f"Cannot convert from {from_unit} to {to_unit}"}


def multi_tool_student(request):
    """Calls the three tools at once on its first turn, then summarises their results."""
    results = [json.loads(m["content"]) for m in request.messages if m.get("role") == "tool"]
    if request.offered_tools and request.tool_name is None:
        if results:
            return "I have what I need."
        return ToolCalls(
            [
                ("calculator", {"expression": "(25 * 4) + 10"}),
                (
                    "convert_temperature",
                    {"value": 32, "from_unit": "fahrenheit", "to_unit": "celsius"},
                ),
                ("get_current_time", {}),
            ]
        )
    return {"answer": " / ".join(next(iter(r.values())) for r in results)}


async def test_multi_tool_agent_script(simulated_lm):
    """The complete example of Synalinks' agents guide: three tools, one parallel turn."""
    simulated_lm.set_responder(multi_tool_student)
    synalinks.clear_session()
    lm = language_model_for(simulated_lm)
    calculator_tool = synalinks.Tool(calculator)
    time_tool = synalinks.Tool(get_current_time)
    temp_tool = synalinks.Tool(convert_temperature)

    inputs = synalinks.Input(data_model=Query)
    outputs = await synalinks.FunctionCallingAgent(
        data_model=Answer,
        language_model=lm,
        tools=[calculator_tool, time_tool, temp_tool],
        autonomous=True,
        max_iterations=10,
    )(inputs)
    agent = synalinks.Program(inputs=inputs, outputs=outputs, name="tool_agent")

    result = await agent(Query(query="What is (25 * 4) + 10, 32F in Celsius, and the time?"))

    assert result["answer"] == "110 / 0.0C / 2026-01-01 12:00:00"
    assert time_tool.get_tool_schema()["properties"] == {}
    [turn] = [m for m in result["messages"] if m["role"] == "assistant"]
    assert len(turn["tool_calls"]) == 3  # one turn, three calls run together
