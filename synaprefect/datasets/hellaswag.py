"""HellaSwag: pick the most plausible continuation of a situation among four.

Rows: ``<datasets dir>/hellaswag/{train,validation}.jsonl``, from the Hugging Face dataset
``Rowan/hellaswag`` (columns ``ctx``, ``endings`` (four), ``label`` (the index of the
right ending, as text)). The question lists the endings as ``A)`` to ``D)``.

Example:
```python
import synaprefect as synalinks

(x_train, y_train), (x_test, y_test) = synalinks.datasets.hellaswag.load_data()
```
"""

from typing import Literal

from synaprefect.data_models import DataModel, Field
from synaprefect.datasets.benchmark import Benchmark, lettered

__all__ = [
    "HellaSwagQuestion",
    "HellaSwagAnswer",
    "get_input_data_model",
    "get_output_data_model",
    "load_data",
    "iterable_dataset",
    "expected_file",
]


class HellaSwagQuestion(DataModel):
    question: str = Field(description="A situation, then four possible endings A to D")


class HellaSwagAnswer(DataModel):
    answer: Literal["A", "B", "C", "D"] = Field(
        description="The letter of the ending that follows most plausibly"
    )


_HELLASWAG = Benchmark(
    name="hellaswag",
    source="Rowan/hellaswag",
    config=None,
    columns=("ctx", "endings", "label"),
    input_model=HellaSwagQuestion,
    output_model=HellaSwagAnswer,
    inputs=lambda row: {"question": lettered(row["ctx"], row["endings"], count=4)},
    outputs=lambda row: {"answer": "ABCD"[int(row["label"])]},
    test_split="validation",
)

get_input_data_model = _HELLASWAG.get_input_data_model
get_output_data_model = _HELLASWAG.get_output_data_model
load_data = _HELLASWAG.load_data
iterable_dataset = _HELLASWAG.iterable_dataset
expected_file = _HELLASWAG.expected_file
