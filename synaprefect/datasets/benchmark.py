"""Benchmark datasets (gsm8k, mmlu, ...) read from a local cache: nothing is downloaded.

Each benchmark split is one JSON Lines file, one row of the upstream dataset per line
(the Hugging Face rows, columns unchanged)::

    <datasets dir>/<benchmark>/<split>.jsonl      e.g. ~/.synaprefect/datasets/gsm8k/test.jsonl

The datasets dir is ``$SYNAPREFECT_DATASETS``, else ``<synaprefect home>/datasets``. A
missing file raises ``DatasetNotFoundError`` naming the file and the one-line command
that writes it on a machine with internet access (see docs/datasets.md).

Example:
```python
from synaprefect.datasets import gsm8k

(x_train, y_train), (x_test, y_test) = gsm8k.load_data()
gsm8k.expected_file("test")     # PosixPath('/home/me/.synaprefect/datasets/gsm8k/test.jsonl')
```
"""

from __future__ import annotations

import os
import string
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from synaprefect.config import synaprefect_home
from synaprefect.datasets.rows import DatasetError, Rows, load_rows
from synaprefect.datasets.samples import validated_sample
from synaprefect.trainers.data import object_array, train_validation_split

__all__ = [
    "DATASETS_ENV",
    "datasets_dir",
    "DatasetNotFoundError",
    "Benchmark",
    "SingleSplitBenchmark",
    "BenchmarkDataset",
    "split_train_test",
    "lettered",
]

DATASETS_ENV = "SYNAPREFECT_DATASETS"

Arrays = tuple[np.ndarray, np.ndarray]


def datasets_dir() -> Path:
    """The local benchmark cache: ``$SYNAPREFECT_DATASETS``, else
    ``<synaprefect home>/datasets`` (``~/.synaprefect/datasets`` by default).

    Example: ``datasets_dir() / "gsm8k" / "train.jsonl"``
    """
    if os.environ.get(DATASETS_ENV):
        return Path(os.environ[DATASETS_ENV]).expanduser()
    return synaprefect_home() / "datasets"


class DatasetNotFoundError(FileNotFoundError):
    """A benchmark file that is not in the local cache. The message names the file
    expected and how to put it there."""


def split_train_test(x: Any, y: Any, validation_split: float = 0.2) -> tuple[Arrays, Arrays]:
    """``(x_train, y_train), (x_test, y_test)``: the last ``validation_split`` fraction
    is the test set (no shuffling, so the split is the same on every run). For
    benchmarks that ship a single labelled split.

    Example:
    ```python
    (x_train, y_train), (x_test, y_test) = split_train_test(x, y, validation_split=0.25)
    ```
    """
    return train_validation_split(x, y, validation_split)


def lettered(
    text: str,
    choices: Sequence[str],
    labels: Sequence[str] = string.ascii_uppercase,
    count: int | None = None,
) -> str:
    """``text``, then one ``<label>) <choice>`` line per choice: a multiple-choice
    question as one string. ``count`` is the number of choices a row must have.

    Example: ``lettered("2 + 2?", ["3", "4"])  # '2 + 2?\nA) 3\nB) 4'``
    """
    if count is not None and len(choices) != count:
        raise ValueError(f"expected {count} choices, got {len(choices)}")
    if len(labels) < len(choices):
        raise ValueError(f"{len(choices)} choices but only {len(labels)} labels")
    return "\n".join([text, *(f"{label}) {choice}" for label, choice in zip(labels, choices))])


@dataclass(frozen=True)
class Benchmark:
    """A benchmark: where its rows come from and how a row becomes an ``(input, target)``
    pair of data models. ``inputs`` / ``outputs`` map a row (a dict of the upstream
    columns, ``columns`` listing those they read) to the fields of ``input_model`` /
    ``output_model`` (``None`` for inputs only: the targets are ``None``); ``train_split``
    and ``test_split`` are what ``load_data`` returns.

    Example:
    ```python
    squares = Benchmark(
        name="squares", source="me/squares", config=None, columns=("n",),
        input_model=Number, output_model=Number,
        inputs=lambda row: {"n": row["n"]}, outputs=lambda row: {"n": row["n"] ** 2})
    (x_train, y_train), (x_test, y_test) = squares.load_data()
    ```
    """

    name: str
    source: str  # the Hugging Face dataset the rows come from
    config: str | None
    columns: tuple[str, ...]
    input_model: type
    output_model: type | None
    inputs: Callable[[dict], dict]
    outputs: Callable[[dict], dict]
    train_split: str = "train"
    test_split: str = "test"

    def get_input_data_model(self) -> type:
        """The data model of the benchmark's inputs."""
        return self.input_model

    def get_output_data_model(self) -> type | None:
        """The data model of the benchmark's targets (None when it has inputs only)."""
        return self.output_model

    def expected_file(self, split: str) -> Path:
        """Where the cache keeps ``split``: ``<datasets dir>/<name>/<split>.jsonl``."""
        if not split or Path(split).name != split or split.startswith("."):
            raise ValueError(
                f"`split` must be a plain split name such as {self.train_split!r}, got {split!r}."
            )
        return datasets_dir() / self.name / f"{split}.jsonl"

    def rows(self, split: str) -> Rows:
        """The raw rows of ``split``, read from the cache."""
        return load_rows(self._cached_file(split))

    def load_split(
        self, split: str, keep: Callable[[dict], bool] | None = None, limit: int | None = None
    ) -> Arrays:
        """``(x, y)`` of ``split``: numpy object arrays of data models, one pair per row
        (the first ``limit`` rows that ``keep`` accepts, when given)."""
        pairs = list(self._pairs(split, limit, keep))
        return object_array([x for x, _ in pairs]), object_array([y for _, y in pairs])

    def load_data(self) -> tuple[Arrays, Arrays]:
        """``(x_train, y_train), (x_test, y_test)`` from ``train_split`` and
        ``test_split``."""
        return self.load_split(self.train_split), self.load_split(self.test_split)

    def iterable_dataset(
        self,
        repeat: int = 1,
        batch_size: int | None = 1,
        limit: int | None = None,
        split: str | None = None,
    ) -> BenchmarkDataset:
        """The batches of ``split`` (default ``train_split``), streamed: see
        ``BenchmarkDataset``. The split's file must be in the cache already."""
        split = split or self.train_split
        self._cached_file(split)  # a missing file fails here, not at the first batch
        return BenchmarkDataset(self, split, repeat=repeat, batch_size=batch_size, limit=limit)

    def _cached_file(self, split: str) -> Path:
        path = self.expected_file(split)
        if not path.is_file():
            raise DatasetNotFoundError(self._missing(split, path))
        return path

    def _pairs(
        self, split: str, limit: int | None = None, keep: Callable[[dict], bool] | None = None
    ) -> Iterator[tuple[Any, Any]]:
        rows = self.rows(split)
        count = 0
        for index, row in enumerate(rows):
            if limit is not None and count >= limit:
                return
            if keep is not None and not keep(row):
                continue
            count += 1
            yield self._pair(rows, index)

    def _pair(self, rows: Rows, index: int) -> tuple[Any, Any]:
        row, where = rows[index], rows.where(index)
        missing = [column for column in self.columns if column not in row]
        if missing:
            raise DatasetError(
                f"{where}: not a {self.name} row: missing column(s) "
                f"{missing}; expected {list(self.columns)}, the row has "
                f"{sorted(row)}."
            )
        try:
            inputs, outputs = self.inputs(row), self.outputs(row)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as error:
            raise DatasetError(
                f"{where}: not a {self.name} row: {type(error).__name__}: "
                f"{error} (the upstream format is {self._upstream()})."
            ) from None
        target = (
            None
            if self.output_model is None
            else validated_sample(self.output_model, outputs, where)
        )
        return validated_sample(self.input_model, inputs, where), target

    def _upstream(self) -> str:
        config = f" (config {self.config!r})" if self.config else ""
        return f"the Hugging Face dataset {self.source!r}{config}"

    def _missing(self, split: str, path: Path) -> str:
        config = f"{self.config!r}, " if self.config else ""
        return (
            f"{self.name}: the {split!r} split is not in the local dataset cache: expected "
            f"the file {path} (JSON Lines, one row of {self._upstream()} per line). "
            "synaprefect downloads nothing; on a machine with internet access and the "
            "`datasets` package, write it with\n"
            f'    python -c "import os, datasets; os.makedirs({str(path.parent)!r}, '
            f"exist_ok=True); datasets.load_dataset({self.source!r}, {config}split="
            f'{split!r}).to_json({str(path)!r})"\n'
            f"then copy it to that path, or set ${DATASETS_ENV} to the folder that holds "
            f"{self.name}/{split}.jsonl (see docs/datasets.md)."
        )


@dataclass(frozen=True)
class SingleSplitBenchmark(Benchmark):
    """A benchmark published as one labelled split (``train_split``): ``load_data``
    cuts it into train and test sets with ``split_train_test``.

    Example: ``(x_train, y_train), (x_test, y_test) = humaneval.load_data(0.25)``
    """

    def load_data(self, validation_split: float = 0.2) -> tuple[Arrays, Arrays]:
        """``(x_train, y_train), (x_test, y_test)``: the last ``validation_split``
        fraction of the split is the test set."""
        return split_train_test(*self.load_split(self.train_split), validation_split)


class BenchmarkDataset:
    """The batches of one benchmark split, read from the cache as they are iterated:
    each ``(x, y)`` holds ``batch_size`` samples (all of them with ``batch_size=None``),
    each of the first ``limit`` rows repeated ``repeat`` times in a row (a group of
    rollouts of one prompt when ``repeat == batch_size``).

    Example:
    ```python
    for x, y in gsm8k.iterable_dataset(batch_size=8, limit=64):
        predictions = await program.predict(x, batch_size=8)
    x, y = gsm8k.iterable_dataset(limit=100).materialize()   # arrays, for fit/evaluate
    ```
    """

    def __init__(
        self,
        benchmark: Benchmark,
        split: str,
        repeat: int = 1,
        batch_size: int | None = 1,
        limit: int | None = None,
    ):
        if not isinstance(repeat, int) or repeat < 1:
            raise ValueError(f"`repeat` must be a positive integer, got {repeat!r}.")
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise ValueError(
                f"`batch_size` must be a positive integer or None (one batch), got {batch_size!r}."
            )
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise ValueError(f"`limit` must be a non-negative integer or None, got {limit!r}.")
        self.benchmark, self.split = benchmark, split
        self.repeat, self.batch_size, self.limit = repeat, batch_size, limit

    def __iter__(self) -> Iterator[Arrays]:
        xs, ys = [], []
        for x, y in self.benchmark._pairs(self.split, self.limit):
            xs += [x] * self.repeat
            ys += [y] * self.repeat
            while self.batch_size is not None and len(xs) >= self.batch_size:
                yield object_array(xs[: self.batch_size]), object_array(ys[: self.batch_size])
                xs, ys = xs[self.batch_size :], ys[self.batch_size :]
        if xs:
            yield object_array(xs), object_array(ys)

    def __call__(self) -> Iterator[Arrays]:
        """A fresh iterator over the batches."""
        return iter(self)

    def __len__(self) -> int:
        """The number of batches (reads the split to count its rows)."""
        rows = len(self.benchmark.rows(self.split))
        samples = min(rows, self.limit if self.limit is not None else rows) * self.repeat
        if self.batch_size is None:
            return int(samples > 0)
        return -(-samples // self.batch_size)

    def materialize(self) -> Arrays:
        """Every batch joined into one ``(x, y)`` pair of numpy object arrays."""
        xs, ys = [], []
        for x, y in self:
            xs += list(x)
            ys += list(y)
        return object_array(xs), object_array(ys)
