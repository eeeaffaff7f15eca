"""Datasets from files, and what the flows and the command line train on them.

Rows come from a JSON array, a JSON object with a ``"rows"`` array, JSON Lines or CSV
(chosen by extension) and map onto a program's data models, column name = field name.
Every error names the file and the 1-based line of the row at fault.

The rest is what ``flows/`` and ``synaprefect fit`` share: data models made from the
columns, the default program (one ``Generator`` trained with ``RandomFewShot`` on an
exact-match reward), the language model (a litellm model string, or the offline
simulated LM) and loading a saved program onto a language model.

Example:
```python
from synaprefect import datasets

rows = datasets.load_rows("flows/data/capitals.jsonl")     # [{"query": ..., "answer": ...}]
inputs, outputs = datasets.data_models_for(rows)           # the last column is the output
with datasets.open_language_model("openai/gpt-4o-mini") as lm:
    program = await datasets.default_program(inputs, outputs, lm, name="capitals")
    x, y = datasets.to_samples(rows, program.inputs, program.outputs)
    await program.fit(x, y, epochs=3)
```
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pydantic

from synaprefect.storage import location, storage_root
from synaprefect.trainers.data import object_array

__all__ = [
    "DatasetError",
    "Rows",
    "load_rows",
    "to_samples",
    "data_models_for",
    "default_program",
    "load_or_build_program",
    "default_program_path",
    "open_language_model",
    "simulated_lm",
    "load_program",
    "use_language_model",
]

FORMATS = (".json", ".jsonl", ".csv")
# The model name that asks for the offline simulated LM (demo data only).
SIMULATED = "simulated"
_WHITESPACE = re.compile(r"[ \t\r\n]*")


class DatasetError(ValueError):
    """A dataset file that cannot be read, or a row that does not fit the data models.
    The message starts with ``<file>:<line>:`` (or ``<file>:`` for the whole file)."""


class Rows(list):
    """Row dicts that remember where each came from, for error messages.

    Example:
    ```python
    rows = load_rows("data.csv")
    rows.where(0)          # 'data.csv:2' (line 1 is the header)
    Rows([{"q": "hi"}]).where(0)   # 'row 1'
    ```
    """

    def __init__(self, rows: Iterable[dict] = (), source: str | None = None,
                 lines: list[int] | None = None):
        super().__init__(rows)
        self.source = source
        self.lines = lines

    def where(self, index: int) -> str:
        """``<file>:<line>`` of row ``index``, or ``row <n>`` for rows not read from a file."""
        if self.source is None or self.lines is None:
            return f"row {index + 1}"
        return f"{self.source}:{self.lines[index]}"


def load_rows(path: str | os.PathLike) -> Rows:
    """The rows of a dataset file, as dicts, by extension: ``.json`` (an array of objects,
    or an object with a ``"rows"`` array), ``.jsonl`` (one object per line) or ``.csv``
    (a header line, then one row per record; values are strings).

    Raises ``FileNotFoundError`` for a missing file and ``DatasetError`` naming the file
    and line of anything malformed.

    Example:
    ```python
    rows = load_rows("flows/data/capitals.jsonl")
    rows[0]         # {'query': 'What is the capital of France?', 'answer': 'PARIS'}
    ```
    """
    source = location(path)  # a local path or a storage URL (s3://bucket/rows.jsonl)
    name = source.url
    suffix = Path(source.name).suffix.lower()
    if suffix not in FORMATS:
        raise DatasetError(
            f"{name}: unsupported dataset format {suffix or '(no extension)'!r}; use .json "
            "(an array of rows, or an object with a \"rows\" array), .jsonl (one JSON "
            "object per line) or .csv (a header line, then one row per line)."
        )
    try:
        data = source.read_bytes("dataset file")
    except FileNotFoundError:
        raise FileNotFoundError(f"Dataset file not found: '{name}' (working directory: "
                                f"{Path.cwd()}).") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DatasetError(f"{name}: not UTF-8 text ({error.reason} at byte "
                           f"{error.start}).") from None
    reader = {".json": _json_rows, ".jsonl": _jsonl_rows, ".csv": _csv_rows}[suffix]
    rows, lines = reader(text, name)
    if not rows:
        raise DatasetError(f"{name}: the dataset has no rows.")
    return Rows(rows, source=name, lines=lines)


def to_samples(rows: list[dict], input_model: Any, output_model: Any = None,
               columns: Mapping[str, str] | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """``(x, y)``: one input sample (and one target when ``output_model`` is given) per
    row, as numpy object arrays ready for ``fit`` / ``evaluate`` / ``predict``.

    The models are ``DataModel`` classes, or a program's ``inputs`` / ``outputs`` (a
    loaded program's data models are known by their schemas). Each field reads the
    column of the same name, or ``columns[field]``; other columns are ignored.

    Example:
    ```python
    x, y = to_samples(load_rows("qa.csv"), Query, Answer)
    x, _ = to_samples(rows, program.inputs)                # inputs only, for predict
    x, y = to_samples(rows, Query, Answer, columns={"answer": "expected"})
    ```
    """
    rows = rows if isinstance(rows, Rows) else Rows(rows)
    columns = dict(columns or {})
    x = object_array([_sample(rows, i, input_model, columns) for i in range(len(rows))])
    if output_model is None:
        return x, None
    y = object_array([_sample(rows, i, output_model, columns) for i in range(len(rows))])
    return x, y


def data_models_for(rows: list[dict], input_fields: list[str] | None = None,
                    output_fields: list[str] | None = None) -> tuple[type, type]:
    """Two ``DataModel`` classes of string fields, ``(Inputs, Outputs)``, for the columns
    of ``rows`` (those of the first row, in order): by default the last column is the
    output and every other column an input.

    Example:
    ```python
    Inputs, Outputs = data_models_for(rows)                            # query -> answer
    Inputs, Outputs = data_models_for(rows, ["question"], ["answer"])  # explicit
    ```
    """
    from synaprefect.data_models import DataModel, Field

    rows = rows if isinstance(rows, Rows) else Rows(rows)
    if not rows:
        raise DatasetError("The dataset has no rows: there are no columns to build data "
                           "models from.")
    available = list(rows[0])
    outputs = list(output_fields or available[-1:])
    inputs = list(input_fields or [c for c in available if c not in outputs])
    for field in inputs + outputs:
        if field not in available:
            raise DatasetError(f"{rows.where(0)}: no column {field!r}; the columns are "
                               f"{available}.")
        if not field.isidentifier():
            raise DatasetError(f"{rows.where(0)}: column {field!r} cannot be a field name "
                               "(use letters, digits and underscores); rename it.")
    if not inputs or not outputs or set(inputs) & set(outputs):
        raise ValueError(
            f"Expected at least one input and one output field, none in both; got inputs "
            f"{inputs} and outputs {outputs}. The columns are {available}."
        )

    def model(name: str, fields: list[str]) -> type:
        return pydantic.create_model(name, __base__=DataModel, **{
            field: (str, Field(description=f"The {field}")) for field in fields})

    return model("Inputs", inputs), model("Outputs", outputs)


async def default_program(input_model: type, output_model: type, language_model: Any,
                          name: str = "program", description: str | None = None):
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
    outputs = await sp.Generator(data_model=output_model, language_model=language_model,
                                 name="generator")(inputs)
    program = sp.Program(inputs=inputs, outputs=outputs, name=name, description=description)
    program.compile(reward=sp.rewards.ExactMatch(in_mask=list(output_model.keys())),
                    optimizer=sp.optimizers.RandomFewShot())
    return program


async def load_or_build_program(rows: list[dict], language_model: Any,
                                path: str | os.PathLike | None = None,
                                name: str = "program", input_fields: list[str] | None = None,
                                output_fields: list[str] | None = None):
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
def open_language_model(model: str | None = None, api_base: str | None = None,
                        max_concurrency: int = 8) -> Iterator[Any]:
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
        yield LanguageModel(model, api_base=api_base, max_concurrency=max_concurrency,
                            rate_limit=rate_limit)
        return
    if api_base:
        raise ValueError(f"`api_base={api_base!r}` does not go with the simulated LM: "
                         "pass the litellm model string that server serves, e.g. "
                         "model='openai/<name>'.")
    with simulated_lm(latency=0.01) as server:
        yield LanguageModel(server.model, api_base=server.base_url, api_key=server.api_key,
                            max_concurrency=32, rate_limit=rate_limit)


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
    from synaprefect.language_models import LanguageModel

    # The owners program.language_models() collects the models from.
    owners: list[Any] = list(program._walk())
    if program.compiled:
        owners += list(program._rewards.rewards)
        if program.optimizer is not None:
            owners.append(program.optimizer)
            owners += [m for module in program.optimizer.modules() for m in module._walk()]
    for owner in owners:
        for attribute, value in list(vars(owner).items()):
            if isinstance(value, LanguageModel):
                setattr(owner, attribute, language_model)


# ---- readers: (rows, 1-based line of each row) -----------------------------------------


def _json_rows(text: str, path: str) -> tuple[list, list[int]]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise DatasetError(f"{path}:{error.lineno}: not valid JSON: {error.msg} (column "
                           f"{error.colno}).") from None
    if isinstance(document, dict):
        if not isinstance(document.get("rows"), list):
            found = (f"its \"rows\" is {_json_kind(document['rows'])}"
                     if "rows" in document else f"found the keys {sorted(document)}")
            raise DatasetError(f"{path}:1: a JSON object dataset needs a \"rows\" array; "
                               f"{found}.")
        rows = document["rows"]
    elif isinstance(document, list):
        rows = document
    else:
        raise DatasetError(f"{path}:1: expected an array of rows or an object with a "
                           f"\"rows\" array, got {_json_kind(document)}.")
    lines = [text.count("\n", 0, offset) + 1 for offset in _row_offsets(text)]
    for row, line in zip(rows, lines):
        _check_object(row, f"{path}:{line}")
    return rows, lines


def _row_offsets(text: str) -> list[int]:
    """Where each row of a valid JSON dataset starts: the elements of the top-level
    array, or of the object's last "rows" array (the one ``json.loads`` keeps)."""
    decoder = json.JSONDecoder()

    def skip(i: int) -> int:
        return _WHITESPACE.match(text, i).end()

    def elements(i: int) -> list[int]:  # i is at "["
        offsets, i = [], skip(i + 1)
        while text[i] != "]":
            offsets.append(i)
            i = skip(decoder.raw_decode(text, i)[1])
            if text[i] == ",":
                i = skip(i + 1)
        return offsets

    i = skip(0)
    if text[i] == "[":
        return elements(i)
    offsets, i = [], skip(i + 1)
    while text[i] != "}":
        key, i = decoder.raw_decode(text, i)
        i = skip(skip(i) + 1)  # past ":"
        if key == "rows":
            offsets = elements(i)
        i = skip(decoder.raw_decode(text, i)[1])
        if text[i] == ",":
            i = skip(i + 1)
    return offsets


def _jsonl_rows(text: str, path: str) -> tuple[list, list[int]]:
    rows, lines = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise DatasetError(f"{path}:{number}: not valid JSON: {error.msg} (column "
                               f"{error.colno}).") from None
        _check_object(row, f"{path}:{number}")
        rows.append(row)
        lines.append(number)
    return rows, lines


def _csv_rows(text: str, path: str) -> tuple[list, list[int]]:
    reader = csv.reader(text.splitlines(keepends=True))
    try:
        header = next(reader)
    except StopIteration:
        raise DatasetError(f"{path}: empty CSV file; the first line must name the "
                           "columns.") from None
    except csv.Error as error:
        raise DatasetError(f"{path}:1: malformed CSV: {error}.") from None
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if not header or duplicates or "" in header:
        raise DatasetError(f"{path}:1: the header must name every column once; got "
                           f"{header}.")
    rows, lines, end = [], [], reader.line_num
    while True:
        start = end + 1  # a quoted value may span lines: a row starts after the last one
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise DatasetError(f"{path}:{start}: malformed CSV: {error}.") from None
        end = reader.line_num
        if not record:  # a blank line
            continue
        if len(record) != len(header):
            raise DatasetError(f"{path}:{start}: {len(record)} value(s), but the header "
                               f"(line 1) has {len(header)} columns: {header}.")
        rows.append(dict(zip(header, record)))
        lines.append(start)
    return rows, lines


def _json_kind(value: Any) -> str:
    kinds = {str: "a string", bool: "a boolean", int: "a number", float: "a number",
             list: "an array", dict: "an object", type(None): "null"}
    return kinds[type(value)]


def _check_object(row: Any, where: str) -> None:
    if not isinstance(row, dict):
        raise DatasetError(f"{where}: a row must be a JSON object such as "
                           f"{{\"query\": \"...\"}}, got {json.dumps(row)[:60]}.")


# ---- rows -> samples -------------------------------------------------------------------


def _sample(rows: Rows, index: int, model: Any, columns: dict[str, str]) -> Any:
    from synaprefect.data_models import DataModel, JsonDataModel
    from synaprefect.data_models.validation import schema_errors

    where = rows.where(index)
    if not hasattr(model, "get_schema"):
        raise TypeError(f"Expected a DataModel class or a program's inputs/outputs, got "
                        f"{model!r}. A program with several inputs or outputs needs its "
                        "samples built in code.")
    schema = model.get_schema()
    title = schema.get("title", "the data model")
    row = rows[index]
    values = {}
    for field in schema.get("properties", {}):
        column = columns.get(field, field)
        if column in row:
            values[field] = row[column]
        elif field in schema.get("required", []):
            raise DatasetError(f"{where}: missing column {column!r} (field {field!r} of "
                               f"{title}); the row has the columns {sorted(row)}.")
    if isinstance(model, type) and issubclass(model, DataModel):
        try:
            return model(**values)
        except pydantic.ValidationError as error:
            problems = "; ".join(f"field `{'.'.join(map(str, e['loc']))}`: {e['msg']}"
                                 for e in error.errors())
            raise DatasetError(f"{where}: the row does not fit {model.__name__}: "
                               f"{problems}.") from None
    problems = schema_errors(values, schema)
    if problems:
        raise DatasetError(f"{where}: the row does not fit {title}: {'; '.join(problems)}.")
    return JsonDataModel(json=values, schema=schema)
