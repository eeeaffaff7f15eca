"""Bodies of the simulated LM's successful answers: chat completions (whole or streamed as
server-sent events) and deterministic bag-of-words embeddings.

Pure functions of the request; the statistics are kept by ``simulation.py``.

Example::

    response = chat_completion(request, {"answer": "Paris"})   # a WireResponse, status 200
"""

from __future__ import annotations

import array
import base64
import hashlib
import math
import re
import time
from functools import lru_cache
from typing import Any

from synaprefect.testing.wire import (
    SIMULATED_MODEL,
    SimulatedRequest,
    ToolCalls,
    WireResponse,
    approx_tokens,
    dumps,
    message_text,
)

__all__ = ["chat_completion", "embeddings", "malformed_answer"]

_WORD_RE = re.compile(r"\w+")
# The truncated JSON a ``malformed`` fault sends as the message content.
_TRUNCATED_JSON = '{"answer": '


def chat_completion(request: SimulatedRequest, answer: Any, cached_tokens: int = 0) -> WireResponse:
    """The chat completion carrying ``answer`` (a string as is, ``ToolCalls`` as the tool
    calls it lists, anything else as JSON), as a forced tool call when the request named
    one, streamed when it asked for a stream; ``cached_tokens`` of its prompt are reported
    as read from the provider's prompt cache."""
    created = int(time.time())
    completion_id = f"chatcmpl-sim-{request.index}"
    # Tool-call ids derive from the prompt, like the answer: the same request, the same ids.
    # OpenAI finishes forced (named) tool calls with "stop" too; litellm normalises it.
    finish_reason = "stop"
    if isinstance(answer, ToolCalls):  # the model chose tools: "tool_calls", as OpenAI
        finish_reason = "tool_calls"
        arguments_text = [dumps(arguments).decode() for _, arguments in answer.calls]
        calls = [
            {
                "id": f"call_sim_{request.prompt_key[:12]}_{position}",
                "type": "function",
                "function": {"name": name, "arguments": text},
            }
            for position, ((name, _), text) in enumerate(zip(answer.calls, arguments_text))
        ]
        message: dict[str, Any] = {
            "role": "assistant",
            "content": answer.content,
            "tool_calls": calls,
        }
        text = answer.content or "".join(arguments_text)
    elif request.tool_name is not None:
        text = answer if isinstance(answer, str) else dumps(answer).decode()
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": f"call_sim_{request.prompt_key[:12]}",
                    "type": "function",
                    "function": {"name": request.tool_name, "arguments": text},
                }
            ],
        }
    else:
        text = answer if isinstance(answer, str) else dumps(answer).decode()
        message = {"role": "assistant", "content": text}
    prompt_tokens = approx_tokens(
        sum(len(message_text(m)) for m in request.messages if isinstance(m, dict))
    )
    completion_tokens = approx_tokens(len(text))
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": min(cached_tokens, prompt_tokens)},
    }
    if request.body.get("stream"):
        return _stream(request, completion_id, created, message, finish_reason, usage)
    payload = {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": request.model or SIMULATED_MODEL,
        "choices": [
            {"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}
        ],
        "usage": usage,
    }
    return WireResponse(200, dumps(payload))


def malformed_answer(request: SimulatedRequest) -> WireResponse:
    """A chat completion whose content is truncated JSON (the ``malformed`` fault)."""
    return chat_completion(request, _TRUNCATED_JSON)


def _stream(
    request: SimulatedRequest,
    completion_id: str,
    created: int,
    message: dict[str, Any],
    finish_reason: str,
    usage: dict[str, Any],
) -> WireResponse:
    """Whole answer as a short server-sent-event stream (one content chunk)."""
    base = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": request.model,
    }
    delta = {key: value for key, value in message.items() if value is not None}
    if "tool_calls" in delta:
        delta["tool_calls"] = [{"index": i, **call} for i, call in enumerate(delta["tool_calls"])]
    chunks = [
        {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason}]},
    ]
    if (request.body.get("stream_options") or {}).get("include_usage"):
        chunks.append({**base, "choices": [], "usage": usage})
    body = b"".join(b"data: " + dumps(chunk) + b"\n\n" for chunk in chunks) + b"data: [DONE]\n\n"
    return WireResponse(200, body, content_type="text/event-stream")


@lru_cache(maxsize=65536)
def _token_slot(token: str, dim: int) -> tuple[int, float]:
    # blake2b rather than hash(): vectors must not change with PYTHONHASHSEED.
    value = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little")
    return value % dim, (1.0 if value >> 63 else -1.0)


def _embed(text: str, dim: int) -> list[float]:
    vector = [0.0] * dim
    for token in _WORD_RE.findall(text.lower()):
        bucket, sign = _token_slot(token, dim)
        vector[bucket] += sign
    norm = math.sqrt(sum(value * value for value in vector))
    if norm == 0.0:  # empty text (or tokens that cancel out) → fixed unit vector
        return [1.0 / math.sqrt(dim)] * dim
    return [value / norm for value in vector]


def _embedding_inputs(raw: Any) -> list[str]:
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(item, int) for item in raw):
        return [" ".join(map(str, raw))]  # a single pre-tokenised input
    if isinstance(raw, list):
        return [item if isinstance(item, str) else " ".join(map(str, item)) for item in raw]
    raise ValueError("'input' must be a string or a list of strings")


def embeddings(
    request: SimulatedRequest, default_dim: int, malformed: bool = False
) -> tuple[WireResponse, int]:
    """The embeddings answer and how many inputs it embedded; ``ValueError`` or
    ``TypeError`` when ``input`` or ``dimensions`` is not usable. ``malformed``: a
    well-formed, billed answer that lacks the last vector (the ``malformed`` fault)."""
    texts = _embedding_inputs(request.body.get("input"))
    dim = int(request.body.get("dimensions") or default_dim)
    as_base64 = request.body.get("encoding_format") == "base64"  # the openai SDK's default
    data = []
    for position, text in enumerate(texts):
        vector: Any = _embed(text, dim)
        if as_base64:
            vector = base64.b64encode(array.array("f", vector).tobytes()).decode()
        data.append({"object": "embedding", "index": position, "embedding": vector})
    tokens = approx_tokens(sum(len(text) for text in texts))
    payload = {
        "object": "list",
        "data": data[:-1] if malformed else data,
        "model": request.model or SIMULATED_MODEL,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return WireResponse(200, dumps(payload)), len(texts) - malformed
