"""WinoGrande: fill the blank of a sentence with one of two options (commonsense).

Rows: ``<datasets dir>/winogrande/{train,validation}.jsonl``, from the Hugging Face
dataset ``allenai/winogrande`` (config ``winogrande_xl``; columns ``sentence`` (with a
``_`` blank), ``option1``, ``option2``, ``answer`` (``"1"`` or ``"2"``)).

Example:
```python
import synaprefect as synalinks

(x_train, y_train), (x_test, y_test) = synalinks.datasets.winogrande.load_data()
```
"""

from typing import Literal

from synaprefect.data_models import DataModel, Field
from synaprefect.datasets.benchmark import Benchmark, lettered

__all__ = [
    "WinoGrandeQuestion",
    "WinoGrandeAnswer",
    "get_input_data_model",
    "get_output_data_model",
    "load_data",
    "iterable_dataset",
    "expected_file",
]


class WinoGrandeQuestion(DataModel):
    question: str = Field(description="A sentence with a `_` blank, then options 1 and 2")


class WinoGrandeAnswer(DataModel):
    answer: Literal[1, 2] = Field(description="The option that fills the blank: 1 or 2")


_WINOGRANDE = Benchmark(
    name="winogrande",
    source="allenai/winogrande",
    config="winogrande_xl",
    columns=("sentence", "option1", "option2", "answer"),
    input_model=WinoGrandeQuestion,
    output_model=WinoGrandeAnswer,
    inputs=lambda row: {
        "question": lettered(row["sentence"], [row["option1"], row["option2"]], "12")
    },
    outputs=lambda row: {"answer": int(row["answer"])},
    test_split="validation",
)

get_input_data_model = _WINOGRANDE.get_input_data_model
get_output_data_model = _WINOGRANDE.get_output_data_model
load_data = _WINOGRANDE.load_data
iterable_dataset = _WINOGRANDE.iterable_dataset
expected_file = _WINOGRANDE.expected_file
