"""Evaluating ``n`` questions at a concurrency of 32: raw litellm, a bare aiohttp client,
synaprefect, DSPy.

What "concurrency 32" means for each system:

- raw litellm: every request is gathered at once by ``asyncio.gather``; an
  ``asyncio.Semaphore(32)`` lets 32 ``litellm.acompletion`` calls be in flight;
- bare aiohttp: the same, with one ``aiohttp.ClientSession.post`` of the request body per
  question and ``json.loads`` of the answer: the floor any Python client meets here;
- synaprefect: ``evaluate(batch_size=n)`` runs the whole set as one batch (one coroutine
  per sample, one batch task and one module task when tracked), and
  ``LanguageModel(max_concurrency=32)`` caps the requests in flight at 32;
- DSPy: ``dspy.Evaluate(num_threads=32)``: 32 threads, each making one blocking
  ``litellm.completion`` call at a time.

All three send the same question to the same simulated LM, which answers it correctly;
raw litellm and synaprefect send the identical prompt and JSON-schema
``response_format``, DSPy its own ``ChatAdapter`` prompt.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from benchmarks.workloads.common import Endpoint, Measurement, measure, questions

__all__ = ["litellm_reference", "aiohttp_reference", "synaprefect_evaluate", "dspy_evaluate"]


def _reference_requests(n: int) -> list[dict]:
    """The messages and ``response_format`` synaprefect's Generator sends for each of
    the ``n`` questions (rendered by synaprefect itself, before any timing)."""
    import synaprefect as sp
    from benchmarks.workloads.program import Answer, Query
    from synaprefect.language_models.structured_output import request_options

    generator = sp.Generator(data_model=Answer, language_model="openai/simulated", name="answerer")
    options = request_options("openai/simulated", Answer.get_schema())
    return [
        {"messages": generator.format_messages(Query(question=q).to_json_data_model()), **options}
        for q, _ in questions(n)
    ]


async def _reference(
    endpoint: Endpoint, n: int, concurrency: int, ask: Callable[[dict], Awaitable[str]]
) -> Measurement:
    """``ask(request)`` (the answer's JSON text) for each of the ``n`` reference requests,
    gathered with at most ``concurrency`` in flight; accuracy from the parsed answers."""
    requests = _reference_requests(n)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(request: dict) -> str:
        async with semaphore:
            content = await ask(request)
        return json.loads(content)["answer"]

    with measure(endpoint) as result:
        answers = await asyncio.gather(*(one(request) for request in requests))
    expected = [answer for _, answer in questions(n)]
    result.extra["accuracy"] = sum(a == e for a, e in zip(answers, expected)) / n
    return result


async def litellm_reference(endpoint: Endpoint, n: int, concurrency: int) -> Measurement:
    """``n`` ``litellm.acompletion`` calls gathered with at most ``concurrency`` in
    flight; accuracy from the parsed JSON answers."""
    import litellm

    async def ask(request: dict) -> str:
        response = await litellm.acompletion(
            model=endpoint.model,
            api_base=endpoint.base_url,
            api_key=endpoint.api_key,
            timeout=120,
            max_retries=0,
            **request,
        )
        return response.choices[0].message.content

    return await _reference(endpoint, n, concurrency, ask)


async def aiohttp_reference(endpoint: Endpoint, n: int, concurrency: int) -> Measurement:
    """``n`` chat-completion POSTs over one ``aiohttp`` session, gathered with at most
    ``concurrency`` in flight, the answers parsed as JSON: no validation, no retries, no
    journal. Accuracy from the parsed answers."""
    import aiohttp

    url = f"{endpoint.base_url}/chat/completions"
    headers = {"Authorization": f"Bearer {endpoint.api_key}"}
    model = endpoint.model.split("/", 1)[-1]

    async with aiohttp.ClientSession() as session:

        async def ask(request: dict) -> str:
            async with session.post(
                url, json={"model": model, **request}, headers=headers
            ) as response:
                answer = await response.json()
            return answer["choices"][0]["message"]["content"]

        return await _reference(endpoint, n, concurrency, ask)


async def synaprefect_evaluate(
    endpoint: Endpoint,
    n: int,
    concurrency: int,
    tracking: bool,
    transport: str | None = None,
    batch_size: int | None = None,
) -> Measurement:
    """``program.evaluate`` of ``n`` samples in batches of ``batch_size`` (default: one
    batch), with Prefect tracking on or off; a fresh run (``resume=False``)."""
    import synaprefect as sp
    from benchmarks.workloads.program import build_program, dataset

    program = await build_program(
        endpoint, name="bench_evaluate", concurrency=concurrency, transport=transport
    )
    x, y = dataset(n)
    with sp.orchestration.tracking(tracking), measure(endpoint) as result:
        scores = await program.evaluate(x, y, batch_size=batch_size or n, verbose=0, resume=False)
    result.extra["accuracy"] = scores["reward"]
    return result


def dspy_evaluate(endpoint: Endpoint, n: int, threads: int) -> Measurement:
    """``dspy.Evaluate(num_threads=threads)`` of a ``dspy.Predict("question -> answer")``
    on ``n`` examples, DSPy's cache off, exact-match metric."""
    import dspy

    lm = dspy.LM(endpoint.model, api_base=endpoint.base_url, api_key=endpoint.api_key, cache=False)
    dspy.configure(lm=lm)
    devset = [dspy.Example(question=q, answer=a).with_inputs("question") for q, a in questions(n)]
    evaluate = dspy.Evaluate(
        devset=devset,
        num_threads=threads,
        display_progress=False,
        metric=lambda example, prediction, trace=None: example.answer == prediction.answer,
    )
    with measure(endpoint) as result:
        outcome = evaluate(dspy.Predict("question -> answer"))
    result.extra["accuracy"] = outcome.score / 100
    return result
