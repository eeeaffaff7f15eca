"""LogiQA: four-choice logical reasoning questions from civil-service exams.

Rows: ``<datasets dir>/logiqa/{train,test}.jsonl``, from the Hugging Face dataset
``fireworks-ai/logiqa`` (columns ``context``, ``question``, ``options`` (four strings,
already lettered), ``answer`` (a letter)).

Example:
```python
import synaprefect as synalinks

(x_train, y_train), (x_test, y_test) = synalinks.datasets.logiqa.load_data()
```
"""

from typing import Literal

from synaprefect.data_models import DataModel, Field
from synaprefect.datasets.benchmark import Benchmark

__all__ = [
    "LogiQAQuestion",
    "LogiQAAnswer",
    "get_input_data_model",
    "get_output_data_model",
    "load_data",
    "iterable_dataset",
    "expected_file",
]


class LogiQAQuestion(DataModel):
    question: str = Field(description="A text, a question about it, then four options")


class LogiQAAnswer(DataModel):
    answer: Literal["A", "B", "C", "D"] = Field(description="The letter of the right option")


def _inputs(row: dict) -> dict:
    return {
        "question": "\n".join([f"{row['context']}\n\nQuestion: {row['question']}", *row["options"]])
    }


_LOGIQA = Benchmark(
    name="logiqa",
    source="fireworks-ai/logiqa",
    config=None,
    columns=("context", "question", "options", "answer"),
    input_model=LogiQAQuestion,
    output_model=LogiQAAnswer,
    inputs=_inputs,
    outputs=lambda row: {"answer": row["answer"]},
)

get_input_data_model = _LOGIQA.get_input_data_model
get_output_data_model = _LOGIQA.get_output_data_model
load_data = _LOGIQA.load_data
iterable_dataset = _LOGIQA.iterable_dataset
expected_file = _LOGIQA.expected_file
