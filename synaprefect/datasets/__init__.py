"""Datasets: your own files as samples, and the benchmark datasets of Synalinks.

Two surfaces, no name shared between them:

- **Files** (``rows``, ``samples``): rows from a JSON, JSON Lines or CSV file, mapped onto
  a program's data models (``load_rows``, ``to_samples``, ``data_models_for``); every
  error names ``<file>:<line>``. The flows and the command line train on these.
- **Benchmarks** (``gsm8k``, ``hotpotqa``, ``mmlu``, ``arcagi``, ...): each module has
  ``get_input_data_model()``, ``get_output_data_model()`` and ``load_data()`` returning
  ``(x_train, y_train), (x_test, y_test)`` numpy object arrays of data models, read from
  the local cache ``<datasets dir>/<benchmark>/<split>.jsonl`` (``datasets_dir()``;
  nothing is downloaded, see docs/datasets.md).

Example:
```python
import synaprefect as synalinks

(x_train, y_train), (x_test, y_test) = synalinks.datasets.gsm8k.load_data()

rows = synalinks.datasets.load_rows("flows/data/capitals.jsonl")
Inputs, Outputs = synalinks.datasets.data_models_for(rows)
x, y = synalinks.datasets.to_samples(rows, Inputs, Outputs)
```
"""

from synaprefect.datasets import (
    arc_challenge,
    arcagi,
    bbh,
    bbq,
    boolq,
    drop,
    gsm8k,
    hellaswag,
    hotpotqa,
    humaneval,
    ifeval,
    lambada,
    logiqa,
    mmlu,
    squad,
    truthfulqa,
    winogrande,
)
from synaprefect.datasets.benchmark import (
    DATASETS_ENV,
    BenchmarkDataset,
    DatasetNotFoundError,
    datasets_dir,
    split_train_test,
)
from synaprefect.datasets.rows import DatasetError, Rows, load_rows
from synaprefect.datasets.samples import data_models_for, to_samples

__all__ = [
    # files
    "DatasetError", "Rows", "load_rows", "to_samples", "data_models_for",
    # benchmarks
    "DATASETS_ENV", "datasets_dir", "DatasetNotFoundError", "BenchmarkDataset",
    "split_train_test",
    "arc_challenge", "arcagi", "bbh", "bbq", "boolq", "drop", "gsm8k", "hellaswag",
    "hotpotqa", "humaneval", "ifeval", "lambada", "logiqa", "mmlu", "squad", "truthfulqa",
    "winogrande",
]
