"""``LanguageModel``: chat completions with structured output through litellm."""

from typing import Any

from synaprefect.data_models.chat import ChatMessage
from synaprefect.data_models.json_data_model import JsonDataModel
from synaprefect.language_models import http_transport
from synaprefect.language_models.base import ModelBase, litellm_module, usage_figures
from synaprefect.language_models.errors import InvalidOutputError, TransientLanguageModelError
from synaprefect.language_models.phases import current_phase
from synaprefect.language_models.structured_output import parse_answer, request_options
from synaprefect.language_models.tool_calls import assistant_message, wire_messages, wire_tools

__all__ = ["LanguageModel", "CHAT_MESSAGE_SCHEMA"]

CHAT_MESSAGE_SCHEMA = {
    "additionalProperties": False,
    "properties": {"role": {"type": "string"}, "content": {"type": "string"}},
    "required": ["role", "content"],
    "title": "ChatMessage",
    "type": "object",
}


class LanguageModel(ModelBase):
    """A chat model reached through litellm, answering JSON that follows a schema.

    Transient failures (rate limits honouring ``Retry-After``, 5xx, timeouts, connection
    errors, answers that are not valid JSON for the schema) are retried with exponential
    backoff and jitter, ``retry`` attempts in all; then a ``TransientLanguageModelError``
    is raised. Authentication, permission, unknown-model and bad-request errors raise a
    ``PermanentLanguageModelError`` at once. Every outcome is counted per phase.

    ``transport="http"`` (the default) sends ``openai/...`` and ``hosted_vllm/...`` calls
    straight to their OpenAI-compatible endpoint where that sends the same request as
    litellm (see ``http_transport``), every other call through litellm;
    ``transport="litellm"`` sends every call through litellm (for its callbacks); ``None``
    reads ``$SYNAPREFECT_LM_TRANSPORT`` (default ``"http"``).

    ``max_concurrency`` caps this process's requests in flight. ``rate_limit`` names a
    Prefect rate limit (a global concurrency limit with slot decay, created with
    ``prefect gcl create NAME --limit N --slot-decay-per-second R``) that every request
    takes a slot of, so that all flows and workers using the name share the provider's
    rate. Answers replayed from a run's journal or the cache take no slot.

    Example:
    ```python
    lm = synaprefect.LanguageModel("openai/gpt-4o-mini", max_concurrency=16)
    answer = await lm([{"role": "user", "content": "Capital of France?"}],
                      schema=Answer.get_schema())
    ```
    """

    _kind = "language_model"

    def __init__(
        self,
        model: str,
        api_base: str | None = None,
        timeout: float = 120.0,
        retry: int = 5,
        fallback: "LanguageModel | str | None" = None,
        caching: bool = False,
        cache_dir: str | None = None,
        max_concurrency: int | None = None,
        retry_backoff: float = 1.0,
        retry_max_wait: float = 60.0,
        name: str | None = None,
        transport: str | None = None,
        rate_limit: str | None = None,
        **default_kwargs,
    ):
        super().__init__(
            model,
            api_base,
            timeout,
            retry,
            retry_backoff,
            retry_max_wait,
            caching,
            cache_dir,
            max_concurrency,
            name,
            default_kwargs,
            rate_limit,
        )
        if transport not in (None, *http_transport.TRANSPORTS):
            raise ValueError(
                f"`transport` must be one of {http_transport.TRANSPORTS} or "
                f"None, got {transport!r}."
            )
        self.transport = transport
        self.fallback = get(fallback) if fallback is not None else None

    async def __call__(
        self,
        messages: list[dict] | Any,
        schema: dict | None = None,
        tools: Any = None,
        tool_schemas: list[dict] | None = None,
        **kwargs,
    ) -> JsonDataModel | None:
        """Send ``messages``; returns the validated JSON answer, or the assistant message
        when no schema is given. ``tools`` (``Tool`` objects) and ``tool_schemas`` (wire
        declarations) let the model call tools instead: the message then carries its
        ``tool_calls`` (arguments parsed), one or several."""
        if hasattr(messages, "get_json"):
            messages = messages.get_json().get("messages", [])
        if not messages:
            return None
        declared = wire_tools(tools) + wire_tools(tool_schemas)
        if schema and declared:
            raise ValueError(
                "`schema` and `tools` cannot be sent in one call: a schema forces the answer's "
                "structure, tools let the model choose. Ask for the tool calls first, then "
                "for the structured answer (as FunctionCallingAgent does)."
            )
        options = {**kwargs, "tools": declared} if declared else kwargs
        try:
            value = await self._complete(wire_messages(list(messages)), schema, options)
        except TransientLanguageModelError:
            if self.fallback is None:
                raise
            self._caller.usage.add(current_phase(), fallback_activations=1)
            return await self.fallback(
                messages, schema=schema, tools=tools, tool_schemas=tool_schemas, **kwargs
            )
        if schema is None and "tool_calls" in value:
            return JsonDataModel(json=value, schema=ChatMessage.get_schema())
        return JsonDataModel(json=value, schema=schema or CHAT_MESSAGE_SCHEMA)

    async def _complete(self, messages: list[dict], schema: dict | None, kwargs: dict) -> dict:
        options = request_options(self.model, schema) if schema else {}
        if "tools" in kwargs:  # litellm loads its MCP client for any `tools`; ours are not MCP
            options["_skip_mcp_handler"] = True
        # What litellm.acompletion receives; the http transport sends what litellm would.
        call_kwargs = self._call_kwargs({**kwargs, **options, "messages": messages})
        body = None
        if (self.transport or http_transport.default_transport()) == "http":
            body = http_transport.request_body(call_kwargs)
        if body is not None:
            attempt = self._http_attempt(call_kwargs, body, schema)
        else:
            attempt = self._litellm_attempt(call_kwargs, schema)
        # Another endpoint is another model: api_base is part of the cache/journal key.
        material = {
            "model": self.model,
            "api_base": self.api_base,
            "messages": messages,
            "schema": schema,
            "kwargs": {**self.default_kwargs, **kwargs},
        }
        return await self._cached(material, attempt)

    def _answer(self, message: Any, schema: dict | None, figures: dict) -> dict:
        try:
            if schema is not None:
                return parse_answer(self.model, message, schema)
            answer = assistant_message(self.model, message)  # tool calls' arguments parsed
        except InvalidOutputError as error:
            error.usage = figures  # a broken answer is paid for too
            raise
        if answer["content"] is None and "tool_calls" not in answer:
            answer["content"] = ""
        return answer

    def _litellm_attempt(self, call_kwargs: dict, schema: dict | None):
        litellm = litellm_module()  # imported before timing starts

        async def attempt():
            response = await litellm.acompletion(**call_kwargs)
            figures = usage_figures(response)
            return self._answer(response.choices[0].message, schema, figures), figures

        return attempt

    def _http_attempt(self, call_kwargs: dict, body: dict, schema: dict | None):
        async def attempt():
            answer = await http_transport.chat_completion(call_kwargs, body)
            usage = answer.get("usage") or {}
            figures = {
                key: usage.get(key) or 0
                for key in ("prompt_tokens", "completion_tokens", "total_tokens")
            }
            figures["cost"] = http_transport.cost(self.model, usage) if usage else 0.0
            return self._answer(http_transport.message_of(answer), schema, figures), figures

        return attempt

    def get_config(self) -> dict:
        """The settings that recreate this model; never includes API keys."""
        config = self._base_config()
        if self.transport is not None:
            config["transport"] = self.transport
        if self.fallback is not None:
            config["fallback"] = self.fallback.get_config()
        return config


def get(identifier: Any) -> LanguageModel:
    """A ``LanguageModel`` from a model string, a config dict or an instance."""
    if isinstance(identifier, LanguageModel):
        return identifier
    if isinstance(identifier, str):
        return LanguageModel(identifier)
    if isinstance(identifier, dict):
        return LanguageModel.from_config(identifier)
    raise ValueError(
        f"Expected a LanguageModel, a model string or a config dict, got {identifier!r}."
    )
