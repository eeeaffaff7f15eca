"""One mechanism for every model call: concurrency cap, optional shared Prefect rate limit,
retries with backoff and jitter, error classification, counting and logging."""

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from synaprefect.language_models import errors
from synaprefect.language_models.phases import current_phase
from synaprefect.language_models.usage import UsageCounters
from synaprefect.utils.async_utils import PerLoop
from synaprefect.utils.waiting import program_waits

__all__ = ["ModelCaller", "classify_error", "set_rate_limiter"]

logger = logging.getLogger("synaprefect.language_models")

# Takes one slot of a named, shared rate limit; installed by the orchestration layer, so
# that this layer knows no orchestrator.
_rate_limiter: Callable[[str], Awaitable[None]] | None = None


def set_rate_limiter(acquire: Callable[[str], Awaitable[None]] | None) -> None:
    """Install ``acquire(name)``, awaited before each request of a model with a
    ``rate_limit``; it raises ``ValueError`` for a limit that cannot work."""
    global _rate_limiter
    _rate_limiter = acquire


def _status(error: BaseException) -> int | None:
    status = getattr(error, "status_code", None)
    return status if isinstance(status, int) else None


def _retry_after(error: BaseException) -> float | None:
    """Seconds the provider asked us to wait, from a ``Retry-After`` header."""
    sources = [getattr(error, "headers", None), getattr(error, "litellm_response_headers", None)]
    response = getattr(error, "response", None)
    sources.append(getattr(response, "headers", None))
    for headers in sources:
        if not headers:
            continue
        try:
            value = headers.get("retry-after") or headers.get("Retry-After")
        except AttributeError:
            continue
        if value is not None:
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None


def classify_error(error: BaseException) -> type[errors.LanguageModelError]:
    """Map a provider exception to the error class that decides whether to retry."""
    if isinstance(error, errors.LanguageModelError):
        return type(error)
    name = type(error).__name__
    status = _status(error)
    if name in ("AuthenticationError", "PermissionDeniedError") or status in (401, 403):
        return errors.AuthenticationError
    # litellm reports a key that was never configured as a server error; no retry helps.
    if "missing credentials" in str(error).lower():
        return errors.AuthenticationError
    if name == "NotFoundError" or status == 404:
        return errors.ModelNotFoundError
    if name in (
        "BadRequestError",
        "UnprocessableEntityError",
        "ContextWindowExceededError",
        "ContentPolicyViolationError",
        "UnsupportedParamsError",
    ) or status in (400, 422):
        return errors.BadRequestError
    return errors.TransientLanguageModelError


class ModelCaller:
    """Runs ``attempt()`` coroutines for one model with its retry and accounting policy."""

    def __init__(
        self,
        model: str,
        retry: int,
        retry_backoff: float,
        retry_max_wait: float,
        max_concurrency: int | None,
        redact: Callable[[str], str],
        rate_limit: str | None = None,
    ):
        if retry < 1:
            raise ValueError(f"`retry` is the number of attempts and must be >= 1, got {retry}.")
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError(f"`max_concurrency` must be >= 1 or None, got {max_concurrency}.")
        self.model = model
        self.retry = retry
        self.retry_backoff = retry_backoff
        self.retry_max_wait = retry_max_wait
        self.max_concurrency = max_concurrency
        self.rate_limit = rate_limit
        self.usage = UsageCounters()
        self._redact = redact
        # asyncio primitives belong to one event loop; keep one semaphore per loop.
        self._semaphores: PerLoop[asyncio.Semaphore] | None = (
            PerLoop(functools.partial(asyncio.Semaphore, max_concurrency))
            if max_concurrency is not None
            else None
        )
        # Our own generator: a user seeding `random` must not synchronise retries across
        # processes, and our jitter must not shift the user's random sequence.
        self._jitter = random.Random()

    def _delay(self, attempt: int, error: BaseException) -> float:
        asked = _retry_after(error)
        if asked is not None:
            return min(asked, self.retry_max_wait)
        backoff = min(self.retry_max_wait, self.retry_backoff * (2**attempt))
        return backoff * (0.5 + self._jitter.random() / 2)  # jitter spreads synchronized retries

    def _error(self, error: BaseException) -> errors.LanguageModelError:
        if isinstance(error, errors.LanguageModelError):
            return error
        cause = self._redact(f"{type(error).__name__}: {error}".strip())[:500]
        return classify_error(error)(self.model, cause)

    @contextlib.asynccontextmanager
    async def _turn(self):
        """Hold a place under ``max_concurrency`` and, with a ``rate_limit``, one slot of
        that shared Prefect limit, for one request."""
        semaphore = await self._semaphores.get() if self._semaphores is not None else None
        async with semaphore if semaphore is not None else contextlib.nullcontext():
            if self.rate_limit is not None:
                await self._take_rate_limit_slot(self.rate_limit)
            yield

    async def _take_rate_limit_slot(self, limit: str) -> None:
        if _rate_limiter is None:
            raise RuntimeError(
                "No rate limiter is installed: `import synaprefect` installs "
                "the Prefect one (synaprefect.orchestration.rate_limits)."
            )
        try:
            await _rate_limiter(limit)
        except ValueError:  # no such limit, or one without slot decay: fix the setup
            raise
        except Exception as error:  # the Prefect API is unreachable or refused: retryable
            raise errors.TransientLanguageModelError(
                self.model,
                self._redact(
                    f"could not take a slot of the rate limit "
                    f"{self.rate_limit!r}: {type(error).__name__}: "
                    f"{error}"
                )[:500],
            ) from error

    def _count_failure(self, phase: str, failed: Callable[[], None] | None, **values) -> None:
        """Count a call that failed for good, and tell ``failed`` (the journal keeps it)."""
        self.usage.record_call(phase, failed_calls=1, **values)
        if failed is not None:
            failed()

    async def _settle(
        self,
        request: asyncio.Future,
        phase: str,
        start: float,
        failed: Callable[[], None] | None,
    ) -> None:
        """The caller was cancelled (a sibling call failed, say) while ``request`` was out:
        a request sent is paid for, so let it finish (``attempt`` records its answer, which a
        retry then replays) and count it. A second cancellation abandons it."""
        try:
            _, figures = await request
        except asyncio.CancelledError:
            request.cancel()
            raise
        except Exception as raw:  # the caller is gone: nobody is left to retry or report it
            self.usage.add(phase, **getattr(raw, "usage", {}))  # a broken answer is billed
            self._count_failure(phase, failed, latency_s=time.perf_counter() - start)
        else:
            figures.setdefault("latency_s", time.perf_counter() - start)
            self.usage.record_call(phase, **figures)

    async def run(
        self,
        attempt: Callable[[], Awaitable[tuple[Any, dict]]],
        failed: Callable[[], None] | None = None,
    ) -> Any:
        """Call ``attempt`` until it succeeds; it returns ``(result, usage_figures)``. A
        cancelled caller waits for the request it has out (see ``_settle``) and stops:
        nothing new is sent, nothing sent is thrown away. ``failed`` is called where the
        call is counted as failed for good: no attempt left, a permanent error, or a
        request settled after its caller was cancelled."""
        phase = current_phase()
        last_error: errors.LanguageModelError | None = None
        for number in range(self.retry):
            async with self._turn():
                start = time.perf_counter()
                request = asyncio.ensure_future(attempt())
                program_waits()  # bookkeeping parked until now may run meanwhile
                try:
                    result, figures = await asyncio.shield(request)
                except asyncio.CancelledError:
                    await self._settle(request, phase, start, failed)
                    raise
                except Exception as raw:  # classified just below: nothing is swallowed
                    # A broken answer was still paid: its tokens and cost count.
                    self.usage.add(phase, **getattr(raw, "usage", {}))
                    error = self._error(raw)
                    if isinstance(error, errors.PermanentLanguageModelError):
                        self._count_failure(phase, failed, latency_s=time.perf_counter() - start)
                        logger.error("%s", error)
                        raise error from None
                    last_error, failure = error, raw
                else:
                    figures.setdefault("latency_s", time.perf_counter() - start)
                    self.usage.record_call(phase, **figures)
                    return result
            if number + 1 < self.retry:  # wait outside the turn: others may go meanwhile
                delay = self._delay(number, failure)
                self.usage.add(phase, retries=1)
                logger.warning(
                    "%s; retry %d/%d in %.2fs", last_error, number + 1, self.retry - 1, delay
                )
                await asyncio.sleep(delay)
        self._count_failure(phase, failed)
        assert last_error is not None  # retry >= 1: every attempt failed
        final = errors.TransientLanguageModelError(
            self.model, f"failed after {self.retry} attempts; last error: {last_error.cause}"
        )
        logger.error("%s", final)
        raise final from None
