"""Train a program on a dataset file, evaluate it on a holdout and save it, as a Prefect flow.

Copy this file and point it at your data and model. As it is, it runs offline on the
bundled capitals data and the simulated LM:

    python flows/train.py                      # from the project root
    prefect deployment run train/train --param model=openai/gpt-4o-mini   # once deployed

Rows map onto the program's data models by column name. A new program is one Generator
whose output is the dataset's last column (the others are its inputs), trained with
RandomFewShot on an exact-match reward. Relative paths are resolved against the working
directory: the project root, for deployments made with deployments/prefect.yaml.

Artifacts: the fit's own (each variable's versions, the history table, the summary), the
evaluation table and ``<name>-train-report``.
"""

import asyncio
import os

from prefect import flow
from prefect.artifacts import acreate_markdown_artifact

import synaprefect as sp
from synaprefect import datasets, recipes
from synaprefect.orchestration.artifacts import artifact_key
from synaprefect.storage import absolute
from synaprefect.trainers.data import train_validation_split


@flow(name="train", log_prints=True)
async def train(
    data: str = "flows/data/capitals.jsonl",
    holdout: str | None = "flows/data/capitals_holdout.jsonl",
    program: str | None = None,
    output: str | None = None,
    name: str = "capitals",
    model: str | None = None,
    api_base: str | None = None,
    epochs: int = 3,
    batch_size: int = 7,
    validation_split: float = 0.25,
    seed: int = 7,
) -> dict:
    """Train, evaluate and save a program; returns its holdout scores and path.

    Args:
        data: training rows (.json, .jsonl or .csv).
        holdout: rows to score the trained program on; None: the validation split.
        program: a saved program to train further; None: a new program named ``name``.
        output: where to save the trained program; None:
            ``$SYNAPREFECT_HOME/programs/<name>.json``.
        name: the new program's name, which prefixes its runs and artifacts.
        model: any litellm model string, or "simulated" (the offline simulated LM);
            None: ``$SYNAPREFECT_MODEL``, else the run fails before any work.
        api_base: the OpenAI-compatible server of ``model``, if any.
        epochs, batch_size, validation_split: as in ``Program.fit``.
        seed: shuffling and optimizer choices (``synaprefect.set_seed``).
    """
    sp.set_seed(seed)
    rows = datasets.load_rows(data)
    holdout_rows = datasets.load_rows(holdout) if holdout else None
    with recipes.open_language_model(model, api_base) as lm:
        trained = await recipes.load_or_build_program(rows, lm, program, name=name)
        x, y = datasets.to_samples(rows, trained.inputs, trained.outputs)
        if holdout_rows:
            test_x, test_y = datasets.to_samples(holdout_rows, trained.inputs, trained.outputs)
        else:
            _, (test_x, test_y) = train_validation_split(list(x), list(y), validation_split)
        await trained.fit(
            x, y, epochs=epochs, batch_size=batch_size, validation_split=validation_split, verbose=0
        )
        scores = await trained.evaluate(test_x, test_y, verbose=0)
    path = absolute(output or recipes.default_program_path(trained.name))
    trained.save(path)
    evaluated_on = holdout or "the validation split"
    print(f"Saved {trained.name} to {path}; reward {scores['reward']:.3f} on {evaluated_on}.")
    await acreate_markdown_artifact(
        key=artifact_key(f"{trained.name}-train-report"),
        description=f"Training of {trained.name}",
        markdown="\n".join(
            [
                f"# Training of `{trained.name}`",
                "",
                "| | |",
                "|---|---|",
                f"| training data | `{data}` ({len(x)} rows) |",
                f"| evaluated on | `{evaluated_on}` ({len(test_x)} rows) |",
                f"| model | `{lm.model}` |",
                f"| epochs / batch size | {epochs} / {batch_size} |",
                *(f"| {metric} | {value:.4f} |" for metric, value in scores.items()),
                f"| saved to | `{path}` |",
            ]
        ),
    )
    return {"program": path, **scores}


if __name__ == "__main__":
    # Run as a script, this example asks for the offline simulated LM unless a real model
    # is configured; a deployment or a call without any model fails instead.
    print(asyncio.run(train(model=os.environ.get("SYNAPREFECT_MODEL") or "simulated")))
