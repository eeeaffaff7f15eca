"""A search run in a subprocess by test_tuners.py (killed, then run again to resume).

argv = base_url, directory, project_name, output path. Each trial evaluates a program
(no optimizer) on 4 samples, one LM call per batch of 1, so a kill lands mid-trial.
"""

import json
import sys

import numpy as np

import synaprefect as sp
from synaprefect import tuners
from synaprefect.testing.skills import load_capitals

tuners.disable_keras_backend()


class Query(sp.DataModel):
    query: str


class Answer(sp.DataModel):
    answer: str


def main(base_url: str, directory: str, project_name: str, output: str) -> None:
    sp.set_seed(5)
    rows, _ = load_capitals()
    x = np.array([Query(query=r["query"]) for r in rows[:4]], dtype=object)
    y = np.array([Answer(answer=r["answer"]) for r in rows[:4]], dtype=object)
    lm = sp.LanguageModel("openai/simulated", api_base=base_url, api_key="sk-sim")

    async def build_program(hp):
        inputs = sp.Input(data_model=Query)
        outputs = await sp.Generator(
            data_model=Answer,
            language_model=lm,
            temperature=hp.Choice("temperature", [0.0, 0.5, 1.0]),
        )(inputs)
        program = sp.Program(inputs=inputs, outputs=outputs, name=project_name)
        program.compile(reward=sp.rewards.ExactMatch())
        return program

    tuner = tuners.RandomSearch(
        build_program,
        objective="val_reward",
        max_trials=3,
        seed=3,
        directory=directory,
        project_name=project_name,
    )
    tuner.search(x, y, validation_data=(x, y), batch_size=1, verbose=0)
    with open(output, "w") as handle:
        json.dump(
            {
                "trials": {
                    trial_id: {
                        "status": trial.status,
                        "score": trial.score,
                        "values": trial.hyperparameters.values,
                    }
                    for trial_id, trial in tuner.oracle.trials.items()
                },
                "best": tuner.get_best_hyperparameters(1)[0].values,
            },
            handle,
        )


if __name__ == "__main__":
    main(*sys.argv[1:5])
