"""What ``flows/`` and ``synaprefect fit`` share: the default program (one ``Generator``
trained with ``RandomFewShot`` on an exact-match reward), the language model of a job (a
litellm model string, or the offline simulated LM), and a saved program loaded onto a
language model.

Example:
```python
from synaprefect import datasets, recipes

rows = datasets.load_rows("flows/data/capitals.jsonl")
with recipes.open_language_model("openai/gpt-4o-mini") as lm:
    program = await recipes.load_or_build_program(rows, lm, name="capitals")
    x, y = datasets.to_samples(rows, program.inputs, program.outputs)
    await program.fit(x, y, epochs=3)
```
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from synaprefect.data_models import DataModel
from synaprefect.datasets import data_models_for
from synaprefect.storage import storage_root
from synaprefect.trainers.models import replace_language_model

__all__ = [
    "SIMULATED",
    "default_program",
    "load_or_build_program",
    "default_program_path",
    "open_language_model",
    "simulated_lm",
    "load_program",
    "use_language_model",
]

# The model name that asks for the offline simulated LM (demo data only).
SIMULATED = "simulated"


async def default_program(
    input_model: type[DataModel],
    output_model: type[DataModel],
    language_model: Any,
    name: str = "program",
    description: str | None = None,
):
    """A compiled one-``Generator`` program from ``input_model`` to ``output_model``: an
    exact-match reward on every output field and ``RandomFewShot`` few-shot examples
    (what ``make demo`` trains).

    Example:
    ```python
    program = await default_program(Query, Answer, lm, name="capitals")
    await program.fit(x, y, epochs=3)
    ```
    """
    import synaprefect as sp

    inputs = sp.Input(data_model=input_model)
    outputs = await sp.Generator(
        data_model=output_model, language_model=language_model, name="generator"
    )(inputs)
    program = sp.Program(inputs=inputs, outputs=outputs, name=name, description=description)
    program.compile(
        reward=sp.rewards.ExactMatch(in_mask=list(output_model.keys())),
        optimizer=sp.optimizers.RandomFewShot(),
    )
    return program


async def load_or_build_program(
    rows: list[dict],
    language_model: Any,
    path: str | os.PathLike | None = None,
    name: str = "program",
    input_fields: list[str] | None = None,
    output_fields: list[str] | None = None,
):
    """The saved program at ``path`` on ``language_model`` (``load_program``), else a new
    ``default_program`` named ``name`` for the columns of ``rows`` (``data_models_for``).

    Example:
    ```python
    program = await load_or_build_program(rows, lm, name="capitals")        # new
    program = await load_or_build_program(rows, lm, path="capitals.json")   # saved
    ```
    """
    if path:
        return load_program(path, language_model)
    inputs, outputs = data_models_for(rows, input_fields, output_fields)
    return await default_program(inputs, outputs, language_model, name=name)


def default_program_path(name: str) -> str:
    """Where the flows save the program ``name`` unless told otherwise:
    ``<storage>/programs/<name>.json``, with the storage setting (``$SYNAPREFECT_STORAGE``,
    an ``s3://...`` URL in production; default ``$SYNAPREFECT_HOME``).

    Example: ``default_program_path("capitals")  # ~/.synaprefect/programs/capitals.json``
    """
    return (storage_root() / "programs" / f"{name}.json").path


@contextlib.contextmanager
def open_language_model(
    model: str | None = None, api_base: str | None = None, max_concurrency: int = 8
) -> Iterator[Any]:
    """The ``LanguageModel`` for a job, for the ``with`` block.

    ``model`` (else ``$SYNAPREFECT_MODEL``) is any litellm model string; its key comes from
    the provider's environment variable (``OPENAI_API_KEY``, ...), also with ``api_base``
    (an OpenAI-compatible server). ``"simulated"`` starts ``simulated_lm()`` for the
    block: offline, and it only knows the bundled capitals. With no model at all it
    raises before any work: a production job never falls back to a fake model.
    ``$SYNAPREFECT_RATE_LIMIT`` names a Prefect rate limit the model's requests share (see
    ``LanguageModel``), so that every worker running a job respects one provider limit
    together.

    Example:
    ```python
    with open_language_model("openai/gpt-4o-mini") as lm:
        ...
    with open_language_model("simulated") as lm:    # offline
        print(lm.model)                             # openai/simulated
    ```
    """
    from synaprefect.language_models import LanguageModel

    model = model or os.environ.get("SYNAPREFECT_MODEL")
    rate_limit = os.environ.get("SYNAPREFECT_RATE_LIMIT") or None
    if not model:
        raise ValueError(
            "No language model chosen: pass --model / `model=` a litellm model string "
            "(e.g. 'openai/gpt-4o-mini', its key in OPENAI_API_KEY) or set "
            "$SYNAPREFECT_MODEL; 'simulated' runs the offline simulated LM (demo data "
            "only)."
        )
    if model != SIMULATED:
        yield LanguageModel(
            model, api_base=api_base, max_concurrency=max_concurrency, rate_limit=rate_limit
        )
        return
    if api_base:
        raise ValueError(
            f"`api_base={api_base!r}` does not go with the simulated LM: "
            "pass the litellm model string that server serves, e.g. "
            "model='openai/<name>'."
        )
    with simulated_lm(latency=0.01) as server:
        yield LanguageModel(
            server.model,
            api_base=server.base_url,
            api_key=server.api_key,
            max_concurrency=32,
            rate_limit=rate_limit,
        )


def simulated_lm(**kwargs: Any):
    """The offline simulated LM of the demo data (not started; ``kwargs`` go to
    ``SimulatedLM``). Asked for an ``answer``, it knows the bundled capitals and follows
    the house style (uppercase) only when its prompt shows it, by examples or
    instructions; any other request gets a placeholder that fits the requested schema,
    enough to try a pipeline on other data offline.

    Example:
    ```python
    with simulated_lm(port=8000) as server:
        print(server.model, server.base_url)   # openai/simulated http://127.0.0.1:8000/v1
    ```
    """
    from synaprefect.testing import SimulatedLM, schema_responder
    from synaprefect.testing.skills import load_capitals, style_student

    rows, _ = load_capitals()
    student = style_student({row["query"]: row["answer"].title() for row in rows})

    def respond(request):
        asks_answer = "answer" in (request.schema or {}).get("properties", {})
        return student(request) if asks_answer else schema_responder(request)

    return SimulatedLM(responder=respond, **kwargs)


def load_program(path: str | os.PathLike, language_model: Any = None):
    """``Program.load(path)``, with every language model it uses replaced by
    ``language_model`` when given (a saved program remembers the model it was trained
    with, which may be gone: a simulated LM's port, another provider).

    Example:
    ```python
    with open_language_model("openai/gpt-4o-mini") as lm:
        program = load_program("capitals.json", lm)
    ```
    """
    from synaprefect.programs import Program

    program = Program.load(os.fspath(path))
    if language_model is not None:
        use_language_model(program, language_model)
    return program


def use_language_model(program: Any, language_model: Any) -> None:
    """Make every module, reward and optimizer of ``program`` call ``language_model``.

    Example: ``use_language_model(program, sp.LanguageModel("openai/gpt-4o"))``
    """
    replace_language_model(program, language_model)
