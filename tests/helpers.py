"""What many tests share: the capitals task, its data models and a program for it."""

import os

import numpy as np

import synaprefect as sp
from synaprefect.testing.skills import language_model_for, load_capitals, style_student

ROWS, _ = load_capitals()
# The student knows the facts (title case) but not the expected style (uppercase).
KNOWLEDGE = {row["query"]: row["answer"].title() for row in ROWS}


class Query(sp.DataModel):
    query: str


class Answer(sp.DataModel):
    answer: str


def capitals(n: int | None = None, start: int = 0):
    """``(x, y)`` numpy object arrays of the first ``n`` rows from ``start``."""
    rows = ROWS[start:start + n if n is not None else None]
    return (np.array([Query(query=r["query"]) for r in rows], dtype=object),
            np.array([Answer(answer=r["answer"]) for r in rows], dtype=object))


def as_student(server):
    """Make the simulated ``server`` answer like a student of the capitals task."""
    server.set_responder(style_student(KNOWLEDGE))
    return server


async def capitals_program(server, name: str = "capitals", optimizer="random_few_shot",
                           metrics=None, **lm_kwargs) -> sp.Program:
    """A compiled one-Generator program answering through ``server``."""
    lm = language_model_for(server, **lm_kwargs)
    x0 = sp.Input(data_model=Query)
    x1 = await sp.Generator(data_model=Answer, language_model=lm, name="answerer")(x0)
    program = sp.Program(inputs=x0, outputs=x1, name=name)
    program.compile(reward=sp.rewards.ExactMatch(in_mask=["answer"]), optimizer=optimizer,
                    metrics=metrics)
    return program


@sp.saving.register_synaprefect_serializable(package="tests")
class CaseBlindMatch(sp.rewards.Reward):
    """1.0 when the answers match ignoring case: a custom reward that other processes
    can only rebuild by importing this module."""

    async def call(self, y_true, y_pred) -> float:
        if y_true is None or y_pred is None:
            return 0.0
        return float(y_true.get_json()["answer"].lower() == y_pred.get_json()["answer"].lower())


async def capitals_hypermodel(hp) -> sp.Program:
    """A hypermodel that tuning trials on pool workers import: the model's base URL
    comes from ``$SYNAPREFECT_TEST_LM_URL`` (workers and the test set it)."""
    lm = sp.LanguageModel("openai/simulated", api_base=os.environ["SYNAPREFECT_TEST_LM_URL"],
                          api_key="sk-simulated", retry_backoff=0.01)
    x0 = sp.Input(data_model=Query)
    x1 = await sp.Generator(data_model=Answer, language_model=lm, name="answerer",
                            temperature=hp.Choice("temperature", [0.0, 1.0]))(x0)
    program = sp.Program(inputs=x0, outputs=x1, name="pooled")
    program.compile(reward=sp.rewards.ExactMatch(in_mask=["answer"]),
                    optimizer="random_few_shot")
    return program
