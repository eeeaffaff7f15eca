"""Artifact read-back: how to get a variable's versions back from Prefect. The keys
(``trainers.artifact_keys``, re-exported here) say where a program's variables, history
and progress live.

JSON documents are stored as *markdown* artifacts whose body is one fenced ```json block:
the Prefect UI renders markdown, while a ``type="json"`` artifact is an unknown type to
the UI, shown as one unformatted line. Both come back from the API as a string, so
reading back is the same work either way.

Nothing here imports Prefect until a ``read_*`` function is called.
"""

from __future__ import annotations

import json
from typing import Any

from synaprefect.trainers.artifact_keys import (
    MAX_KEY_LENGTH,
    artifact_key,
    evaluation_key,
    history_table_key,
    plots_key,
    progress_key,
    summary_key,
    variable_artifact_key,
)
from synaprefect.utils.async_utils import run_sync
from synaprefect.utils.json_utils import pretty_dumps

__all__ = [
    "MAX_KEY_LENGTH",
    "artifact_key",
    "variable_artifact_key",
    "history_table_key",
    "summary_key",
    "evaluation_key",
    "progress_key",
    "plots_key",
    "json_markdown",
    "parse_json_markdown",
    "read_json_history",
    "read_variable_history",
    "read_variable_history_sync",
]

_FENCE_START = "```json\n"
_FENCE_END = "\n```"


def json_markdown(value: Any) -> str:
    """The markdown body storing ``value``: one fenced, indented JSON block.

    JSON escapes line breaks inside strings, so no line of the block can close the fence.

    Example: ``json_markdown({"a": 1})  # '```json\\n{\\n  "a": 1\\n}\\n```'``
    """
    return f"{_FENCE_START}{pretty_dumps(value)}{_FENCE_END}"


def parse_json_markdown(markdown: str) -> Any:
    """The value stored by ``json_markdown``.

    Example: ``parse_json_markdown(json_markdown([1, 2]))  # [1, 2]``
    """
    if not (markdown.startswith(_FENCE_START) and markdown.endswith(_FENCE_END)):
        raise ValueError("Not a JSON artifact written by synaprefect (no ```json block).")
    return json.loads(markdown[len(_FENCE_START) : -len(_FENCE_END)])


async def read_json_history(key: str) -> list[dict]:
    """Every version published under ``key`` by ``Runtime.publish_json``, oldest first,
    each as ``{"value": ..., "created": <ISO timestamp>, "description": ...}``.

    Example:
    ```python
    versions = await read_json_history("qa-summary")
    latest = versions[-1]["value"] if versions else None
    ```
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    artifact_filter = ArtifactFilter(key=ArtifactFilterKey(any_=[artifact_key(key)]))
    by_id: dict = {}
    fetched = 0
    async with get_client() as client:
        # Pages of the server's default size (its maximum, configurable server-side)
        # until one comes back empty; a version published meanwhile shifts the pages, so
        # the same artifact may come twice.
        while page := await client.read_artifacts(
            artifact_filter=artifact_filter, sort=ArtifactSort.CREATED_DESC, offset=fetched
        ):
            fetched += len(page)
            by_id.update((artifact.id, artifact) for artifact in page)
    # Oldest first; ids (UUIDv7, time-ordered) break ties between equal timestamps.
    artifacts = sorted(by_id.values(), key=lambda artifact: (artifact.created, str(artifact.id)))
    return [
        {
            "value": parse_json_markdown(artifact.data),
            "created": artifact.created.isoformat(),
            "description": artifact.description,
        }
        for artifact in artifacts
    ]


async def read_variable_history(program_name: str, variable_path: str) -> list[dict]:
    """Every published version of a program's variable, oldest first, each as
    ``{"value": ..., "created": <ISO timestamp>, "description": ...}``.

    Example:
    ```python
    history = await read_variable_history("qa_program", "generator/instructions")
    print(len(history), history[-1]["value"])
    ```
    """
    return await read_json_history(variable_artifact_key(program_name, variable_path))


def read_variable_history_sync(program_name: str, variable_path: str) -> list[dict]:
    """``read_variable_history`` from synchronous code (a script, a notebook cell).

    Example:
    ```python
    history = read_variable_history_sync("qa_program", "generator/instructions")
    ```
    """
    return run_sync(read_variable_history(program_name, variable_path))
