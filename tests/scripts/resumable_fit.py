"""A fit run in a subprocess by test_resume.py: argv = base_url, output path, mode,
and "tracked" to run it on the Prefect API of ``$PREFECT_API_URL``."""

import asyncio
import json
import sys

import numpy as np

import synaprefect as sp
from synaprefect.orchestration import set_tracking
from synaprefect.testing.skills import load_capitals


class Query(sp.DataModel):
    query: str


class Answer(sp.DataModel):
    answer: str


async def main(base_url: str, output: str, resume: bool, tracked: bool) -> None:
    set_tracking(tracked)
    sp.set_seed(21)
    rows, _ = load_capitals()
    x = np.array([Query(query=r["query"]) for r in rows[:24]], dtype=object)
    y = np.array([Answer(answer=r["answer"]) for r in rows[:24]], dtype=object)
    lm = sp.LanguageModel(
        "openai/simulated", api_base=base_url, api_key="sk-sim", max_concurrency=2
    )
    inputs = sp.Input(data_model=Query)
    outputs = await sp.Generator(data_model=Answer, language_model=lm, name="answerer")(inputs)
    program = sp.Program(inputs=inputs, outputs=outputs, name="resumable")
    program.compile(
        reward=sp.rewards.ExactMatch(in_mask=["answer"]), optimizer=sp.optimizers.RandomFewShot()
    )
    history = await program.fit(
        x, y, epochs=2, batch_size=4, validation_split=0.25, verbose=0, resume=resume
    )
    with open(output, "w") as handle:
        json.dump(
            {
                "variables": program.get_state_tree()["trainable_variables"],
                "history": history.history,
                "replayed": program.replayed_steps,
            },
            handle,
        )


if __name__ == "__main__":
    asyncio.run(
        main(sys.argv[1], sys.argv[2], sys.argv[3] == "resume", sys.argv[4:] == ["tracked"])
    )
