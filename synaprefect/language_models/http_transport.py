"""The default transport: chat completions sent straight to OpenAI-compatible endpoints.

litellm spends several milliseconds of CPU on every call (the OpenAI SDK's request
transformation, cost calculation, its logging pipeline); on a 2-core machine that, not the
model's latency, bounds how many calls per second a program makes. This transport sends
the request litellm would send, over one keep-alive ``aiohttp`` session per event loop,
and reads the answer itself.

It applies where it can prove it sends what litellm sends (``tests/test_transport_parity.py``
compares the wire body, the headers, the error classes and the usage and cost of both):

- ``openai/...`` models (OpenAI, or any OpenAI-compatible server given as ``api_base``) and
  ``hosted_vllm/...`` models (vLLM and other self-hosted OpenAI-compatible servers);
- request options that are all OpenAI chat-completion parameters (``OPTIONS``), mapped by
  litellm's own parameter mapping (``litellm.utils.get_optional_params``, cached per model
  and options), so parameters are renamed, dropped or moved exactly as litellm does;
- no litellm customisation in the process: with ``litellm.callbacks`` (or another of its
  callback lists), ``litellm.api_key``, ``litellm.api_base`` or ``litellm.headers`` set,
  or ``OPENAI_ORGANIZATION`` / ``OPENAI_PROJECT_ID`` in the environment, calls go through
  litellm so that what the user configured there still happens.

Every other call, and every other provider (``ollama_chat/`` speaks Ollama's own API;
point ``openai/<model>`` at ``http://host:11434/v1`` for the fast path), goes through
litellm. Errors carry the HTTP status and headers, so ``calls.classify_error`` maps them to
the same classes as litellm's (401/403 authentication, 404 model not found, 400/422 bad
request, the rest transient, ``Retry-After`` honoured). The cost is litellm's, from its
price map and the answer's usage (cached-token and tiered prices included). The OpenAI
SDK's client headers (``User-Agent``, ``X-Stainless-*``) are not sent.

``transport="litellm"`` (or ``SYNAPREFECT_LM_TRANSPORT=litellm``) sends every call through
litellm.

Example:
```python
# Straight to the server: an OpenAI-compatible endpoint, no litellm option in play.
lm = synaprefect.LanguageModel("hosted_vllm/qwen3-8b", api_base="http://gpu-box:8000/v1")
# Through litellm, for its callbacks:
lm = synaprefect.LanguageModel("openai/gpt-4o-mini", transport="litellm")
```
"""

import copy
import functools
import json
import os
import sys
import urllib.request
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from synaprefect.language_models.errors import AuthenticationError
from synaprefect.utils.async_utils import PerLoop

__all__ = [
    "TRANSPORTS",
    "OPTIONS",
    "ProviderHTTPError",
    "default_transport",
    "request_body",
    "chat_completion",
    "message_of",
    "cost",
]

TRANSPORTS = ("litellm", "http")
# Request options litellm maps onto an OpenAI request body (anything else, such as
# litellm's own metadata or API versions, keeps a call on litellm).
OPTIONS = frozenset(
    {
        "response_format",
        "temperature",
        "top_p",
        "top_k",
        "n",
        "stop",
        "max_tokens",
        "max_completion_tokens",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "user",
        "seed",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "logprobs",
        "top_logprobs",
        "reasoning_effort",
    }
)
# litellm.acompletion arguments that configure the call rather than the request body.
_CONTROL = frozenset(
    {
        "model",
        "messages",
        "api_base",
        "api_key",
        "timeout",
        "max_retries",
        "drop_params",
        "extra_headers",
        "_skip_mcp_handler",
    }
)


@dataclass(frozen=True)
class _Provider:
    """Where litellm finds a provider's endpoint and key when the call names none."""

    key_env: str
    base_env: tuple[str, ...]
    default_base: str | None  # None: litellm requires an api_base
    default_key: str | None  # None: litellm requires a key


_PROVIDERS = {
    "openai": _Provider(
        "OPENAI_API_KEY", ("OPENAI_BASE_URL", "OPENAI_API_BASE"), "https://api.openai.com/v1", None
    ),
    "hosted_vllm": _Provider(
        "HOSTED_VLLM_API_KEY", ("HOSTED_VLLM_API_BASE",), None, "fake-api-key"
    ),
}
# Process-wide litellm settings and environment that change litellm's request (or what
# happens around it): with any of them set, calls keep going through litellm.
_LITELLM_HOOKS = (
    "callbacks",
    "success_callback",
    "failure_callback",
    "input_callback",
    "_async_success_callback",
    "_async_failure_callback",
    "_async_input_callback",
    "service_callback",
    "api_key",
    "openai_key",
    "api_base",
    "headers",
    "organization",
)
_LITELLM_ENV = ("OPENAI_ORGANIZATION", "OPENAI_PROJECT_ID")


class ProviderHTTPError(Exception):
    """The endpoint answered with an error status (or with a body that is not JSON).

    ``status_code`` and ``headers`` are where ``calls.classify_error`` and the
    ``Retry-After`` handling look for them on litellm's errors.
    """

    def __init__(self, status_code: int, message: str, headers: Any = None):
        super().__init__(f"HTTP {status_code}: {message}")
        self.status_code = status_code
        self.headers = headers or {}


def default_transport() -> str:
    """``$SYNAPREFECT_LM_TRANSPORT`` (``http`` or ``litellm``), ``http`` when unset."""
    transport = os.environ.get("SYNAPREFECT_LM_TRANSPORT", "http").strip().lower()
    if transport not in TRANSPORTS:
        raise ValueError(
            f"$SYNAPREFECT_LM_TRANSPORT must be one of {TRANSPORTS}, got {transport!r}."
        )
    return transport


def _litellm_customised() -> bool:
    """Whether the user configured litellm in a way this transport would bypass."""
    litellm = sys.modules.get("litellm")  # not imported: nothing configured
    if litellm is not None and any(getattr(litellm, name, None) for name in _LITELLM_HOOKS):
        return True
    return any(os.environ.get(name) for name in _LITELLM_ENV)


# (provider, model name, options as JSON, key order kept: it is part of the body) ->
# litellm's mapping of them, or None when litellm's mapping refuses them.
_mapped: dict[tuple[str, str, str], dict | None] = {}
_MAPPED_MAX = 256


def _map_options(provider: str, name: str, options: dict) -> dict | None:
    """litellm's request parameters for ``options`` (``None`` when its mapping refuses
    them: the call then goes through litellm, which reports it)."""
    from synaprefect.language_models.base import litellm_module

    litellm_module()  # imported offline first
    from litellm.utils import get_optional_params

    try:
        mapped = get_optional_params(
            model=name, custom_llm_provider=provider, drop_params=True, **copy.deepcopy(options)
        )
    except Exception:  # litellm raises its own errors; they are litellm's to report
        return None
    mapped.pop("stream", None)
    # The OpenAI SDK merges ``extra_body`` (litellm's provider-specific params) into the
    # body itself.
    extra = mapped.pop("extra_body", None) or {}
    return {**mapped, **extra}


def request_body(call_kwargs: dict) -> dict | None:
    """The body ``litellm.acompletion(**call_kwargs)`` would POST to an OpenAI-compatible
    endpoint, or ``None`` where this transport does not apply."""
    provider, _, name = call_kwargs["model"].partition("/")
    settings = _PROVIDERS.get(provider)
    if settings is None or not name or _litellm_customised():
        return None
    if settings.default_base is None and not (
        call_kwargs.get("api_base") or any(map(os.environ.get, settings.base_env))
    ):
        return None  # litellm says what is missing
    headers = call_kwargs.get("extra_headers")
    if headers is not None and not (
        isinstance(headers, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
    ):
        return None
    options = {key: value for key, value in call_kwargs.items() if key not in _CONTROL}
    if not OPTIONS.issuperset(options):
        return None
    try:
        key = (provider, name, json.dumps(options))
    except TypeError:  # not JSON (a pydantic class as response_format, ...): litellm's
        return None
    if key not in _mapped:
        if len(_mapped) >= _MAPPED_MAX:
            _mapped.clear()
        _mapped[key] = _map_options(provider, name, options)
    mapped = _mapped[key]
    if mapped is None:
        return None
    # litellm's own request transformation for the model (o-series models take no system
    # message, for example): microseconds, so per call. It builds a new body from a
    # shallow copy; nothing of the cached mapping is changed.
    body = _chat_config(provider, name).transform_request(
        model=name,
        messages=[dict(message) for message in call_kwargs["messages"]],
        optional_params=dict(mapped),
        litellm_params={},
        headers={},
    )
    # The OpenAI SDK sends the messages first; the order is kept for readable captures.
    return {"messages": body.pop("messages"), **body}


@functools.lru_cache(maxsize=256)
def _chat_config(provider: str, name: str) -> Any:
    from litellm.types.utils import LlmProviders
    from litellm.utils import ProviderConfigManager

    return ProviderConfigManager.get_provider_chat_config(
        model=name, provider=LlmProviders(provider)
    )


async def _closing(session: Any):
    """Parked async generator whose ``finally`` closes ``session``: ``asyncio.run`` (and
    any loop shut down with ``shutdown_asyncgens``) finalises it before closing."""
    try:
        yield
    finally:
        await session.close()


async def _new_session() -> tuple[Any, Any]:
    import aiohttp

    # No connection cap (a model's max_concurrency is the cap). Proxies come from the
    # environment, as with litellm's client; aiohttp then looks them up on every request
    # (in a thread), so only when some are set.
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), trust_env=bool(urllib.request.getproxies())
    )
    keeper = _closing(session)
    await keeper.__anext__()
    return session, keeper


# One session per event loop: aiohttp sessions belong to the loop that created them.
_sessions: PerLoop[tuple[Any, Any]] = PerLoop(_new_session, alive=lambda entry: not entry[0].closed)


async def _session() -> Any:
    session, _ = await _sessions.get()
    return session


def _error_message(status: int, body: bytes) -> str:
    try:
        error = json.loads(body)["error"]
        return str(error.get("message") or error) if isinstance(error, dict) else str(error)
    except (ValueError, KeyError, TypeError):
        return body[:300].decode("utf-8", "replace") or f"status {status}"


def _endpoint(call_kwargs: dict) -> tuple[str, dict[str, str]]:
    """The URL and headers litellm would use for ``call_kwargs`` (see ``request_body``)."""
    model = call_kwargs["model"]
    settings = _PROVIDERS[model.partition("/")[0]]
    key = call_kwargs.get("api_key") or os.environ.get(settings.key_env) or settings.default_key
    if not key:
        raise AuthenticationError(
            model, f"missing credentials: no API key (pass api_key= or set {settings.key_env})"
        )
    base = (
        call_kwargs.get("api_base")
        or next(filter(None, map(os.environ.get, settings.base_env)), None)
        or settings.default_base
    )
    # request_body() hands this transport only calls whose endpoint is known.
    assert base is not None
    base = base.rstrip("/")
    url = base if base.endswith("chat/completions") else f"{base}/chat/completions"
    headers = {
        **(call_kwargs.get("extra_headers") or {}),
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/json",
    }
    return url, headers


async def chat_completion(call_kwargs: dict, body: dict) -> dict:
    """POST ``body`` (see ``request_body``) where litellm would send ``call_kwargs``; the
    decoded JSON answer. Raises ``ProviderHTTPError``, ``TimeoutError``, aiohttp's
    connection errors, or ``AuthenticationError`` when no key is configured."""
    import aiohttp

    url, headers = _endpoint(call_kwargs)
    timeout = call_kwargs["timeout"]
    payload = json.dumps(body).encode()
    session = await _session()
    try:
        async with session.post(
            url, data=payload, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as response:
            content = await response.read()
            status, response_headers = response.status, response.headers
    except TimeoutError:
        raise TimeoutError(f"no answer within {timeout} s") from None
    if status != 200:
        raise ProviderHTTPError(status, _error_message(status, content), response_headers)
    try:
        answer = json.loads(content)
        answer["choices"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise ProviderHTTPError(status, f"not a chat completion: {content[:120]!r}") from None
    return answer


def message_of(answer: dict) -> SimpleNamespace:
    """The first choice's message with attribute access, as litellm's response has it."""
    message = answer["choices"][0]["message"]
    calls = [
        SimpleNamespace(
            id=call.get("id"),
            function=SimpleNamespace(
                name=(call.get("function") or {}).get("name"),
                arguments=(call.get("function") or {}).get("arguments"),
            ),
        )
        for call in message.get("tool_calls") or []
    ]
    return SimpleNamespace(
        content=message.get("content"), refusal=message.get("refusal"), tool_calls=calls
    )


@functools.lru_cache(maxsize=256)
def _priced(model: str) -> bool:
    """Whether litellm's price map prices ``model`` (most self-hosted models: no)."""
    from synaprefect.language_models.base import litellm_module

    litellm = litellm_module()
    try:
        prompt, completion = litellm.cost_per_token(
            model=model, prompt_tokens=1000, completion_tokens=1000
        )
    except Exception:  # litellm raises for models missing from its price map
        return False
    return bool(prompt or completion)


def cost(model: str, usage: dict) -> float:
    """litellm's cost of a call of ``model`` that used ``usage`` (an OpenAI ``usage``
    object: cached prompt tokens and tiered prices count as litellm counts them)."""
    if not _priced(model):
        return 0.0
    from synaprefect.language_models.base import litellm_module

    litellm = litellm_module()
    provider, _, name = model.partition("/")
    prompt, completion = litellm.cost_per_token(
        model=name, custom_llm_provider=provider, usage_object=litellm.Usage(**usage)
    )
    return prompt + completion
