"""The simulated LM's wire format: OpenAI paths, JSON codec, parsed requests, error bodies.

Shared by the simulation (``simulation.py``), the fault model (``faults.py``) and the
aiohttp front end (``app.py``); it imports none of them.

Example::

    request = SimulatedRequest(0, CHAT_PATH, "simulated", messages, None, None, body, {})
    request.user_prompt, request.prompt_key
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from types import ModuleType
from typing import Any

_orjson: ModuleType | None
try:  # orjson is usually present (Prefect depends on it) and is several times faster.
    _orjson = importlib.import_module("orjson")
except ImportError:  # pragma: no cover - exercised only without orjson
    _orjson = None

__all__ = [
    "CHAT_PATH",
    "EMBEDDINGS_PATH",
    "MODELS_PATH",
    "ROUTES",
    "SIMULATED_MODEL",
    "SimulatedRequest",
    "ToolCalls",
    "WireResponse",
    "approx_tokens",
    "compute_prompt_key",
    "dumps",
    "error_response",
    "loads",
    "message_text",
    "request_shape",
]

SIMULATED_MODEL = "simulated"
CHAT_PATH = "/v1/chat/completions"
EMBEDDINGS_PATH = "/v1/embeddings"
MODELS_PATH = "/v1/models"
# The API paths and the one method each accepts.
ROUTES = {CHAT_PATH: "POST", EMBEDDINGS_PATH: "POST", MODELS_PATH: "GET"}


def dumps(value: Any) -> bytes:
    """Compact JSON bytes (orjson when installed)."""
    if _orjson is not None:
        return _orjson.dumps(value, option=_orjson.OPT_NON_STR_KEYS)
    return json.dumps(value, separators=(",", ":")).encode()


def loads(data: bytes | str) -> Any:
    """Parse JSON (orjson when installed); raises ``ValueError`` on bad input."""
    if _orjson is not None:
        return _orjson.loads(data)
    return json.loads(data)


def compute_prompt_key(messages: list[dict[str, Any]], schema: dict[str, Any] | None = None) -> str:
    """Return the stable key the server uses to identify a prompt (messages + schema).

    It is the sha256 hex digest of canonical JSON (sorted keys, stdlib encoder so that the
    key does not depend on whether orjson is installed).

    >>> compute_prompt_key([{"role": "user", "content": "hi"}]) == compute_prompt_key(
    ...     [{"content": "hi", "role": "user"}])
    True
    """
    canonical = json.dumps([messages, schema], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def message_text(message: Mapping[str, Any]) -> str:
    """The text of a chat message (the text parts of multi-part content; "" when none)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


@dataclass
class SimulatedRequest:
    """One API request as seen by a responder or a fault plan.

    Example responder that answers differently depending on the prompt::

        def responder(request: SimulatedRequest):
            if "refuse" in request.user_prompt:
                return Fault("server_error")
            return {"answer": request.user_prompt.upper()}
    """

    index: int
    path: str
    model: str
    messages: list[dict[str, Any]]
    schema: dict[str, Any] | None
    tool_name: str | None
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def system_prompt(self) -> str:
        """Text of the first system message ("" when there is none)."""
        for message in self.messages:
            if message.get("role") == "system":
                return message_text(message)
        return ""

    @property
    def user_prompt(self) -> str:
        """Text of the last user message ("" when there is none)."""
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return message_text(message)
        return ""

    @property
    def offered_tools(self) -> list[str]:
        """Names of the tools the request lets the model call (forced or not)."""
        names = [
            (tool.get("function") or {}).get("name")
            for tool in self.body.get("tools") or []
            if isinstance(tool, dict)
        ]
        return [name for name in names if isinstance(name, str)]

    @property
    def tool_turns(self) -> int:
        """How many assistant messages with tool calls the conversation already holds."""
        return sum(1 for m in self.messages if m.get("role") == "assistant" and m.get("tool_calls"))

    @cached_property
    def prompt_key(self) -> str:
        """Stable sha256 hex key of messages + schema (see :func:`compute_prompt_key`)."""
        return compute_prompt_key(self.messages, self.schema)


def request_shape(body: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """Return ``(schema, forced_tool_name)`` requested by a chat-completion body."""
    tool_name = None
    choice = body.get("tool_choice")
    tools = body.get("tools") or []
    if isinstance(choice, dict):
        tool_name = (choice.get("function") or {}).get("name")
    elif choice == "required" and len(tools) == 1:
        tool_name = (tools[0].get("function") or {}).get("name")
    if tool_name:
        for tool in tools:
            function = tool.get("function") or {}
            if function.get("name") == tool_name:
                return function.get("parameters") or {"type": "object", "properties": {}}, tool_name
        return {"type": "object", "properties": {}}, tool_name
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        return (response_format.get("json_schema") or {}).get("schema"), None
    return None, None


@dataclass
class ToolCalls:
    """A responder's answer that calls tools: ``calls`` are ``(name, arguments)`` pairs,
    sent as one assistant message with several tool calls (ids ``call_sim_<prompt>_<i>``,
    derived from the prompt key).

    Example::

        def responder(request):
            if request.offered_tools and not request.tool_turns:
                return ToolCalls([("add", {"a": 1, "b": 2}), ("mul", {"a": 3, "b": 4})])
            return {"answer": "done"}
    """

    calls: list[tuple[str, dict[str, Any]]]
    content: str | None = None


@dataclass
class WireResponse:
    """An answer as the HTTP front end sends it."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json"


def error_response(
    status: int,
    message: str,
    error_type: str,
    code: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
) -> WireResponse:
    """An OpenAI-style error answer."""
    payload = {"error": {"message": message, "type": error_type, "param": None, "code": code}}
    return WireResponse(status, dumps(payload), tuple(headers))


def approx_tokens(chars: int) -> int:
    """Token count of ``chars`` characters, at about four characters a token (at least 1)."""
    return max(1, (chars + 3) // 4)
