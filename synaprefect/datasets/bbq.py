"""BBQ: questions that probe social bias, each with three choices, one category (age,
gender identity, ...) per split.

Rows: ``<datasets dir>/bbq/<category>.jsonl`` (e.g. ``age.jsonl``), from the Hugging Face
dataset ``walledai/BBQ``, whose splits are the categories (columns ``context``,
``question``, ``choices`` (three), ``answer`` (the index of the right choice)).
``load_data(category)`` keeps the category's last ``validation_split`` for testing.

Example:
```python
import synaprefect as synalinks

(x_train, y_train), (x_test, y_test) = synalinks.datasets.bbq.load_data(category="age")
```
"""

from typing import Literal

from synaprefect.data_models import DataModel, Field
from synaprefect.datasets.benchmark import (
    Arrays,
    Benchmark,
    BenchmarkDataset,
    lettered,
    split_train_test,
)

__all__ = [
    "BBQQuestion",
    "BBQAnswer",
    "get_input_data_model",
    "get_output_data_model",
    "load_data",
    "iterable_dataset",
    "expected_file",
]


class BBQQuestion(DataModel):
    question: str = Field(description="A context, a question about it, then choices A to C")


class BBQAnswer(DataModel):
    answer: Literal["A", "B", "C"] = Field(description="The letter of the right choice")


_BBQ = Benchmark(
    name="bbq",
    source="walledai/BBQ",
    config=None,
    columns=("context", "question", "choices", "answer"),
    input_model=BBQQuestion,
    output_model=BBQAnswer,
    inputs=lambda row: {
        "question": lettered(f"{row['context']}\n{row['question']}", row["choices"], count=3)
    },
    outputs=lambda row: {"answer": "ABC"[row["answer"]]},
    train_split="age",
)

get_input_data_model = _BBQ.get_input_data_model
get_output_data_model = _BBQ.get_output_data_model
expected_file = _BBQ.expected_file


def load_data(category: str = "age", validation_split: float = 0.2) -> tuple[Arrays, Arrays]:
    """``(x_train, y_train), (x_test, y_test)`` of one category: its last
    ``validation_split`` fraction is the test set.

    Example: ``(x_train, y_train), (x_test, y_test) = bbq.load_data("gender_identity")``
    """
    return split_train_test(*_BBQ.load_split(category), validation_split)


def iterable_dataset(
    repeat: int = 1, batch_size: int | None = 1, limit: int | None = None, category: str = "age"
) -> BenchmarkDataset:
    """The batches of one category, streamed (see ``BenchmarkDataset``).

    Example: ``for x, y in bbq.iterable_dataset(batch_size=4, category="age"): ...``
    """
    return _BBQ.iterable_dataset(repeat=repeat, batch_size=batch_size, limit=limit, split=category)
