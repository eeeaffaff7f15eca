"""What chat and embedding models share: identity, secrets, retries, cache, counters."""

import asyncio
import copy
import logging
import os
from pathlib import Path
from typing import Any

from synaprefect.language_models.cache import ResponseCache
from synaprefect.language_models.call_store import call_key, current_call_store
from synaprefect.language_models.calls import ModelCaller
from synaprefect.language_models.errors import InvalidOutputError
from synaprefect.language_models.phases import current_phase
from synaprefect.utils.json_utils import stable_hash

logger = logging.getLogger("synaprefect.language_models")

# Keyword arguments that carry credentials never reach configs, saved files or errors.
# Whole name parts: `aws_session_token` is a credential, `max_tokens` is not.
_SECRET_WORDS = {"key", "apikey", "secret", "token", "credential", "credentials", "password"}
_SECRET_HEADERS = {"authorization", "api-key", "x-api-key", "proxy-authorization"}


def _split_secrets(kwargs: dict) -> dict:
    """Move credential-bearing entries (and credential headers) out of ``kwargs``."""
    secrets = {k: kwargs.pop(k) for k in list(kwargs) if _SECRET_WORDS & set(k.lower().split("_"))}
    for name in ("extra_headers", "headers"):
        headers = kwargs.get(name)
        if isinstance(headers, dict):
            hidden = {k: v for k, v in headers.items() if k.lower() in _SECRET_HEADERS}
            if hidden:
                kwargs[name] = {k: v for k, v in headers.items() if k not in hidden}
                secrets[name] = hidden
    return secrets


# litellm routes ``ollama/`` to Ollama's older completion endpoint; chat models need
# ``ollama_chat/``. Embeddings are the other way round: only ``ollama/`` can embed.
_PROVIDER_REWRITES = {"ollama": "ollama_chat", "vllm": "hosted_vllm"}
_COST_MAP = "LITELLM_LOCAL_MODEL_COST_MAP"


def litellm_module():
    """litellm, imported on the first call (it takes seconds), offline: its price map
    comes from the package, not the internet, unless the user asked otherwise
    (``LITELLM_LOCAL_MODEL_COST_MAP`` set before). The variable is restored afterwards:
    synaprefect changes no process-wide setting."""
    import sys

    if "litellm" not in sys.modules:
        before = os.environ.get(_COST_MAP)
        os.environ.setdefault(_COST_MAP, "True")
        try:
            import litellm
        finally:
            if before is None:
                os.environ.pop(_COST_MAP, None)
    import litellm

    litellm.suppress_debug_info = True
    return litellm


class ModelBase:
    """What chat and embedding models share: identity, secrets, retries, cache, counters."""

    _kind = "model"
    # Provider prefixes renamed to the litellm route this kind of model needs.
    _provider_rewrites = _PROVIDER_REWRITES

    def __init__(
        self,
        model: str,
        api_base: str | None,
        timeout: float,
        retry: int,
        retry_backoff: float,
        retry_max_wait: float,
        caching: bool,
        cache_dir: str | None,
        max_concurrency: int | None,
        name: str | None,
        default_kwargs: dict,
        rate_limit: str | None = None,
    ):
        if rate_limit is not None and (not isinstance(rate_limit, str) or not rate_limit):
            raise ValueError(
                f"`rate_limit` is the name of a Prefect rate limit (a global "
                f"concurrency limit with slot decay), got {rate_limit!r}."
            )
        if not isinstance(model, str) or not model:
            raise ValueError(
                f"A {self._kind} needs a litellm model string such as 'openai/gpt-4o-mini', "
                f"got {model!r}."
            )
        prefix, _, rest = model.partition("/")
        if rest and prefix in self._provider_rewrites:
            model = f"{self._provider_rewrites[prefix]}/{rest}"
        self.model = model
        self.name = name or model
        self.api_base = api_base
        self.timeout = timeout
        self.caching = caching
        self.cache_dir = cache_dir
        self.max_concurrency = max_concurrency
        self.rate_limit = rate_limit
        # Synalinks' module arguments: never request options sent to the provider.
        self.description = default_kwargs.pop("description", None)
        if default_kwargs.pop("hooks", None):
            raise ValueError(
                "`hooks` (Synalinks' call hooks) are not supported: every call is counted "
                "(`counters()`) and, with tracking on, is part of a Prefect task run; "
                "remove `hooks=`."
            )
        self._secrets = _split_secrets(default_kwargs)
        self.default_kwargs = default_kwargs
        self._caller = ModelCaller(
            model, retry, retry_backoff, retry_max_wait, max_concurrency, self._redact, rate_limit
        )
        self._cache = None
        if caching:
            from synaprefect.config import synaprefect_home

            directory = Path(cache_dir) if cache_dir else synaprefect_home() / "cache"
            self._cache = ResponseCache(directory / self._kind)

    def _redact(self, text: str) -> str:
        for value in self._secrets.values():
            for secret in value.values() if isinstance(value, dict) else [value]:
                if not isinstance(secret, str):
                    continue
                # "Bearer <token>": the token alone may show up in an error too.
                for part in {secret, secret.split()[-1] if secret.split() else secret}:
                    if len(part) >= 4:
                        text = text.replace(part, "***")
        return text

    @property
    def retry(self) -> int:
        return self._caller.retry

    def counters(self, phase: str | None = None) -> dict[str, float]:
        """Calls, failures, retries, cache hits, tokens, cost and latency, for one phase
        (``"inference"``, ``"reward"``, ``"optimizer"``) or all of them."""
        return self._caller.usage.counters(phase)

    @property
    def last_call(self) -> dict[str, float | str]:
        return dict(self._caller.usage.last_call)

    def reset_counters(self) -> None:
        self._caller.usage.reset()

    def _call_kwargs(self, extra: dict) -> dict:
        # drop_params per call: litellm's global switch would change other code's calls.
        kwargs = {
            "model": self.model,
            "timeout": self.timeout,
            "max_retries": 0,
            "drop_params": True,
            **self.default_kwargs,
            **extra,
        }
        for name, secret in self._secrets.items():  # credential headers join the others
            kwargs[name] = (
                {**kwargs.get(name, {}), **secret} if isinstance(secret, dict) else secret
            )
        if self.api_base:
            kwargs["api_base"] = self.api_base
        return kwargs

    async def _cached(self, key_material: dict, attempt) -> Any:
        """The answer from the job's call store (resume), else the response cache when
        enabled, else ``attempt`` run with retries; what was paid for is remembered."""
        store = current_call_store()
        journal_key = call_key(key_material) if store is not None else None
        if store is not None and journal_key is not None:
            replayed = store.lookup(journal_key)
            if replayed is not None:
                self._caller.usage.record_call(current_phase(), cache_hits=1)
                return replayed
        cache = self._cache
        cache_key = stable_hash(key_material) if cache is not None else None
        # The cache is files (an fsync per write): read and write them off the loop.
        value = (
            await asyncio.to_thread(cache.get, cache_key)
            if cache is not None and cache_key is not None
            else None
        )
        if value is not None:
            self._caller.usage.record_call(current_phase(), cache_hits=1)
            if store is not None and journal_key is not None:
                store.record(journal_key, value)
            return value

        async def paid() -> tuple[Any, dict]:
            # Remembered as soon as it is paid, even if the caller was cancelled meanwhile
            # (``ModelCaller.run`` lets a request that is out finish). From here on nothing
            # may fail the call: a retry would pay for it again.
            try:
                answer, figures = await attempt()
            except InvalidOutputError as broken:
                if store is not None and journal_key is not None and broken.usage:
                    try:
                        # Its call is counted once, with the answer that ends it.
                        store.record_broken(journal_key, _price(broken.usage, calls=0.0))
                    except Exception as error:
                        _not_kept(self, "the run's journal (a resume will not count it)", error)
                raise
            if store is not None and journal_key is not None:
                # One appended line, microseconds; with its price, so that a job resumed
                # elsewhere counts what this answer cost against its budget.
                try:
                    store.record(journal_key, answer, _price(figures))
                except Exception as error:  # whatever it is, raising would pay again
                    _not_kept(self, "the run's journal (a resume pays for it again)", error)
            if cache is not None and cache_key is not None:
                try:
                    await asyncio.to_thread(cache.put, cache_key, answer)
                except Exception as error:
                    _not_kept(self, "the response cache", error)
            return answer, figures

        def failed() -> None:
            # The counters hold one (failed) call: so does the journal, or a resumed job
            # would count the calls of its replayed steps short.
            if store is not None and journal_key is not None:
                try:
                    store.record_broken(journal_key, _price({}))
                except Exception as error:
                    where = "the run's journal (a resume will not count it)"
                    _not_kept(self, where, error, what="a failed call")

        return await self._caller.run(paid, failed)

    def _base_config(self) -> dict:
        return {
            "model": self.model,
            "api_base": self.api_base,
            "timeout": self.timeout,
            "retry": self.retry,
            "retry_backoff": self._caller.retry_backoff,
            "retry_max_wait": self._caller.retry_max_wait,
            "caching": self.caching,
            "cache_dir": self.cache_dir,
            "max_concurrency": self.max_concurrency,
            "rate_limit": self.rate_limit,
            "name": self.name,
            **({"description": self.description} if self.description else {}),
            **copy.deepcopy(self.default_kwargs),
        }

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} model={self.model!r}>"


# Settings that change how a request is sent, never what it answers: a job rerun with
# other values (after a crash caused by rate limits, say) still replays what it paid for.
OPERATIONAL_SETTINGS = frozenset(
    {
        "timeout",
        "retry",
        "retry_backoff",
        "retry_max_wait",
        "caching",
        "cache_dir",
        "max_concurrency",
        "rate_limit",
        "name",
        "transport",
        "description",
    }
)


def result_settings(config: Any) -> Any:
    """``config`` (of a module, reward, optimizer...) without the operational settings
    of the models it holds: what determines results, for resume keys.

    Example: ``result_settings(generator.get_config())["language_model"]``
    ``# {"model": "openai/gpt-4o-mini", "api_base": None, "temperature": 0.0}``
    """
    if isinstance(config, list):
        return [result_settings(v) for v in config]
    if not isinstance(config, dict):
        return config
    is_model = isinstance(config.get("model"), str) and "retry" in config
    return {
        k: result_settings(v)
        for k, v in config.items()
        if not (is_model and k in OPERATIONAL_SETTINGS)
    }


def _price(figures: dict, calls: float = 1.0) -> dict[str, float]:
    """What the journal keeps of an answer's usage figures."""
    return {
        "cost": figures.get("cost", 0.0),
        "calls": calls,
        "tokens": figures.get("total_tokens", 0),
    }


def _not_kept(model: Any, where: str, error: Exception, what: str = "a paid answer") -> None:
    logger.warning(
        "%r: %s was not written to %s: %s: %s", model, what, where, type(error).__name__, error
    )


def usage_figures(response: Any) -> dict[str, float]:
    usage = getattr(response, "usage", None)
    figures = {
        "prompt_tokens": getattr(usage, "prompt_tokens", 0) or 0,
        "completion_tokens": getattr(usage, "completion_tokens", 0) or 0,
        "total_tokens": getattr(usage, "total_tokens", 0) or 0,
    }
    hidden = getattr(response, "_hidden_params", None) or {}
    figures["cost"] = float(hidden.get("response_cost") or 0.0)
    return figures
