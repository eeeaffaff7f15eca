"""Evaluate a saved program on a dataset file, as a Prefect flow.

Copy this file and point it at your program, data and model. As it is, it scores what
``flows/train.py`` saved on the bundled holdout, offline:

    python flows/evaluate.py                   # from the project root, after train.py

Artifact: ``<program>-evaluation-results``, a table with one line per row (where it comes
from, inputs, expected and predicted outputs, reward); its description holds the mean.
"""

import asyncio
import json
import os

from prefect import flow
from prefect.artifacts import acreate_table_artifact

from synaprefect import datasets, recipes
from synaprefect.orchestration.artifacts import artifact_key
from synaprefect.rewards import reduce_rewards


@flow(name="evaluate", log_prints=True)
async def evaluate(
    program: str | None = None,
    data: str = "flows/data/capitals_holdout.jsonl",
    model: str | None = None,
    api_base: str | None = None,
    batch_size: int = 32,
) -> dict:
    """Score ``program`` on ``data``; returns ``{"reward": mean, "samples": n}``.

    Args:
        program: a saved program; None: where ``flows/train.py`` saves ``capitals``.
        data: rows with the program's input and output columns (.json, .jsonl or .csv).
        model: any litellm model string, or "simulated" (the offline simulated LM);
            None: ``$SYNAPREFECT_MODEL``, else the run fails before any work.
        api_base: the OpenAI-compatible server of ``model``, if any.
        batch_size: samples sent together.
    """
    path = program or recipes.default_program_path("capitals")
    rows = datasets.load_rows(data)
    with recipes.open_language_model(model, api_base) as lm:
        scored = recipes.load_program(path, lm)
        x, y = datasets.to_samples(rows, scored.inputs, scored.outputs)
        predictions = list(await scored.predict(x, batch_size=batch_size))
        rewards = await scored.compute_rewards(list(y), predictions)
    reward = reduce_rewards(rewards)
    print(f"{scored.name} ({path}) on {data}: reward {reward:.3f} over {len(rows)} rows.")

    def text(sample) -> str:
        return json.dumps(sample.get_json() if sample is not None else None, ensure_ascii=False)

    await acreate_table_artifact(
        key=artifact_key(f"{scored.name}-evaluation-results"),
        description=f"`{path}` on `{data}`: mean reward {reward:.4f} over {len(rows)} rows",
        table=[
            {
                "row": rows.where(i),
                "inputs": text(x[i]),
                "expected": text(y[i]),
                "predicted": text(predictions[i]),
                "reward": rewards[i],
            }
            for i in range(len(rows))
        ],
    )
    return {"reward": reward, "samples": len(rows)}


if __name__ == "__main__":
    # Run as a script, this example asks for the offline simulated LM unless a real model
    # is configured; a deployment or a call without any model fails instead.
    print(asyncio.run(evaluate(model=os.environ.get("SYNAPREFECT_MODEL") or "simulated")))
