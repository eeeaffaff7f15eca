"""Tool calling on the wire: tool declarations, conversation messages and the assistant's
tool calls, between synaprefect's chat messages and the chat-completions format.

Inside synaprefect a tool call's ``arguments`` are a dict and a tool message's content may
be JSON; on the wire both are JSON strings. The language-model layer knows tools only by
their wire form (``get_wire_schema()``), never the ``Tool`` module.

Example:
```python
wire_tools([calculator_tool])
# [{"type": "function", "function": {"name": "calculate", "description": ..., ...}}]
```
"""

import json
from typing import Any

from synaprefect.language_models.errors import InvalidOutputError

__all__ = ["wire_tools", "wire_messages", "assistant_message"]


def wire_tools(tools: Any) -> list[dict]:
    """Tool declarations in the wire form, from tools (anything with
    ``get_wire_schema()``), a ``{name: tool}`` mapping or wire dicts."""
    items = list(tools.values()) if isinstance(tools, dict) else list(tools or [])
    declared = []
    for tool in items:
        if hasattr(tool, "get_wire_schema"):
            declared.append(tool.get_wire_schema())
        elif (
            isinstance(tool, dict)
            and tool.get("type") == "function"
            and isinstance(tool.get("function"), dict)
            and tool["function"].get("name")
        ):
            declared.append(tool)
        else:
            raise TypeError(
                f"`tools` items must be synaprefect.Tool objects or declarations like "
                f"{{'type': 'function', 'function': {{'name': ..., 'parameters': ...}}}}, got "
                f"{tool!r:.120}."
            )
    return declared


def _as_text(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else json.dumps(value)


def wire_messages(messages: list[dict]) -> list[dict]:
    """``messages`` as chat completions take them: unset fields dropped (``content``
    kept), tool-call arguments and structured tool results as JSON text."""
    wired = []
    for message in messages:
        out = {key: value for key, value in message.items() if value is not None}
        out.setdefault("content", None)
        if out.get("tool_calls"):
            out["tool_calls"] = [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {
                        "name": call["function"]["name"],
                        "arguments": _as_text(call["function"].get("arguments") or {}),
                    },
                }
                for call in out["tool_calls"]
            ]
        if out.get("role") == "tool" and not isinstance(out["content"], (str, list)):
            out["content"] = _as_text(out["content"])
        wired.append(out)
    return wired


def assistant_message(model: str, message: Any) -> dict:
    """The assistant's answer (a provider message with attribute access) with its tool
    calls, their arguments parsed; ``InvalidOutputError`` (retried) when the arguments of
    a call are not a JSON object."""
    answer: dict[str, Any] = {"role": "assistant", "content": getattr(message, "content", None)}
    calls = []
    for index, call in enumerate(getattr(message, "tool_calls", None) or []):
        function = call.function
        text = function.arguments or "{}"
        try:
            arguments = json.loads(text) if isinstance(text, str) else dict(text)
        except (ValueError, TypeError):
            arguments = None
        if not isinstance(arguments, dict):
            raise InvalidOutputError(
                model,
                f"the arguments of tool call {function.name!r} "
                f"are not a JSON object: {str(text)[:120]!r}",
            )
        calls.append(
            {
                "id": getattr(call, "id", None) or f"call_{index}",
                "type": "function",
                "function": {"name": function.name, "arguments": arguments},
            }
        )
    if calls:
        answer["tool_calls"] = calls
    return answer
