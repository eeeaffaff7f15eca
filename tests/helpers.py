"""What many tests share: the capitals task, its data models and a program for it."""

import os
import subprocess
import sys
from pathlib import Path

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
    rows = ROWS[start : start + n if n is not None else None]
    return (
        np.array([Query(query=r["query"]) for r in rows], dtype=object),
        np.array([Answer(answer=r["answer"]) for r in rows], dtype=object),
    )


def as_student(server):
    """Make the simulated ``server`` answer like a student of the capitals task."""
    server.set_responder(style_student(KNOWLEDGE))
    return server


async def capitals_program(
    server, name: str = "capitals", optimizer="random_few_shot", metrics=None, **lm_kwargs
) -> sp.Program:
    """A compiled one-Generator program answering through ``server``."""
    lm = language_model_for(server, **lm_kwargs)
    x0 = sp.Input(data_model=Query)
    x1 = await sp.Generator(data_model=Answer, language_model=lm, name="answerer")(x0)
    program = sp.Program(inputs=x0, outputs=x1, name=name)
    program.compile(
        reward=sp.rewards.ExactMatch(in_mask=["answer"]), optimizer=optimizer, metrics=metrics
    )
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
    lm = sp.LanguageModel(
        "openai/simulated",
        api_base=os.environ["SYNAPREFECT_TEST_LM_URL"],
        api_key="sk-simulated",
        retry_backoff=0.01,
    )
    x0 = sp.Input(data_model=Query)
    x1 = await sp.Generator(
        data_model=Answer,
        language_model=lm,
        name="answerer",
        temperature=hp.Choice("temperature", [0.0, 1.0]),
    )(x0)
    program = sp.Program(inputs=x0, outputs=x1, name="pooled")
    program.compile(reward=sp.rewards.ExactMatch(in_mask=["answer"]), optimizer="random_few_shot")
    return program


RESUMABLE_FIT = Path(__file__).parent / "scripts" / "resumable_fit.py"


def run_script(server, home, output, mode, wait=True, tracked=False, env=None):
    """Run ``scripts/resumable_fit.py`` (a fit of 24 capitals) in a subprocess with its own
    ``SYNAPREFECT_HOME``; ``mode`` is "fresh" or "resume"."""
    env = {**os.environ, **(env or {}), "SYNAPREFECT_HOME": str(home)}
    process = subprocess.Popen(
        [
            sys.executable,
            str(RESUMABLE_FIT),
            server.base_url,
            str(output),
            mode,
            *(["tracked"] if tracked else []),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if wait:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-3000:]
    return process


def kill_then_resume(server, tmp_path, killed_home, resumed_home, tracked=False, env=None):
    """An uninterrupted fit, then the same fit SIGKILLed once the server has seen 40
    requests (in ``killed_home``) and run again (in ``resumed_home``). Returns the
    reference and resumed outputs, the reference's calls and the calls paid in all, as
    counters of prompt keys."""
    import collections
    import json
    import signal
    import time

    run_script(
        server, tmp_path / "reference-home", tmp_path / "reference.json", "fresh", tracked=tracked
    )
    reference_calls = collections.Counter(server.stats().completed_prompt_keys)
    server.reset_stats()
    process = run_script(
        server,
        killed_home,
        tmp_path / "killed.json",
        "resume",
        wait=False,
        tracked=tracked,
        env=env,
    )
    deadline = time.monotonic() + 120
    while server.stats().requests < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    first = server.stats()
    assert 40 <= first.requests < sum(reference_calls.values())
    server.reset_stats()
    run_script(server, resumed_home, tmp_path / "resumed.json", "resume", tracked=tracked, env=env)
    paid = collections.Counter(first.completed_prompt_keys) + collections.Counter(
        server.stats().completed_prompt_keys
    )
    return (
        json.loads((tmp_path / "reference.json").read_text()),
        json.loads((tmp_path / "resumed.json").read_text()),
        reference_calls,
        paid,
    )
