"""Running an assistant message's tool calls: each call answered by one tool message.

What the model asked for is checked first (a tool it was offered, arguments that follow
that tool's schema); a bad call or a failing tool becomes an error message the model
reads on its next turn, so it can correct itself, rather than an exception that ends the
run. The calls of one message run concurrently.

Example:
```python
tools = tools_by_name([synaprefect.Tool(add)], owner="agent")
replies = await run_tool_calls(tools, assistant["tool_calls"])
# [{"role": "tool", "tool_call_id": "call_0", "content": {"result": 3}}]
```
"""

from typing import Any

from synaprefect.modules.tool import Tool
from synaprefect.utils.async_utils import gather_or_cancel

__all__ = ["tools_by_name", "run_tool_calls"]


def tools_by_name(tools: Any, owner: str) -> dict[str, Tool]:
    """``{name: Tool}`` from a list of tools (plain functions are wrapped in ``Tool``);
    ``ValueError`` for none at all or two tools of one name."""
    if not tools:
        raise ValueError(
            f"{owner} needs `tools=`: a list of synaprefect.Tool (or documented "
            "functions) the language model may call."
        )
    found: dict[str, Tool] = {}
    for tool in tools:
        if not isinstance(tool, Tool):
            if not callable(tool):
                raise TypeError(
                    f"{owner}: `tools` items must be synaprefect.Tool objects or "
                    f"functions, got {type(tool).__name__}."
                )
            tool = Tool(tool)
        if tool.name in found:
            raise ValueError(
                f"{owner}: two tools are named {tool.name!r}; the language "
                "model calls tools by name, pass `name=` to Tool(...)."
            )
        found[tool.name] = tool
    return found


async def _answer(tools: dict[str, Tool], call: dict) -> dict:
    function = call.get("function") or {}
    name, arguments = function.get("name"), function.get("arguments") or {}
    reply = {"role": "tool", "tool_call_id": call.get("id")}
    tool = tools.get(name) if isinstance(name, str) else None
    if tool is None:
        return {
            **reply,
            "content": f"error: there is no tool {name!r}; the tools are {sorted(tools)}.",
        }
    problems = tool.argument_problems(arguments)
    if problems:
        return {**reply, "content": f"error: bad arguments for {name!r}: {'; '.join(problems)}."}
    try:
        result = await tool(**arguments)
    except Exception as error:  # the model reads what went wrong and may try again
        return {**reply, "content": f"error: {type(error).__name__}: {error}"}
    return {**reply, "content": result.get_json() if result is not None else None}


async def run_tool_calls(tools: dict[str, Tool], calls: list[dict]) -> list[dict]:
    """One tool message per call of ``calls``, in their order."""
    return list(await gather_or_cancel(*(_answer(tools, call) for call in calls)))
