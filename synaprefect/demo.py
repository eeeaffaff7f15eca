"""The end-to-end demo behind ``make demo`` / ``synaprefect demo``.

It trains a question-answering program whose expected answers follow a house style (the
capital in uppercase). Against the simulated LM (the default, offline), the model knows
the facts but only follows the style when its prompt shows it, so few-shot examples chosen
by ``RandomFewShot`` lift the validation reward. Set ``SYNAPREFECT_MODEL`` (or pass
``--model``) to train against any litellm model instead.
"""

import os

import numpy as np

import synaprefect as sp
from synaprefect.config import synaprefect_home
from synaprefect.recipes import SIMULATED, open_language_model
from synaprefect.testing.skills import load_capitals

__all__ = ["run_demo"]


class Query(sp.DataModel):
    query: str = sp.Field(description="A question about a country")


class Answer(sp.DataModel):
    answer: str = sp.Field(description="The answer")


async def run_demo(model: str | None = None, epochs: int = 3) -> int:
    sp.set_seed(7)
    rows, description = load_capitals()
    x = np.array([Query(query=r["query"]) for r in rows], dtype=object)
    y = np.array([Answer(answer=r["answer"]) for r in rows], dtype=object)
    # The demo asks for the offline simulated LM unless a real model is configured.
    with open_language_model(model or os.environ.get("SYNAPREFECT_MODEL") or SIMULATED) as lm:
        offline = lm.model == "openai/simulated"
        print(f"Language model: {lm.model}{' (offline simulated LM)' if offline else ''}")
        inputs = sp.Input(data_model=Query)
        outputs = await sp.Generator(data_model=Answer, language_model=lm, name="answerer")(inputs)
        program = sp.Program(
            inputs=inputs, outputs=outputs, name="capitals_demo", description=description
        )
        program.compile(
            reward=sp.rewards.ExactMatch(in_mask=["answer"]),
            optimizer=sp.optimizers.RandomFewShot(),
        )
        program.summary()
        before = await program.evaluate(x[28:], y[28:], verbose=0)
        await program.fit(
            x[:28], y[:28], validation_data=(x[28:], y[28:]), epochs=epochs, batch_size=7
        )
        after = await program.evaluate(x[28:], y[28:], verbose=0)
        path = synaprefect_home() / "demo" / "capitals_demo.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        program.save(path)
    print(f"\nValidation reward before training: {before['reward']:.2f}")
    print(f"Validation reward after training:  {after['reward']:.2f}")
    print(f"Trained program saved to {path}")
    if sp.orchestration.is_tracking():
        print(
            "Runs, task runs and variable artifacts are in Prefect: start the UI with "
            "`.venv/bin/prefect server start` and open http://127.0.0.1:4200 "
            "(Runs, then Artifacts)."
        )
    return 0
