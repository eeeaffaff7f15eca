"""Datasets: your own files as samples, and the benchmark datasets of Synalinks.

Two surfaces, no name shared between them:

- **Files** (``rows``, ``samples``): rows from a JSON, JSON Lines or CSV file, mapped onto
  a program's data models (``load_rows``, ``to_samples``, ``data_models_for``); every
  error names ``<file>:<line>``. The flows and the command line train on these.
- **Benchmarks** (``gsm8k``, ``hotpotqa``, ``mmlu``, ``arcagi``, ...): each module has
  ``get_input_data_model()``, ``get_output_data_model()`` and ``load_data()`` returning
  ``(x_train, y_train), (x_test, y_test)`` numpy object arrays of data models, read from
  the local cache ``<datasets dir>/<benchmark>/<split>.jsonl`` (``datasets_dir()``;
  nothing is downloaded, see docs/datasets.md). ``load_split`` reads any other cached
  Hugging Face split through Jinja2 templates, as Synalinks' does.

Example:
```python
import synaprefect as synalinks

(x_train, y_train), (x_test, y_test) = synalinks.datasets.gsm8k.load_data()

rows = synalinks.datasets.load_rows("flows/data/capitals.jsonl")
Inputs, Outputs = synalinks.datasets.data_models_for(rows)
x, y = synalinks.datasets.to_samples(rows, Inputs, Outputs)
```
"""

import importlib

from synaprefect.datasets.benchmark import (
    DATASETS_ENV,
    BenchmarkDataset,
    DatasetNotFoundError,
    datasets_dir,
    split_train_test,
)
from synaprefect.datasets.rows import DatasetError, Rows, load_rows
from synaprefect.datasets.samples import data_models_for, to_samples
from synaprefect.datasets.templated import load_split

# The benchmark modules define some forty data models: imported when first used, so
# that ``import synaprefect`` does not pay for them.
_BENCHMARKS = (
    "arc_challenge",
    "arcagi",
    "bbh",
    "bbq",
    "boolq",
    "drop",
    "gsm8k",
    "hellaswag",
    "hotpotqa",
    "humaneval",
    "ifeval",
    "lambada",
    "logiqa",
    "mmlu",
    "squad",
    "truthfulqa",
    "winogrande",
)

__all__ = [
    # files
    "DatasetError",
    "Rows",
    "load_rows",
    "to_samples",
    "data_models_for",
    # benchmarks
    "DATASETS_ENV",
    "datasets_dir",
    "DatasetNotFoundError",
    "BenchmarkDataset",
    "split_train_test",
    "load_split",
    *_BENCHMARKS,
]


def __getattr__(name: str):
    if name in _BENCHMARKS:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_BENCHMARKS))
