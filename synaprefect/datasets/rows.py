"""Dataset files -> rows: JSON, JSON Lines or CSV, each row a dict, each remembered by
the line it came from so that every error names ``<file>:<line>``.

Example:
```python
from synaprefect.datasets import load_rows

rows = load_rows("flows/data/capitals.jsonl")   # [{"query": ..., "answer": ...}, ...]
rows.where(0)                                   # 'flows/data/capitals.jsonl:1'
```
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from synaprefect.storage import location

__all__ = ["DatasetError", "Rows", "load_rows"]

FORMATS = (".json", ".jsonl", ".csv")
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

    def __init__(
        self, rows: Iterable[dict] = (), source: str | None = None, lines: list[int] | None = None
    ):
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
            '(an array of rows, or an object with a "rows" array), .jsonl (one JSON '
            "object per line) or .csv (a header line, then one row per line)."
        )
    try:
        data = source.read_bytes("dataset file")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"Dataset file not found: '{name}' (working directory: {Path.cwd()})."
        ) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DatasetError(
            f"{name}: not UTF-8 text ({error.reason} at byte {error.start})."
        ) from None
    reader = {".json": _json_rows, ".jsonl": _jsonl_rows, ".csv": _csv_rows}[suffix]
    rows, lines = reader(text, name)
    if not rows:
        raise DatasetError(f"{name}: the dataset has no rows.")
    return Rows(rows, source=name, lines=lines)


# ---- readers: (rows, 1-based line of each row) -----------------------------------------


def _json_rows(text: str, path: str) -> tuple[list, list[int]]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise DatasetError(
            f"{path}:{error.lineno}: not valid JSON: {error.msg} (column {error.colno})."
        ) from None
    if isinstance(document, dict):
        if not isinstance(document.get("rows"), list):
            found = (
                f'its "rows" is {_json_kind(document["rows"])}'
                if "rows" in document
                else f"found the keys {sorted(document)}"
            )
            raise DatasetError(f'{path}:1: a JSON object dataset needs a "rows" array; {found}.')
        rows = document["rows"]
    elif isinstance(document, list):
        rows = document
    else:
        raise DatasetError(
            f"{path}:1: expected an array of rows or an object with a "
            f'"rows" array, got {_json_kind(document)}.'
        )
    lines = [text.count("\n", 0, offset) + 1 for offset in _row_offsets(text)]
    for row, line in zip(rows, lines):
        _check_object(row, f"{path}:{line}")
    return rows, lines


def _row_offsets(text: str) -> list[int]:
    """Where each row of a valid JSON dataset starts: the elements of the top-level
    array, or of the object's last "rows" array (the one ``json.loads`` keeps)."""
    decoder = json.JSONDecoder()

    def skip(i: int) -> int:
        match = _WHITESPACE.match(text, i)
        assert match is not None  # a starred pattern matches everywhere
        return match.end()

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
            raise DatasetError(
                f"{path}:{number}: not valid JSON: {error.msg} (column {error.colno})."
            ) from None
        _check_object(row, f"{path}:{number}")
        rows.append(row)
        lines.append(number)
    return rows, lines


def _csv_rows(text: str, path: str) -> tuple[list, list[int]]:
    reader = csv.reader(text.splitlines(keepends=True))
    try:
        header = next(reader)
    except StopIteration:
        raise DatasetError(
            f"{path}: empty CSV file; the first line must name the columns."
        ) from None
    except csv.Error as error:
        raise DatasetError(f"{path}:1: malformed CSV: {error}.") from None
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if not header or duplicates or "" in header:
        raise DatasetError(f"{path}:1: the header must name every column once; got {header}.")
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
            raise DatasetError(
                f"{path}:{start}: {len(record)} value(s), but the header "
                f"(line 1) has {len(header)} columns: {header}."
            )
        rows.append(dict(zip(header, record)))
        lines.append(start)
    return rows, lines


def _json_kind(value: Any) -> str:
    kinds = {
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        list: "an array",
        dict: "an object",
        type(None): "null",
    }
    return kinds[type(value)]


def _check_object(row: Any, where: str) -> None:
    if not isinstance(row, dict):
        raise DatasetError(
            f"{where}: a row must be a JSON object such as "
            f'{{"query": "..."}}, got {json.dumps(row)[:60]}.'
        )
