"""MMLU: four-choice questions on 57 subjects.

Rows: ``<datasets dir>/mmlu/{validation,test}.jsonl``, from the Hugging Face dataset
``cais/mmlu`` (config ``all``; columns ``question``, ``subject``, ``choices``, ``answer``
(the index of the right choice)). MMLU is for evaluation: ``load_data`` returns the
small validation split as the training set (for few-shot examples) and the test split.

Example:
```python
import synaprefect as synalinks

(x_train, y_train), (x_test, y_test) = synalinks.datasets.mmlu.load_data()
```
"""

from typing import Literal

from synaprefect.data_models import DataModel, Field
from synaprefect.datasets.benchmark import Benchmark

__all__ = [
    "MMLUQuestion",
    "MMLUAnswer",
    "get_input_data_model",
    "get_output_data_model",
    "load_data",
    "iterable_dataset",
    "expected_file",
]


class MMLUQuestion(DataModel):
    question: str = Field(description="The question")
    choices: list[str] = Field(description="The four possible answers, for A, B, C and D")
    subject: str = Field(description="The subject the question is about")


class MMLUAnswer(DataModel):
    answer: Literal["A", "B", "C", "D"] = Field(description="The letter of the right choice")


_MMLU = Benchmark(
    name="mmlu",
    source="cais/mmlu",
    config="all",
    columns=("question", "subject", "choices", "answer"),
    input_model=MMLUQuestion,
    output_model=MMLUAnswer,
    inputs=lambda row: {key: row[key] for key in ("question", "choices", "subject")},
    outputs=lambda row: {"answer": "ABCD"[row["answer"]]},
    train_split="validation",
    test_split="test",
)

get_input_data_model = _MMLU.get_input_data_model
get_output_data_model = _MMLU.get_output_data_model
load_data = _MMLU.load_data
iterable_dataset = _MMLU.iterable_dataset
expected_file = _MMLU.expected_file
