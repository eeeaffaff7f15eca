"""Offline, OpenAI-compatible simulated language-model server.

``SimulatedLM`` is a real HTTP/1.1 server on the loopback interface that litellm (or any
OpenAI client) talks to like a hosted provider. It answers chat completions with
schema-valid JSON, serves deterministic embeddings, injects faults on a schedule and keeps
cheap statistics, so programs can be tested and benchmarked without network access.

The server is a small ``asyncio.Protocol`` implementation (keep-alive, Content-Length and
chunked request bodies) rather than a web framework: it has to absorb hundreds of concurrent
requests without becoming the bottleneck of the code under test.

Run it standalone with::

    python -m synaprefect.testing.server --port 8000 --latency 0.05 --fault-every 3
"""

from __future__ import annotations

import argparse
import array
import asyncio
import base64
import concurrent.futures
import hashlib
import http
import http.client
import inspect
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from synaprefect.testing.responders import schema_responder
from synaprefect.utils.imports import import_object

try:  # orjson is usually present (Prefect depends on it) and is several times faster.
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised only without orjson
    _orjson = None

__all__ = [
    "FAULT_KINDS",
    "Fault",
    "FaultPlan",
    "Responder",
    "ServerStats",
    "SimulatedLM",
    "SimulatedRequest",
    "compute_prompt_key",
    "main",
]

SIMULATED_MODEL = "simulated"
CHAT_PATH = "/v1/chat/completions"
EMBEDDINGS_PATH = "/v1/embeddings"
MODELS_PATH = "/v1/models"
_ROUTES = {CHAT_PATH: "POST", EMBEDDINGS_PATH: "POST", MODELS_PATH: "GET"}

FAULT_KINDS = ("rate_limit", "server_error", "timeout", "malformed", "unauthorized", "not_found")
_FAULT_ALIASES = {
    "429": "rate_limit",
    "500": "server_error",
    "401": "unauthorized",
    "404": "not_found",
    "hang": "timeout",
}

_MAX_HEADER_BYTES = 64 * 1024
_MAX_BODY_BYTES = 64 * 1024 * 1024
_WORD_RE = re.compile(r"\w+")


def _dumps(value: Any) -> bytes:
    if _orjson is not None:
        return _orjson.dumps(value, option=_orjson.OPT_NON_STR_KEYS)
    return json.dumps(value, separators=(",", ":")).encode()


def _loads(data: bytes | str) -> Any:
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


def _message_text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # multi-part content: keep the text parts only
        return "".join(
            part.get("text", "") for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


# --------------------------------------------------------------------------- requests


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
                return _message_text(message)
        return ""

    @property
    def user_prompt(self) -> str:
        """Text of the last user message ("" when there is none)."""
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return _message_text(message)
        return ""

    @cached_property
    def prompt_key(self) -> str:
        """Stable sha256 hex key of messages + schema (see :func:`compute_prompt_key`)."""
        return compute_prompt_key(self.messages, self.schema)


def _request_shape(body: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
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


# --------------------------------------------------------------------------- faults


def _fault_kind(name: str) -> str:
    kind = _FAULT_ALIASES.get(str(name).strip().lower(), str(name).strip().lower())
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {name!r}; expected one of {FAULT_KINDS} or an HTTP status alias")
    return kind


@dataclass(frozen=True)
class Fault:
    """A failure the server injects instead of a normal answer.

    ``kind`` is one of :data:`FAULT_KINDS`; the aliases ``"429"``, ``"500"``, ``"401"``,
    ``"404"`` and ``"hang"`` are accepted and normalised.

    - ``rate_limit``: HTTP 429 with a ``Retry-After: <retry_after>`` header.
    - ``server_error``: HTTP 500 with an OpenAI-style error body.
    - ``timeout``: no answer for ``hang_seconds`` (or until the client disconnects), then 504.
    - ``malformed``: HTTP 200 whose message content is truncated JSON.
    - ``unauthorized``: HTTP 401 ``invalid_api_key``.
    - ``not_found``: HTTP 404 ``model_not_found``.

    Example (a responder that fails on one prompt)::

        lambda request: Fault("429", retry_after=1) if "busy" in request.user_prompt else {"ok": True}
    """

    kind: str
    retry_after: float = 0.0
    hang_seconds: float = 30.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _fault_kind(self.kind))


# A plain callable fault plan: return the fault to inject for this request, or None.
FaultHook = Callable[[SimulatedRequest], Fault | None]


@dataclass
class FaultPlan:
    """Deterministic schedule of faults.

    Requests on ``only_paths`` are numbered per plan from 1; after the first ``start`` of
    them, every ``every``-th one fails (``(n - start) % every == 0``), cycling through
    ``kinds`` in order. ``every=0`` disables the periodic rule. :meth:`at` instead fails
    explicit ``SimulatedRequest.index`` values. ``SimulatedLM.reset_stats()`` rewinds the
    schedule.

    Example::

        FaultPlan(every=3, kinds=("429", "timeout"), hang_seconds=5)   # requests 3, 6, 9, ...
        FaultPlan.at({0: "rate_limit", 2: "malformed"})                 # first and third requests
    """

    every: int = 3
    kinds: tuple[str, ...] = ("rate_limit", "server_error", "timeout", "malformed")
    start: int = 0
    retry_after: float = 0.0
    hang_seconds: float = 30.0
    only_paths: tuple[str, ...] = (CHAT_PATH,)
    explicit: dict[int, str] = field(default_factory=dict)
    _seen: int = field(default=0, init=False, repr=False, compare=False)
    _fired: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.kinds = tuple(_fault_kind(kind) for kind in self.kinds)
        self.only_paths = tuple(self.only_paths)
        self.explicit = {int(index): _fault_kind(kind) for index, kind in self.explicit.items()}
        if self.every < 0 or (self.every and not self.kinds):
            raise ValueError("FaultPlan needs every >= 0 and at least one kind when every > 0")

    @classmethod
    def at(cls, faults: Mapping[int, str], **options: Any) -> FaultPlan:
        """Plan failing exactly the requests whose ``index`` is a key of ``faults``."""
        return cls(every=0, kinds=(), explicit=dict(faults), **options)

    def pick(self, request: SimulatedRequest) -> Fault | None:
        """Return the fault for ``request`` (advancing the schedule) or ``None``."""
        if request.path not in self.only_paths:
            return None
        self._seen += 1
        kind = self.explicit.get(request.index)
        if kind is None and self.every and self._seen > self.start and (self._seen - self.start) % self.every == 0:
            kind = self.kinds[self._fired % len(self.kinds)]
            self._fired += 1
        if kind is None:
            return None
        return Fault(kind, retry_after=self.retry_after, hang_seconds=self.hang_seconds)

    def rewind(self) -> None:
        """Restart the schedule from the first request."""
        self._seen = 0
        self._fired = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (inverse of :meth:`from_dict`)."""
        return {
            "every": self.every,
            "kinds": list(self.kinds),
            "start": self.start,
            "retry_after": self.retry_after,
            "hang_seconds": self.hang_seconds,
            "only_paths": list(self.only_paths),
            "explicit": {str(index): kind for index, kind in self.explicit.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaultPlan:
        """Build a plan from :meth:`to_dict` output."""
        options = dict(data)
        for key in ("kinds", "only_paths"):
            if key in options:
                options[key] = tuple(options[key])
        return cls(**options)


# --------------------------------------------------------------------------- stats


@dataclass
class ServerStats:
    """Snapshot of what the server has seen since start or the last ``reset_stats()``.

    Example::

        stats = lm.stats()
        assert stats.by_status.get("200") == stats.completed
        assert len(set(stats.completed_prompt_keys)) == len(stats.completed_prompt_keys)  # no re-issued call
    """

    requests: int = 0
    completed: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_fault: dict[str, int] = field(default_factory=dict)
    unique_prompts: int = 0
    completed_prompt_keys: list[str] = field(default_factory=list)
    max_in_flight: int = 0
    in_flight: int = 0
    embeddings: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable copy."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServerStats:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)


# --------------------------------------------------------------------------- answers

# (request) -> dict | list | str | Fault, or an awaitable of one (async responders).
Responder = Callable[[SimulatedRequest], Any]


@dataclass
class _Response:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json"


def _error(
    status: int, message: str, error_type: str, code: str | None = None, headers: Iterable[tuple[str, str]] = ()
) -> _Response:
    payload = {"error": {"message": message, "type": error_type, "param": None, "code": code}}
    return _Response(status, _dumps(payload), tuple(headers))


def _format_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


def _approx_tokens(chars: int) -> int:
    return max(1, (chars + 3) // 4)


def _resolve_responder(responder: Responder | str | None) -> Responder:
    if responder is None:
        return schema_responder
    if isinstance(responder, str):
        responder = import_object(responder)
    if not callable(responder):
        raise TypeError(f"responder must be callable, got {responder!r}")
    return responder


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


# --------------------------------------------------------------------------- core


class _SimCore:
    """Server state and request handling; touched only from the serving event loop."""

    def __init__(
        self,
        *,
        responder: Responder | str | None = None,
        latency: float = 0.0,
        latency_jitter: float = 0.0,
        faults: FaultPlan | FaultHook | None = None,
        api_key: str | None = None,
        models: list[str] | None = None,
        embedding_dim: int = 64,
    ) -> None:
        self.responder = _resolve_responder(responder)
        self.latency = latency
        self.latency_jitter = latency_jitter
        self.faults = faults
        self.api_key = api_key
        self.models = list(models) if models else None
        self.embedding_dim = embedding_dim
        self.connections: set[_HTTPProtocol] = set()
        self._rng = random.Random(0)
        self._in_flight = 0
        self.reset()

    # ---- control (shared by thread mode and the /_sim endpoints of process mode)

    def reset(self) -> None:
        self._next_index = 0
        self._requests = 0
        self._completed = 0
        self._by_status: Counter[str] = Counter()
        self._by_fault: Counter[str] = Counter()
        self._prompt_keys: set[str] = set()
        self._completed_keys: list[str] = []
        self._max_in_flight = self._in_flight  # requests still running stay counted
        self._embeddings = 0
        if isinstance(self.faults, FaultPlan):
            self.faults.rewind()

    def stats(self) -> ServerStats:
        return ServerStats(
            requests=self._requests,
            completed=self._completed,
            by_status=dict(self._by_status),
            by_fault=dict(self._by_fault),
            unique_prompts=len(self._prompt_keys),
            completed_prompt_keys=list(self._completed_keys),
            max_in_flight=self._max_in_flight,
            in_flight=self._in_flight,
            embeddings=self._embeddings,
        )

    def configure(self, **changes: Any) -> None:
        """Apply settings; ``faults`` and ``responder`` accept objects or their JSON forms."""
        unknown = set(changes) - {"latency", "latency_jitter", "faults", "responder", "api_key", "models"}
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}")
        if "responder" in changes:
            self.responder = _resolve_responder(changes["responder"])
        if "faults" in changes:
            faults = changes["faults"]
            if isinstance(faults, Mapping):
                faults = FaultPlan.from_dict(faults)
            if faults is not None and not callable(faults) and not isinstance(faults, FaultPlan):
                raise TypeError(f"faults must be a FaultPlan, a callable or None, got {faults!r}")
            self.faults = faults
        for key in ("latency", "latency_jitter"):
            if key in changes:
                setattr(self, key, float(changes[key]))
        if "api_key" in changes:
            self.api_key = changes["api_key"]
        if "models" in changes:
            self.models = list(changes["models"]) if changes["models"] else None

    def _control(self, method: str, path: str, body: bytes) -> _Response:
        try:
            if path == "/_sim/stats" and method == "GET":
                return _Response(200, _dumps(self.stats().to_dict()))
            if path == "/_sim/reset" and method == "POST":
                self.reset()
                return _Response(200, b'{"ok":true}')
            if path == "/_sim/config" and method == "POST":
                self.configure(**(_loads(body) if body else {}))
                return _Response(200, b'{"ok":true}')
        except (ValueError, TypeError, ImportError, AttributeError) as exc:
            return _error(400, f"invalid control request: {exc}", "invalid_request_error")
        return _error(404, f"unknown control endpoint {method} {path}", "invalid_request_error")

    async def shutdown(self) -> None:
        tasks = [conn.task for conn in self.connections if conn.task is not None]
        for conn in list(self.connections):
            conn.abort()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # ---- API

    async def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> _Response:
        path = target.split("?", 1)[0]
        if path.startswith("/v1/_sim/"):
            path = path[3:]  # control endpoints also answer below the base URL
        if path.startswith("/_sim/"):
            return self._control(method, path, body)
        if not path.startswith("/v1/"):
            path = "/v1" + path  # tolerate clients configured with a base URL lacking /v1
        index = self._next_index
        self._next_index += 1
        self._requests += 1
        self._in_flight += 1
        if self._in_flight > self._max_in_flight:
            self._max_in_flight = self._in_flight
        try:
            response = await self._handle_api(method, path, headers, body, index)
        finally:
            self._in_flight -= 1
        self._by_status[str(response.status)] += 1
        if response.status == 200:
            self._completed += 1
        return response

    async def _handle_api(
        self, method: str, path: str, headers: dict[str, str], body: bytes, index: int
    ) -> _Response:
        expected_method = _ROUTES.get(path)
        if expected_method is None:
            return _error(404, f"unknown path {path}", "invalid_request_error", "unknown_url")
        if method != expected_method:
            return _error(405, f"use {expected_method} for {path}", "invalid_request_error")
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return self._fault_response(Fault("unauthorized"), None)
        if path == MODELS_PATH:
            names = [SIMULATED_MODEL, *(self.models or [])]
            data = [{"id": name, "object": "model", "created": 0, "owned_by": "synaprefect"} for name in names]
            return _Response(200, _dumps({"object": "list", "data": data}))
        try:
            payload = _loads(body)
            if not isinstance(payload, dict):
                raise ValueError("the JSON body must be an object")
            model = str(payload.get("model", ""))
            messages, schema, tool_name = [], None, None
            if path == CHAT_PATH:
                messages = payload.get("messages") or []
                if not isinstance(messages, list):
                    raise ValueError("'messages' must be a list")
                schema, tool_name = _request_shape(payload)
        except (ValueError, TypeError, AttributeError) as exc:  # includes JSON decode errors
            return _error(400, f"invalid request body: {exc}", "invalid_request_error")
        request = SimulatedRequest(index, path, model, messages, schema, tool_name, payload, headers)
        if not self._model_known(model):
            return self._fault_response(Fault("not_found"), request)
        if path == CHAT_PATH:
            self._prompt_keys.add(request.prompt_key)
        try:
            fault = self._planned_fault(request)
        except Exception as exc:  # a broken fault hook must show up as a server error
            return _error(500, f"fault plan failed: {type(exc).__name__}: {exc}", "server_error")
        delay = self.latency + (self._rng.uniform(0.0, self.latency_jitter) if self.latency_jitter else 0.0)
        if delay > 0:
            await asyncio.sleep(delay)
        if fault is not None:
            return await self._inject(fault, request)
        if path == EMBEDDINGS_PATH:
            return self._embeddings_response(request)
        try:
            answer = self.responder(request)
            if inspect.isawaitable(answer):
                answer = await answer
        except Exception as exc:  # a broken responder must show up as a server error, not kill the server
            return _error(500, f"responder failed: {type(exc).__name__}: {exc}", "server_error")
        if isinstance(answer, Fault):
            return await self._inject(answer, request)
        return self._chat_response(request, answer)

    def _model_known(self, model: str) -> bool:
        if self.models is None:
            return True
        names = {SIMULATED_MODEL, *self.models}
        bare = {name.removeprefix("openai/") for name in names}
        return model in names or model.removeprefix("openai/") in bare

    def _planned_fault(self, request: SimulatedRequest) -> Fault | None:
        if self.faults is None:
            return None
        if isinstance(self.faults, FaultPlan):
            return self.faults.pick(request)
        return self.faults(request)

    async def _inject(self, fault: Fault, request: SimulatedRequest) -> _Response:
        self._by_fault[fault.kind] += 1
        if fault.kind == "timeout":
            # Cancelled by the connection when the client gives up or the server stops.
            await asyncio.sleep(fault.hang_seconds)
            return _error(504, "simulated timeout", "timeout", "timeout")
        return self._fault_response(fault, request)

    def _fault_response(self, fault: Fault, request: SimulatedRequest | None) -> _Response:
        kind = fault.kind
        if kind == "rate_limit":
            return _error(
                429,
                "Rate limit reached (simulated).",
                "requests",
                "rate_limit_exceeded",
                headers=(("Retry-After", _format_seconds(fault.retry_after)),),
            )
        if kind == "server_error":
            return _error(500, "The server had an error while processing your request (simulated).", "server_error")
        if kind == "unauthorized":
            return _error(401, "Incorrect API key provided (simulated).", "invalid_request_error", "invalid_api_key")
        if kind == "not_found":
            model = request.model if request is not None else ""
            return _error(
                404, f"The model '{model}' does not exist (simulated).", "invalid_request_error", "model_not_found"
            )
        # malformed: a well-formed envelope whose payload is truncated JSON
        if request is not None and request.path == CHAT_PATH:
            return self._chat_response(request, '{"answer": ', malformed=True)
        return _Response(200, b'{"object": "list", "data": [')

    def _chat_response(self, request: SimulatedRequest, answer: Any, malformed: bool = False) -> _Response:
        text = answer if isinstance(answer, str) else _dumps(answer).decode()
        if not malformed and (request.schema is None or not isinstance(answer, str) or _is_json(answer)):
            self._completed_keys.append(request.prompt_key)
        created = int(time.time())
        completion_id = f"chatcmpl-sim-{request.index}"
        # OpenAI finishes forced (named) tool calls with "stop" too; litellm normalises it.
        finish_reason = "stop"
        if request.tool_name is not None:
            message: dict[str, Any] = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_sim_{request.index}",
                        "type": "function",
                        "function": {"name": request.tool_name, "arguments": text},
                    }
                ],
            }
        else:
            message = {"role": "assistant", "content": text}
        prompt_tokens = _approx_tokens(sum(len(_message_text(m)) for m in request.messages if isinstance(m, dict)))
        completion_tokens = _approx_tokens(len(text))
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        if request.body.get("stream"):
            return _stream_response(request, completion_id, created, message, finish_reason, usage)
        payload = {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": request.model or SIMULATED_MODEL,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}],
            "usage": usage,
        }
        return _Response(200, _dumps(payload))

    def _embeddings_response(self, request: SimulatedRequest) -> _Response:
        try:
            texts = _embedding_inputs(request.body.get("input"))
            dim = int(request.body.get("dimensions") or self.embedding_dim)
        except (ValueError, TypeError) as exc:
            return _error(400, f"invalid embeddings request: {exc}", "invalid_request_error")
        as_base64 = request.body.get("encoding_format") == "base64"  # the openai SDK's default
        data = []
        for position, text in enumerate(texts):
            vector: Any = _embed(text, dim)
            if as_base64:
                vector = base64.b64encode(array.array("f", vector).tobytes()).decode()
            data.append({"object": "embedding", "index": position, "embedding": vector})
        self._embeddings += len(texts)
        tokens = _approx_tokens(sum(len(text) for text in texts))
        payload = {
            "object": "list",
            "data": data,
            "model": request.model or SIMULATED_MODEL,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        return _Response(200, _dumps(payload))


def _is_json(text: str) -> bool:
    try:
        _loads(text)
    except ValueError:
        return False
    return True


def _stream_response(
    request: SimulatedRequest,
    completion_id: str,
    created: int,
    message: dict[str, Any],
    finish_reason: str,
    usage: dict[str, int],
) -> _Response:
    """Whole answer as a short server-sent-event stream (one content chunk)."""
    base = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": request.model}
    delta = {key: value for key, value in message.items() if value is not None}
    if "tool_calls" in delta:
        delta["tool_calls"] = [{"index": 0, **call} for call in delta["tool_calls"]]
    chunks = [
        {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason}]},
    ]
    if (request.body.get("stream_options") or {}).get("include_usage"):
        chunks.append({**base, "choices": [], "usage": usage})
    body = b"".join(b"data: " + _dumps(chunk) + b"\n\n" for chunk in chunks) + b"data: [DONE]\n\n"
    return _Response(200, body, content_type="text/event-stream")


# --------------------------------------------------------------------------- HTTP/1.1


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class _RawRequest:
    method: str
    target: str
    version: str
    headers: dict[str, str]
    body: bytes


def _parse_chunked(buf: bytearray, pos: int) -> tuple[bytes, int] | None:
    chunks: list[bytes] = []
    total = 0
    while True:
        line_end = buf.find(b"\r\n", pos)
        if line_end < 0:
            return None
        try:
            size = int(bytes(buf[pos:line_end]).split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise _BadRequest(400, "invalid chunk size") from None
        pos = line_end + 2
        if size == 0:
            while True:  # optional trailers, terminated by an empty line
                line_end = buf.find(b"\r\n", pos)
                if line_end < 0:
                    return None
                if line_end == pos:
                    return b"".join(chunks), pos + 2
                pos = line_end + 2
        total += size
        if total > _MAX_BODY_BYTES:
            raise _BadRequest(413, "request body too large")
        if len(buf) < pos + size + 2:
            return None
        if buf[pos + size : pos + size + 2] != b"\r\n":
            raise _BadRequest(400, "malformed chunk")
        chunks.append(bytes(buf[pos : pos + size]))
        pos += size + 2


def _parse_request(buf: bytearray) -> tuple[_RawRequest, int] | None:
    """Parse one request from the start of ``buf``; ``None`` if more bytes are needed."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        if len(buf) > _MAX_HEADER_BYTES:
            raise _BadRequest(431, "request headers too large")
        return None
    lines = bytes(buf[:head_end]).decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise _BadRequest(400, "malformed request line")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise _BadRequest(400, "malformed header line")
        headers[name.strip().lower()] = value.strip()
    body_start = head_end + 4
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parsed = _parse_chunked(buf, body_start)
        if parsed is None:
            return None
        body, end = parsed
    else:
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:
            raise _BadRequest(400, "invalid Content-Length") from None
        if length < 0 or length > _MAX_BODY_BYTES:
            raise _BadRequest(413, "request body too large")
        end = body_start + length
        if len(buf) < end:
            return None
        body = bytes(buf[body_start:end])
    return _RawRequest(parts[0], parts[1], parts[2], headers, body), end


def _wants_keep_alive(request: _RawRequest) -> bool:
    connection = request.headers.get("connection", "").lower()
    if request.version == "HTTP/1.0":
        return "keep-alive" in connection
    return "close" not in connection


def _encode_response(response: _Response, keep_alive: bool) -> bytes:
    head = [
        f"HTTP/1.1 {response.status} {http.HTTPStatus(response.status).phrase}",
        f"Content-Type: {response.content_type}",
        f"Content-Length: {len(response.body)}",
        "Connection: keep-alive" if keep_alive else "Connection: close",
    ]
    head.extend(f"{name}: {value}" for name, value in response.headers)
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + response.body


class _HTTPProtocol(asyncio.Protocol):
    """One client connection; requests on it are answered one at a time, in order."""

    def __init__(self, core: _SimCore) -> None:
        self._core = core
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None
        self._sent_continue = False
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._core.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._core.connections.discard(self)
        self._transport = None
        if self.task is not None:
            self.task.cancel()  # stop latency sleeps / hanging faults of a client that left

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if self.task is None:
            self._next_request()

    def _next_request(self) -> None:
        while self._buf[:2] == b"\r\n":  # tolerate stray CRLF between requests (RFC 9112 §2.2)
            del self._buf[:2]
        try:
            parsed = _parse_request(self._buf)
        except _BadRequest as exc:
            self._send(_error(exc.status, str(exc), "invalid_request_error"), keep_alive=False)
            return
        if parsed is None:
            if not self._sent_continue and self._transport is not None:
                head_end = self._buf.find(b"\r\n\r\n")
                if head_end >= 0 and b"100-continue" in bytes(self._buf[:head_end]).lower():
                    self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # e.g. curl with large bodies
                    self._sent_continue = True
            return
        request, end = parsed
        del self._buf[:end]
        self._sent_continue = False
        self.task = asyncio.get_running_loop().create_task(self._answer(request))

    async def _answer(self, request: _RawRequest) -> None:
        keep_alive = _wants_keep_alive(request)
        try:
            response = await self._core.handle(request.method, request.target, request.headers, request.body)
        except asyncio.CancelledError:
            self.task = None
            return
        except Exception as exc:  # a bug must answer 500, not leave the client waiting
            response = _error(500, f"simulated server bug: {type(exc).__name__}: {exc}", "server_error")
            keep_alive = False
        self.task = None
        self._send(response, keep_alive)
        if keep_alive and self._transport is not None and self._buf:
            self._next_request()

    def _send(self, response: _Response, keep_alive: bool) -> None:
        if self._transport is None:
            return
        self._transport.write(_encode_response(response, keep_alive))
        if not keep_alive:
            self._transport.close()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def _serve(
    core: _SimCore, host: str, port: int, started: Callable[[str], None], stop: asyncio.Event
) -> None:
    """Serve ``core`` until ``stop`` is set; ``started`` receives the base URL."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _HTTPProtocol(core), host, port, backlog=4096)
    bound_port = server.sockets[0].getsockname()[1]
    started(f"http://{_url_host(host)}:{bound_port}/v1")
    try:
        await stop.wait()
    finally:
        server.close()
        await core.shutdown()


# --------------------------------------------------------------------------- public server


class SimulatedLM:
    """Offline OpenAI-compatible LM server for tests and benchmarks.

    ``mode="thread"`` serves from a daemon thread with its own event loop (any callable
    responder). ``mode="process"`` runs ``python -m synaprefect.testing.server`` in a
    subprocess so the server does not share the client's GIL; the responder must then be
    an import path ``"package.module:function"`` and faults a :class:`FaultPlan`.

    Example::

        import litellm
        from synaprefect.testing import SimulatedLM, FaultPlan

        with SimulatedLM(latency=0.05, faults=FaultPlan(every=3)) as lm:
            response = await litellm.acompletion(
                model=lm.model, api_base=lm.base_url, api_key=lm.api_key,
                messages=[{"role": "user", "content": "hello"}],
            )
            print(lm.stats().completed)
    """

    model: str = f"openai/{SIMULATED_MODEL}"

    def __init__(
        self,
        *,
        responder: Responder | str | None = None,
        latency: float = 0.0,
        latency_jitter: float = 0.0,
        faults: FaultPlan | FaultHook | None = None,
        api_key: str | None = None,
        models: list[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        mode: str = "thread",
        embedding_dim: int = 64,
    ) -> None:
        if mode not in ("thread", "process"):
            raise ValueError("mode must be 'thread' or 'process'")
        if mode == "process":
            if responder is not None and not isinstance(responder, str):
                raise TypeError("process mode needs the responder as an import path 'package.module:function'")
            if faults is not None and not isinstance(faults, FaultPlan):
                raise TypeError("process mode needs faults as a FaultPlan (callables cannot cross processes)")
        self.mode = mode
        self.host = host
        self.port = port
        self._settings: dict[str, Any] = {
            "responder": responder,
            "latency": latency,
            "latency_jitter": latency_jitter,
            "faults": faults,
            "api_key": api_key,
            "models": models,
            "embedding_dim": embedding_dim,
        }
        self._base_url: str | None = None
        # thread mode
        self._core: _SimCore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        # process mode
        self._process: subprocess.Popen[str] | None = None

    # ---- lifecycle

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/v1``; available once started."""
        if self._base_url is None:
            raise RuntimeError("SimulatedLM is not started; use start() or a with-block")
        return self._base_url

    @property
    def api_key(self) -> str:
        """Key to send: the configured one, or a placeholder clients insist on having."""
        return self._settings["api_key"] or "sk-simulated"

    @property
    def litellm_kwargs(self) -> dict[str, str]:
        """``model``, ``api_base`` and ``api_key`` for ``litellm.acompletion(**lm.litellm_kwargs, ...)``."""
        return {"model": self.model, "api_base": self.base_url, "api_key": self.api_key}

    def start(self) -> SimulatedLM:
        """Start serving (idempotent) and return ``self``."""
        if self._base_url is None:
            if self.mode == "thread":
                self._start_thread()
            else:
                self._start_process()
        return self

    def stop(self) -> None:
        """Stop serving, cancelling requests still in progress (idempotent)."""
        if self._thread is not None:
            assert self._loop is not None and self._stop_event is not None
            if self._thread.is_alive():
                self._loop.call_soon_threadsafe(self._stop_event.set)
                self._thread.join(timeout=10)
            self._thread = None
        if self._process is not None:
            self._stop_process()
        self._base_url = None

    def __enter__(self) -> SimulatedLM:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _start_thread(self) -> None:
        settings = dict(self._settings)
        self._core = _SimCore(**settings)
        loop = asyncio.new_event_loop()
        stop_event = asyncio.Event()
        ready = threading.Event()
        failure: list[BaseException] = []

        def started(url: str) -> None:
            self._base_url = url
            ready.set()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(_serve(self._core, self.host, self.port, started, stop_event))
            except BaseException as exc:  # reported to the starting thread (e.g. port in use)
                failure.append(exc)
                ready.set()
            finally:
                loop.close()

        self._loop, self._stop_event = loop, stop_event
        self._thread = threading.Thread(target=run, name="simulated-lm", daemon=True)
        self._thread.start()
        if not ready.wait(timeout=10) or failure:
            self._thread.join(timeout=1)
            self._thread = None
            raise RuntimeError("simulated LM server failed to start") from (failure[0] if failure else None)

    def _start_process(self) -> None:
        settings = self._settings
        command = [
            sys.executable, "-m", "synaprefect.testing.server",
            "--host", self.host,
            "--port", str(self.port),
            "--latency", str(settings["latency"]),
            "--latency-jitter", str(settings["latency_jitter"]),
            "--embedding-dim", str(settings["embedding_dim"]),
        ]  # fmt: skip
        if settings["responder"]:
            command += ["--responder", settings["responder"]]
        if settings["api_key"]:
            command += ["--api-key", settings["api_key"]]
        if settings["models"]:
            command += ["--models", ",".join(settings["models"])]
        if settings["faults"] is not None:
            command += ["--faults-json", json.dumps(settings["faults"].to_dict())]
        env = dict(os.environ)
        # Make the child import this very copy of the package even when it is not installed.
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        process = self._process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
        first_line: list[str] = []
        # readline() has no timeout: read in a helper thread so a stuck child cannot hang us.
        reader = threading.Thread(target=lambda: first_line.append(process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout=60)
        url = first_line[0].strip() if first_line else ""
        if not url.startswith("http://"):
            self._stop_process()
            raise RuntimeError(f"simulated LM process did not report its URL (got {url!r})")
        self._base_url = url
        deadline = time.monotonic() + 30
        while True:  # the URL is printed once listening; still confirm it answers
            try:
                self._control("GET", "/_sim/stats")
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.05)

    def _stop_process(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()  # SIGTERM: the CLI shuts down cleanly
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()

    # ---- control

    def _control(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        """Call a ``/_sim`` endpoint of a process-mode server."""
        parts = urlsplit(self.base_url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            body = json.dumps(payload).encode() if payload is not None else None
            connection.request(method, path, body=body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        if response.status != 200:
            raise RuntimeError(f"simulated LM control {path} failed: {response.status} {data.decode()}")
        return json.loads(data)

    def _in_loop(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``function`` on the serving loop (the only thread that touches server state)."""
        if self._loop is None or self._thread is None:
            raise RuntimeError("SimulatedLM is not started")
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def call() -> None:
            try:
                future.set_result(function(*args, **kwargs))
            except BaseException as exc:
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(call)
        return future.result(timeout=30)

    def _configure(self, **changes: Any) -> None:
        self._settings.update(changes)
        if self._base_url is None:
            return  # applied at start
        if self.mode == "thread":
            self._in_loop(self._core.configure, **changes)
        else:
            if "faults" in changes and changes["faults"] is not None:
                changes["faults"] = changes["faults"].to_dict()
            self._control("POST", "/_sim/config", changes)

    def stats(self) -> ServerStats:
        """Snapshot of the server statistics."""
        if self.mode == "thread":
            return self._in_loop(self._core.stats)
        return ServerStats.from_dict(self._control("GET", "/_sim/stats"))

    def reset_stats(self) -> None:
        """Clear statistics, restart request indexes at 0 and rewind the fault plan."""
        if self.mode == "thread":
            self._in_loop(self._core.reset)
        else:
            self._control("POST", "/_sim/reset", {})

    def set_responder(self, responder: Responder | str | None) -> None:
        """Replace the responder (``None`` restores :func:`schema_responder`)."""
        if self.mode == "process" and responder is not None and not isinstance(responder, str):
            raise TypeError("process mode needs the responder as an import path 'package.module:function'")
        self._configure(responder=responder)

    def set_faults(self, faults: FaultPlan | FaultHook | None) -> None:
        """Replace the fault plan (``None`` disables faults)."""
        if self.mode == "process" and faults is not None and not isinstance(faults, FaultPlan):
            raise TypeError("process mode needs faults as a FaultPlan (callables cannot cross processes)")
        self._configure(faults=faults)

    def set_latency(self, latency: float, jitter: float | None = None) -> None:
        """Set the per-request delay in seconds (and optionally the random extra ``jitter``)."""
        changes: dict[str, Any] = {"latency": latency}
        if jitter is not None:
            changes["latency_jitter"] = jitter
        self._configure(**changes)


# --------------------------------------------------------------------------- CLI


def _comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m synaprefect.testing.server",
        description="Offline OpenAI-compatible simulated LM server. Prints its base URL, then serves.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    parser.add_argument("--latency-jitter", type=float, default=0.0, help="random extra seconds, up to this")
    parser.add_argument("--fault-every", type=int, default=0, help="fail every N-th chat request (0: never)")
    parser.add_argument("--faults", type=_comma_list, default=None, help="fault kinds to cycle, e.g. 429,500,timeout")
    parser.add_argument("--fault-start", type=int, default=0, help="requests to let through before faults")
    parser.add_argument("--retry-after", type=float, default=0.0, help="Retry-After seconds of 429 faults")
    parser.add_argument("--hang-seconds", type=float, default=30.0, help="how long timeout faults hang")
    parser.add_argument("--faults-json", default=None, help="full FaultPlan.to_dict() JSON (overrides --fault-*)")
    parser.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY'")
    parser.add_argument("--models", type=_comma_list, default=None, help="accepted model names besides 'simulated'")
    parser.add_argument("--responder", default=None, help="responder import path 'package.module:function'")
    parser.add_argument("--embedding-dim", type=int, default=64)
    return parser.parse_args(argv)


def _plan_from_args(args: argparse.Namespace) -> FaultPlan | None:
    if args.faults_json:
        return FaultPlan.from_dict(json.loads(args.faults_json))
    if not args.fault_every and not args.faults:
        return None
    options: dict[str, Any] = {
        "every": args.fault_every or 3,
        "start": args.fault_start,
        "retry_after": args.retry_after,
        "hang_seconds": args.hang_seconds,
    }
    if args.faults:
        options["kinds"] = tuple(args.faults)
    return FaultPlan(**options)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: print the base URL on the first stdout line, serve until SIGINT/SIGTERM."""
    args = _parse_args(argv)
    core = _SimCore(
        responder=args.responder,
        latency=args.latency,
        latency_jitter=args.latency_jitter,
        faults=_plan_from_args(args),
        api_key=args.api_key,
        models=args.models,
        embedding_dim=args.embedding_dim,
    )

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signum, stop.set)
            except (NotImplementedError, RuntimeError):  # Windows: Ctrl-C raises KeyboardInterrupt instead
                pass
        await _serve(core, args.host, args.port, lambda url: print(url, flush=True), stop)

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
