"""What a search publishes: a table of its trials and its best hyperparameters, under
keys named after its project.

Example:
```python
await publish_results(tuner.oracle, "capitals", runtime)
best_hyperparameters_key("capitals")    # 'capitals-best-hyperparameters'
```
"""

from typing import Any

from synaprefect.orchestration.artifacts import artifact_key, json_markdown
from synaprefect.trainers.runtime import Runtime

__all__ = ["best_hyperparameters_key", "trials_table_key", "publish_results"]


def best_hyperparameters_key(project_name: str) -> str:
    """The key of the markdown artifact holding a search's best hyperparameters.

    Example: ``best_hyperparameters_key("capitals")  # 'capitals-best-hyperparameters'``
    """
    return artifact_key(f"{project_name}-best-hyperparameters")


def trials_table_key(project_name: str) -> str:
    """The key of the table artifact listing every trial of a search.

    Example: ``trials_table_key("capitals")  # 'capitals-trials'``
    """
    return artifact_key(f"{project_name}-trials")


async def publish_results(oracle: Any, project_name: str, runtime: Runtime) -> None:
    """A search's artifacts (tracking on): the table of every trial and, once one scored,
    the best hyperparameters.

    Example: ``await publish_results(tuner.oracle, tuner.project_name, get_runtime())``
    """
    if not runtime.tracking:
        return
    trials = [oracle.trials[trial_id] for trial_id in sorted(oracle.trials)]
    rows = [
        {
            "trial": trial.trial_id,
            "status": trial.status,
            "score": trial.score,
            **trial.hyperparameters.values,
        }
        for trial in trials
    ]
    columns = list(dict.fromkeys(key for row in rows for key in row))
    await runtime.publish_table(
        trials_table_key(project_name),
        [{column: row.get(column) for column in columns} for row in rows],
        f"trials of the search {project_name}",
    )
    best = oracle.get_best_trials(1)
    if not best or best[0].score is None:
        return
    objective = oracle.objective
    markdown = "\n".join(
        [
            f"# Best hyperparameters of `{project_name}`",
            "",
            f"- trial: {best[0].trial_id}",
            f"- {objective.name} ({objective.direction}): {best[0].score}",
            "",
            json_markdown(best[0].hyperparameters.values),
        ]
    )
    await runtime.publish_markdown(
        best_hyperparameters_key(project_name), markdown, f"best hyperparameters of {project_name}"
    )
