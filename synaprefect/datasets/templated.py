"""Any Hugging Face dataset split from the local cache, its rows rendered into data models
by Jinja2 templates: Synalinks' ``load_split``, offline.

The split is ``<datasets dir>/<path>[/<name>]/<split>.jsonl`` (one upstream row per line,
as for the built-in benchmarks; see docs/datasets.md). Each template renders a row (its
columns are the template's variables) into the JSON of one data model.

Example:
```python
x, y = load_split(
    path="dair-ai/emotion", split="train",                 # <datasets dir>/dair-ai/emotion/train.jsonl
    input_data_model=Tweet, input_template='{"text": {{ text | tojson }}}',
    output_data_model=Label, output_template='{"label": {{ label }}}',
    limit=200,
)
```
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath

import jinja2

from synaprefect.datasets.benchmark import Arrays, Benchmark

__all__ = ["load_split"]


def load_split(
    path: str,
    *,
    split: str,
    input_data_model: type,
    input_template: str,
    name: str | None = None,
    output_data_model: type | None = None,
    output_template: str | None = None,
    limit: int | None = None,
) -> Arrays | tuple:
    """``(x, y)`` of one cached split, numpy object arrays of data models; ``(x,)``
    without an output template. ``path`` and ``name`` are the Hugging Face dataset and
    config (``load_dataset(path, name, split=split)``); ``limit`` keeps the first rows.

    Example:
    ```python
    x, y = load_split(path="openai/gsm8k", name="main", split="test",
                      input_data_model=MathQuestion,
                      input_template='{"question": {{ question | tojson }}}',
                      output_data_model=Answer,
                      output_template='{"answer": {{ answer.split("####")[-1] | float }}}')
    ```
    """
    if (output_data_model is None) != (output_template is None):
        raise ValueError(
            "Pass `output_data_model` and `output_template` together (or neither, for inputs only)."
        )
    folder = "/".join(part for part in (path, name) if part)
    parts = PurePosixPath(folder).parts
    if not parts or folder.startswith("/") or any(p in (".", "..") for p in parts):
        raise ValueError(
            f"`path` (and `name`) must name a dataset such as "
            f"'dair-ai/emotion', got path={path!r}, name={name!r}."
        )
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    source = Benchmark(
        name=folder,
        source=path,
        config=name,
        columns=(),
        input_model=input_data_model,
        output_model=output_data_model,
        inputs=_renderer(environment, input_template, "input_template"),
        outputs=_renderer(environment, output_template or "{}", "output_template"),
        train_split=split,
    )
    x, y = source.load_split(split, limit=limit)
    return (x,) if output_template is None else (x, y)


def _renderer(environment: jinja2.Environment, template: str, argument: str):
    try:
        compiled = environment.from_string(template)
    except jinja2.TemplateSyntaxError as error:
        raise ValueError(
            f"`{argument}` is not a valid Jinja2 template: {error.message} (line {error.lineno})."
        ) from None

    def render(row: dict) -> dict:
        try:
            text = compiled.render(row)
        except jinja2.TemplateError as error:
            raise ValueError(f"`{argument}` cannot render the row: {error}") from None
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"`{argument}` rendered {text[:80]!r}, not JSON: {error.msg}"
            ) from None
        if not isinstance(value, dict):
            raise ValueError(f"`{argument}` must render a JSON object, got {text[:80]!r}")
        return value

    return render
