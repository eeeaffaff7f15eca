"""The synaprefect program every synaprefect workload runs: one ``Generator`` answering
a question, rewarded with ``ExactMatch``."""

from __future__ import annotations

from typing import Any

import synaprefect as sp
from benchmarks.workloads.common import Endpoint, questions

__all__ = ["Query", "Answer", "build_program", "dataset"]


class Query(sp.DataModel):
    question: str = sp.Field(description="The question")


class Answer(sp.DataModel):
    answer: str = sp.Field(description="The answer")


def dataset(n: int) -> tuple[list[Query], list[Answer]]:
    """``n`` questions and their correct answers as data models."""
    pairs = questions(n)
    return [Query(question=q) for q, _ in pairs], [Answer(answer=a) for _, a in pairs]


async def build_program(
    endpoint: Endpoint,
    *,
    name: str,
    concurrency: int,
    transport: str | None = None,
    optimizer: Any = None,
    task_granularity: str | None = None,
) -> sp.Program:
    """The program, compiled with synaprefect's defaults unless ``transport`` or
    ``task_granularity`` is given; the same name, seed and data give the same run folder
    (which the resume workload relies on)."""
    sp.clear_session()
    sp.set_seed(7)
    lm = sp.LanguageModel(
        endpoint.model,
        api_base=endpoint.base_url,
        api_key=endpoint.api_key,
        max_concurrency=concurrency,
        transport=transport,
    )
    inputs = sp.Input(data_model=Query)
    outputs = await sp.Generator(data_model=Answer, language_model=lm, name="answerer")(inputs)
    program = sp.Program(inputs=inputs, outputs=outputs, name=name)
    granularity = {"task_granularity": task_granularity} if task_granularity else {}
    program.compile(
        reward=sp.rewards.ExactMatch(in_mask=["answer"]), optimizer=optimizer, **granularity
    )
    return program
