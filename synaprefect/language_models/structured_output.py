"""How each provider is asked for JSON that follows a schema, and how the answer is read."""

import copy
import json
from typing import Any

from synaprefect.data_models.validation import schema_errors
from synaprefect.language_models.errors import InvalidOutputError

__all__ = ["provider_of", "request_options", "parse_answer"]

TOOL_NAME = "structured_output"
# Providers that follow a schema reliably only through a forced tool call.
_TOOL_PROVIDERS = {"groq", "cohere", "cohere_chat", "openrouter", "bedrock"}
# Providers whose strict JSON-schema mode needs every key required and no defaults.
_STRICT_PROVIDERS = {
    "openai",
    "azure",
    "deepseek",
    "together_ai",
    "hosted_vllm",
    "gemini",
    "xai",
    "mistral",
    "ollama",
    "ollama_chat",
}


def provider_of(model: str) -> str:
    return model.split("/", 1)[0] if "/" in model else "openai"


def _strict(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {k: _strict(v) for k, v in schema.items() if k != "default"}
    if "$ref" in result:  # strict mode refuses siblings next to a reference
        return {"$ref": result["$ref"]}
    if result.get("type") == "object" and "properties" in result:
        result["required"] = list(result["properties"])
        result["additionalProperties"] = False
    return result


def request_options(model: str, schema: dict) -> dict:
    """The ``litellm.acompletion`` keyword arguments that constrain the output."""
    provider = provider_of(model)
    if provider in _TOOL_PROVIDERS:
        return {
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": TOOL_NAME,
                        "description": "Answer with this structure.",
                        "parameters": copy.deepcopy(schema),
                    },
                }
            ],
            "tool_choice": {"type": "function", "function": {"name": TOOL_NAME}},
            # litellm (pinned 1.106.2) loads its MCP client for any `tools`; ours are plain
            # functions, so skip it rather than depend on the mcp package.
            "_skip_mcp_handler": True,
        }
    strict = provider in _STRICT_PROVIDERS
    return {
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": TOOL_NAME,
                "schema": _strict(schema) if strict else schema,
                "strict": True,
            },
        }
    }


def _answer_text(message: Any) -> str | None:
    tool_calls = getattr(message, "tool_calls", None) or []
    for call in tool_calls:
        function = getattr(call, "function", None)
        if function is not None and getattr(function, "arguments", None):
            return function.arguments
    return getattr(message, "content", None)


def parse_answer(model: str, message: Any, schema: dict) -> dict:
    """The validated JSON answer, or ``InvalidOutputError`` (which is retried)."""
    text = _answer_text(message)
    if not text:
        refusal = getattr(message, "refusal", None)
        raise InvalidOutputError(
            model, f"empty answer{f' (refusal: {refusal})' if refusal else ''}"
        )
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidOutputError(
            model, f"answer is not valid JSON ({error.msg}): {text[:120]!r}"
        ) from None
    if not isinstance(value, dict):
        raise InvalidOutputError(model, f"answer is not a JSON object: {text[:120]!r}")
    problems = schema_errors(value, schema)
    if problems:
        raise InvalidOutputError(model, f"answer does not follow the schema: {'; '.join(problems)}")
    return value
