"""Champion / challenger retraining, as a Prefect flow (deployed nightly by
deployments/prefect.yaml).

Each run trains a challenger on the newest data, scores it and the current champion on
the same holdout, and promotes the challenger only when it beats the champion by more
than ``margin``; the first run, with no champion yet, promotes it. Every challenger is
saved (``$SYNAPREFECT_HOME/programs/<name>-<flow run id>.json``); the champion pointer is
the Prefect Variable ``<name>-champion`` (Variables page of the UI):
``{"path", "reward", "flow_run_id", "data", "promoted_at"}``. Delete the Variable to
start over; set it to roll back.

Artifacts: ``<name>-retrain-decision`` (the decision and why), ``<name>-retrain-scores``
(both holdout rewards) and ``<name>-retrain-diff`` (the trained variables that differ),
besides the fit's and evaluations' own.

    python flows/retrain.py                    # from the project root, offline
"""

import asyncio
import datetime
import json
import os

from prefect import flow
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.runtime import flow_run
from prefect.variables import Variable

import synaprefect as sp
from synaprefect import datasets, recipes
from synaprefect.data_models.trainable import BOOKKEEPING_KEYS
from synaprefect.orchestration.artifacts import artifact_key
from synaprefect.storage import absolute, location


@flow(name="retrain", log_prints=True)
async def retrain(
    data: str = "flows/data/capitals.jsonl",
    holdout: str = "flows/data/capitals_holdout.jsonl",
    name: str = "capitals",
    margin: float = 0.0,
    champion_variable: str | None = None,
    program: str | None = None,
    model: str | None = None,
    api_base: str | None = None,
    epochs: int = 3,
    batch_size: int = 7,
    validation_split: float = 0.25,
    seed: int = 7,
) -> dict:
    """Train a challenger on ``data``, promote it if it beats the champion on ``holdout``.

    Args:
        data: the newest training rows (.json, .jsonl or .csv).
        holdout: the rows both programs are scored on; keep it fixed across runs.
        name: the program's name, which prefixes its runs and artifacts.
        margin: how much more holdout reward the challenger needs (0: any improvement).
        champion_variable: the Prefect Variable of the champion pointer; None:
            ``<name>-champion``.
        program: a saved program the challenger starts from; None: a new program.
        model: any litellm model string, or "simulated" (the offline simulated LM);
            None: ``$SYNAPREFECT_MODEL``, else the run fails before any work.
        api_base: the OpenAI-compatible server of ``model``, if any.
        epochs, batch_size, validation_split: as in ``Program.fit``.
        seed: shuffling and optimizer choices (``synaprefect.set_seed``).
    """
    sp.set_seed(seed)
    rows, holdout_rows = datasets.load_rows(data), datasets.load_rows(holdout)
    variable = champion_variable or f"{name}-champion"
    pointer = await Variable.aget(variable, default=None)
    with recipes.open_language_model(model, api_base) as lm:
        challenger = await recipes.load_or_build_program(rows, lm, program, name=name)
        x, y = datasets.to_samples(rows, challenger.inputs, challenger.outputs)
        test_x, test_y = datasets.to_samples(holdout_rows, challenger.inputs, challenger.outputs)
        champion = None
        if pointer is not None:
            if not location(pointer["path"]).exists():
                raise FileNotFoundError(
                    f"The champion {pointer['path']!r} named by the Prefect Variable "
                    f"{variable!r} is gone: restore it, or delete the Variable to promote "
                    "the next challenger."
                )
            champion = recipes.load_program(pointer["path"], lm)
            champion.name = f"{name}-champion"  # its evaluation runs and artifacts say so
        await challenger.fit(
            x, y, epochs=epochs, batch_size=batch_size, validation_split=validation_split, verbose=0
        )
        challenger_reward = (await challenger.evaluate(test_x, test_y, verbose=0))["reward"]
        champion_reward = None
        if champion is not None:
            champion_reward = (await champion.evaluate(test_x, test_y, verbose=0))["reward"]

    path = absolute(recipes.default_program_path(f"{name}-{flow_run.id}"))
    challenger.save(path)
    promoted = champion_reward is None or challenger_reward > champion_reward + margin
    if promoted:
        pointer = {
            "path": path,
            "reward": challenger_reward,
            "flow_run_id": str(flow_run.id),
            "data": data,
            "promoted_at": datetime.datetime.now(datetime.UTC).isoformat(),
        }
        await Variable.aset(variable, pointer, overwrite=True)
    if champion_reward is None:
        reason = "there was no champion yet"
    else:
        verb = "beats" if promoted else "does not beat"
        reason = (
            f"the challenger {verb} the champion by more than {margin:g} "
            f"({challenger_reward:.4f} vs {champion_reward:.4f})"
        )
    decision = "promoted" if promoted else "kept the champion"
    print(f"Retrain of {name}: {decision}: {reason}. Champion: {pointer['path']}.")
    await acreate_markdown_artifact(
        key=artifact_key(f"{name}-retrain-decision"),
        description=f"Retrain of {name}: {decision}",
        markdown=f"# Retrain of `{name}`: {decision}\n\nBecause {reason}.\n\n"
        f"- champion now: `{pointer['path']}` (Prefect Variable `{variable}`)\n"
        f"- this run's challenger: `{path}`\n",
    )
    await acreate_table_artifact(
        key=artifact_key(f"{name}-retrain-scores"),
        description=f"Holdout rewards of the champion and the challenger of {name}",
        table=[
            {"program": "champion", "holdout_reward": champion_reward},
            {"program": "challenger", "holdout_reward": challenger_reward},
        ],
    )
    await acreate_markdown_artifact(
        key=artifact_key(f"{name}-retrain-diff"),
        description=f"Trained variables of {name}: champion vs challenger",
        markdown=_diff_markdown(name, _variable_diff(champion, challenger)),
    )
    return {
        "promoted": promoted,
        "challenger_reward": challenger_reward,
        "champion_reward": champion_reward,
        "champion": pointer["path"],
        "challenger": path,
    }


def _variable_diff(champion, challenger) -> list[dict]:
    """``{variable, field, champion, challenger}`` for each trained field that differs:
    the few-shot examples and the variable's own fields (instructions...), not the rest
    of the optimizer's bookkeeping (predictions, candidates, history)."""

    def trained(variable) -> dict:
        return {
            key: value
            for key, value in variable.value().items()
            if key == "examples" or key not in BOOKKEEPING_KEYS
        }

    before = {v.path: trained(v) for v in (champion.trainable_variables if champion else [])}
    changes = []
    for variable in challenger.trainable_variables:
        old, new = before.get(variable.path, {}), trained(variable)
        changes += [
            {
                "variable": variable.path,
                "field": field,
                "champion": old.get(field),
                "challenger": new.get(field),
            }
            for field in sorted(set(old) | set(new))
            if old.get(field) != new.get(field)
        ]
    return changes


def _diff_markdown(name: str, changes: list[dict]) -> str:
    lines = [f"# Trained variables: champion → challenger of `{name}`", ""]
    for change in changes:
        lines += [f"## `{change['variable']}`: {change['field']}", ""]
        for side in ("champion", "challenger"):
            lines += [
                f"{side}:",
                "",
                "```json",
                json.dumps(change[side], indent=2, ensure_ascii=False),
                "```",
                "",
            ]
    return "\n".join(lines if changes else lines + ["No trained variable differs."])


if __name__ == "__main__":
    # Run as a script, this example asks for the offline simulated LM unless a real model
    # is configured; a deployment or a call without any model fails instead.
    print(asyncio.run(retrain(model=os.environ.get("SYNAPREFECT_MODEL") or "simulated")))
