"""Search the hyperparameters of a program, as a Prefect flow.

Copy this file and change the data, the program and its search space. As it is, it runs
offline on the bundled capitals data and the simulated LM when run as a script (set
``SYNAPREFECT_MODEL``, or pass ``model``, for a real litellm model):

    python flows/tune.py                       # from the project root

Each trial builds a program with a ``temperature`` and a number of few-shot examples
(``nb_max_examples``; 0: no optimizer, the program is only evaluated), trains it with
RandomFewShot and scores it on the validation rows. The search is the flow run
``tune-<project_name>``, each trial a subflow run ``<project_name>-trial-<id>``; the best
hyperparameters and the table of trials are artifacts. Trials are kept in
``directory/project_name``: run the flow again and it resumes (finished trials are not
run again); ``overwrite=True`` starts over.
"""

import asyncio
import os

import numpy as np
from prefect import flow

import synaprefect as sp
from synaprefect import recipes, tuners
from synaprefect.config import storage_root
from synaprefect.testing.skills import load_capitals

tuners.disable_keras_backend()  # keras-tuner without TensorFlow, JAX or PyTorch


class Query(sp.DataModel):
    query: str = sp.Field(description="A question about a country")


class Answer(sp.DataModel):
    answer: str = sp.Field(description="The answer")


@flow(name="tune", log_prints=True)
async def tune(
    model: str | None = None,
    max_trials: int = 4,
    epochs: int = 2,
    batch_size: int = 7,
    directory: str | None = None,
    project_name: str = "capitals-tuning",
    overwrite: bool = False,
    seed: int = 7,
    concurrent_trials: int = 1,
) -> dict:
    """Run a random search; returns the best hyperparameters.

    Args:
        model: any litellm model string, or "simulated" (the offline simulated LM);
            None: ``$SYNAPREFECT_MODEL``, else the run fails before any work.
        max_trials: how many hyperparameter combinations to try.
        epochs, batch_size: as in ``Program.fit``, for every trial.
        directory: where trials are kept, a folder or a storage URL; None:
            ``<storage>/tuning`` (``$SYNAPREFECT_STORAGE``, else ``$SYNAPREFECT_HOME``).
        project_name: the search's name (its folder, runs and artifacts).
        overwrite: start over instead of resuming the search kept in the folder.
        seed: the search's and the training's random choices.
        concurrent_trials: how many trials run at once (their LM calls overlap).
    """
    sp.set_seed(seed)
    rows, _ = load_capitals()
    x = np.array([Query(query=row["query"]) for row in rows], dtype=object)
    y = np.array([Answer(answer=row["answer"]) for row in rows], dtype=object)
    with recipes.open_language_model(model) as lm:
        print(f"Language model: {lm.model}")

        async def build_program(hp):
            inputs = sp.Input(data_model=Query)
            outputs = await sp.Generator(
                data_model=Answer,
                language_model=lm,
                name="answerer",
                temperature=hp.Choice("temperature", [0.0, 0.7]),
            )(inputs)
            program = sp.Program(inputs=inputs, outputs=outputs, name="capitals_tuned")
            examples = hp.Int("nb_max_examples", 0, 3)
            program.compile(
                reward=sp.rewards.ExactMatch(in_mask=["answer"]),
                optimizer=sp.optimizers.RandomFewShot(nb_max_examples=examples)
                if examples
                else None,
            )
            return program

        tuner = tuners.RandomSearch(
            build_program,
            objective="val_reward",
            max_trials=max_trials,
            seed=seed,
            directory=directory or (storage_root() / "tuning").path,
            project_name=project_name,
            overwrite=overwrite,
        )
        await tuner.asearch(
            x[:28],
            y[:28],
            validation_data=(x[28:], y[28:]),
            epochs=epochs,
            batch_size=batch_size,
            verbose=0,
            concurrent_trials=concurrent_trials,
        )
    best = tuner.oracle.get_best_trials(1)[0]
    print(
        f"Best hyperparameters (trial {best.trial_id}, val_reward {best.score}): "
        f"{best.hyperparameters.values}"
    )
    return dict(best.hyperparameters.values)


if __name__ == "__main__":
    # As a script, this example asks for the offline simulated LM unless a real model is
    # configured; a deployment or a call without any model fails instead.
    asyncio.run(tune(model=os.environ.get("SYNAPREFECT_MODEL") or "simulated"))
