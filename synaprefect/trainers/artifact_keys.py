"""Artifact keys: where a program's variables, history, progress, summary, plots and
evaluation scores are published (``Runtime.publish_*``) and read back
(``orchestration.artifacts``).

Keys follow Prefect's rule (lowercase letters, digits and dashes). A key that had to be
changed to follow it, or shortened, ends with a short hash of the original text, so two
different names never share a key. The trainers name what they publish; the
orchestration layer reads it back with the same names.

Example:
```python
artifact_key("My Program/summary")   # 'my-program-summary-<8 hex digits>'
history_table_key("qa")              # 'qa-history'
```
"""

import hashlib
import re

__all__ = [
    "MAX_KEY_LENGTH",
    "artifact_key",
    "variable_artifact_key",
    "history_table_key",
    "summary_key",
    "evaluation_key",
    "progress_key",
    "plots_key",
]

# Prefect bounds neither the key's length nor its database column; 100 characters keep
# keys readable in the UI and in URLs (``/artifacts/key/<key>``) and well under any index
# limit of a PostgreSQL-backed server.
MAX_KEY_LENGTH = 100
_HASH_LENGTH = 8
_NOT_KEY_CHARACTERS = re.compile(r"[^a-z0-9]+")
_VALID_KEY = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


def artifact_key(text: str) -> str:
    """The artifact key for ``text``: itself when it is already a valid key, else a
    lowercase slug of it ending with a hash of the original text.

    Idempotent: ``artifact_key(artifact_key(t)) == artifact_key(t)``.

    Example:
    ```python
    artifact_key("summary")             # 'summary'
    artifact_key("My Program/summary")  # 'my-program-summary-<8 hex digits>'
    ```
    """
    if len(text) <= MAX_KEY_LENGTH and _VALID_KEY.fullmatch(text):
        return text
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:_HASH_LENGTH]
    slug = _NOT_KEY_CHARACTERS.sub("-", text.lower()).strip("-")
    slug = slug[: MAX_KEY_LENGTH - _HASH_LENGTH - 1].rstrip("-")
    return f"{slug}-{digest}" if slug else digest


def variable_artifact_key(program_name: str, variable_path: str) -> str:
    """The key under which every version of a program's variable is published.

    Example:
    ```python
    variable_artifact_key("qa_program", "generator/instructions")
    # 'qa-program-generator-instructions-<8 hex digits>'
    ```
    """
    return artifact_key(f"{program_name}/{variable_path}")


def history_table_key(program_name: str) -> str:
    """The key of the per-epoch metrics table of ``program_name``.

    Example: ``history_table_key("qa")  # 'qa-history'``
    """
    return artifact_key(f"{program_name}-history")


def summary_key(program_name: str) -> str:
    """The key of the run summary of ``program_name``.

    Example: ``summary_key("qa")  # 'qa-summary'``
    """
    return artifact_key(f"{program_name}-summary")


def evaluation_key(program_name: str) -> str:
    """The key of the metrics table of an evaluation of ``program_name``.

    Example: ``evaluation_key("qa")  # 'qa-evaluation'``
    """
    return artifact_key(f"{program_name}-evaluation")


def progress_key(program_name: str) -> str:
    """The key of the progress bar of ``program_name``.

    Example: ``progress_key("qa")  # 'qa-progress'``
    """
    return artifact_key(f"{program_name}-progress")


def plots_key(program_name: str) -> str:
    """The key of the plots published at the end of a fit of ``program_name`` (its
    per-epoch curves and its graph, as images inside a markdown artifact).

    Example: ``plots_key("qa")  # 'qa-plots'``
    """
    return artifact_key(f"{program_name}-plots")
