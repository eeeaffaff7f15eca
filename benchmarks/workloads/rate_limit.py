"""What a Prefect rate limit costs per LM call: ``n`` direct model calls at a concurrency
of ``concurrency``, under a limit generous enough never to bind (so only the overhead of
taking slots shows).

- ``none``: ``LanguageModel(max_concurrency=...)`` alone;
- ``shared``: ``LanguageModel(rate_limit=NAME)``: the callers waiting at the same moment
  share one slot request (``orchestration.rate_limits``);
- ``per_call``: the naive way, ``await prefect.concurrency.asyncio.rate_limit(NAME)``
  before every call.
"""

from __future__ import annotations

import asyncio

from benchmarks.workloads.common import Endpoint, Measurement, measure, questions

__all__ = ["rate_limited_calls", "RATE_LIMIT_MODES"]

RATE_LIMIT_MODES = ("none", "shared", "per_call")
_LIMIT = "bench-provider-rate"


async def rate_limited_calls(
    endpoint: Endpoint, n: int, concurrency: int, mode: str
) -> Measurement:
    """``n`` chat calls with the rate limit taken as ``mode`` says."""
    from prefect.client.orchestration import get_client
    from prefect.concurrency.asyncio import rate_limit

    from benchmarks.workloads.program import Answer
    from synaprefect.language_models import LanguageModel

    if mode not in RATE_LIMIT_MODES:
        raise ValueError(f"mode must be one of {RATE_LIMIT_MODES}, got {mode!r}")
    async with get_client() as client:
        await client.upsert_global_concurrency_limit_by_name(
            _LIMIT, limit=10_000, slot_decay_per_second=10_000
        )
    lm = LanguageModel(
        endpoint.model,
        api_base=endpoint.base_url,
        api_key=endpoint.api_key,
        max_concurrency=concurrency,
        rate_limit=_LIMIT if mode == "shared" else None,
    )
    schema = Answer.get_schema()

    async def one(question: str) -> None:
        if mode == "per_call":
            await rate_limit(_LIMIT, strict=True)
        await lm([{"role": "user", "content": question}], schema=schema)

    with measure(endpoint) as result:
        await asyncio.gather(*(one(question) for question, _ in questions(n)))
    result.extra["calls_per_s"] = n / result.wall_s
    return result
