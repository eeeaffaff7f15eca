"""BoolQ: yes/no questions about a Wikipedia passage.

Rows: ``<datasets dir>/boolq/{train,validation}.jsonl``, from the Hugging Face dataset
``google/boolq`` (columns ``question``, ``passage``, ``answer`` (a boolean)). The input
is the passage, then ``Question: <question>?``.

Example:
```python
import synaprefect as synalinks

(x_train, y_train), (x_test, y_test) = synalinks.datasets.boolq.load_data()
```
"""

from synaprefect.data_models import DataModel, Field
from synaprefect.datasets.benchmark import Benchmark

__all__ = [
    "BoolQQuestion",
    "BoolQAnswer",
    "get_input_data_model",
    "get_output_data_model",
    "load_data",
    "iterable_dataset",
    "expected_file",
]


class BoolQQuestion(DataModel):
    question: str = Field(description="A passage, then a yes/no question about it")


class BoolQAnswer(DataModel):
    answer: bool = Field(description="true for yes, false for no")


_BOOLQ = Benchmark(
    name="boolq",
    source="google/boolq",
    config=None,
    columns=("question", "passage", "answer"),
    input_model=BoolQQuestion,
    output_model=BoolQAnswer,
    inputs=lambda row: {"question": f"{row['passage']}\n\nQuestion: {row['question']}?"},
    outputs=lambda row: {"answer": row["answer"]},
    test_split="validation",
)

get_input_data_model = _BOOLQ.get_input_data_model
get_output_data_model = _BOOLQ.get_output_data_model
load_data = _BOOLQ.load_data
iterable_dataset = _BOOLQ.iterable_dataset
expected_file = _BOOLQ.expected_file
