"""Chat messages as data models (``ChatMessage``, ``ChatMessages``), shaped like the
chat-completion messages language models take and return.

Example:
```python
history = synaprefect.ChatMessages(messages=[
    {"role": "user", "content": "Hello"},
    synaprefect.ChatMessage(role=synaprefect.ChatRole.ASSISTANT, content="Hi!"),
])
history.messages[0].role  # ChatRole.USER
synaprefect.is_chat_messages(history)  # True
```
"""

from enum import StrEnum
from typing import Any, Literal, Optional, Union

from synaprefect.data_models.data_model import DataModel, Field
from synaprefect.data_models.schema import contains_schema

__all__ = [
    "ChatRole",
    "ToolCallFunction",
    "ToolCall",
    "ChatMessage",
    "ChatMessages",
    "is_chat_message",
    "is_chat_messages",
    "is_tool_call",
]


class ChatRole(StrEnum):
    """Who wrote a chat message."""

    SYSTEM = "system"
    DEVELOPER = "developer"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"
    FUNCTION = "function"


class ToolCallFunction(DataModel):
    """The function a tool call invokes: its name and arguments (a dict, or the JSON
    string chat completions carry)."""

    name: str = Field(description="The name of the function called")
    arguments: Union[dict[str, Any], str] = Field(description="The arguments of the call")


class ToolCall(DataModel):
    """One tool call of an assistant message."""

    id: str = Field(description="The id of the tool call")
    type: Literal["function"] = Field(default="function", description="The call type")
    function: ToolCallFunction = Field(description="The function invoked")


class ChatMessage(DataModel):
    """One chat message; every field but ``role`` is optional."""

    role: ChatRole = Field(description="The chat message role")
    content: Optional[Union[str, list[dict[str, Any]], dict[str, Any]]] = Field(
        default=None, description="The content of the message"
    )
    reasoning_content: Optional[str] = Field(
        default=None, description="The model's reasoning, when the provider returns it"
    )
    tool_call_id: Optional[str] = Field(
        default=None, description="The tool call this message answers (role `tool`)"
    )
    tool_calls: Optional[list[ToolCall]] = Field(
        default=None, description="The tool calls the assistant makes"
    )
    name: Optional[str] = Field(default=None, description="The author's name")
    refusal: Optional[str] = Field(
        default=None, description="Why the model declined to answer, if it did"
    )
    thinking_blocks: Optional[list[dict[str, Any]]] = Field(
        default=None, description="Provider-native thinking blocks, kept verbatim"
    )
    audio: Optional[dict[str, Any]] = Field(
        default=None, description="An audio answer, when audio output is used"
    )


class ChatMessages(DataModel):
    """A conversation: a list of ``ChatMessage`` (plain dicts are accepted)."""

    messages: list[ChatMessage] = Field(default=[], description="The chat messages")


def _schema_of(x: Any) -> dict:
    return x.get_schema() if hasattr(x, "get_schema") else {}


def is_chat_message(x: Any) -> bool:
    """Whether ``x``'s schema contains ``ChatMessage``'s fields."""
    return contains_schema(_schema_of(x), ChatMessage._shared_schema())


def is_chat_messages(x: Any) -> bool:
    """Whether ``x``'s schema contains ``ChatMessages``' fields."""
    return contains_schema(_schema_of(x), ChatMessages._shared_schema())


def is_tool_call(x: Any) -> bool:
    """Whether ``x``'s schema contains ``ToolCall``'s fields."""
    return contains_schema(_schema_of(x), ToolCall._shared_schema())
