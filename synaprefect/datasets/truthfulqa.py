"""TruthfulQA (multiple choice): questions that many people answer wrongly out of a
misconception; pick the one true answer.

Rows: ``<datasets dir>/truthfulqa/validation.jsonl``, from the Hugging Face dataset
``truthfulqa/truthful_qa`` (config ``multiple_choice``; columns ``question``,
``mc1_targets`` = ``{"choices": [...], "labels": [1, 0, ...]}``). The question lists the
choices as ``A)``, ``B)``, ...; the answer is the letter of the one labelled 1. One split:
``load_data`` keeps its last ``validation_split`` for testing.

Example:
```python
import synaprefect as synalinks

(x_train, y_train), (x_test, y_test) = synalinks.datasets.truthfulqa.load_data()
```
"""

import string

from synaprefect.data_models import DataModel, Field
from synaprefect.datasets.benchmark import SingleSplitBenchmark, lettered

__all__ = [
    "TruthfulQAQuestion",
    "TruthfulQAAnswer",
    "get_input_data_model",
    "get_output_data_model",
    "load_data",
    "iterable_dataset",
    "expected_file",
]


class TruthfulQAQuestion(DataModel):
    question: str = Field(description="A question, then candidate answers A, B, C, ...")


class TruthfulQAAnswer(DataModel):
    answer: str = Field(description="The letter of the true answer")


_TRUTHFULQA = SingleSplitBenchmark(
    name="truthfulqa",
    source="truthfulqa/truthful_qa",
    config="multiple_choice",
    columns=("question", "mc1_targets"),
    input_model=TruthfulQAQuestion,
    output_model=TruthfulQAAnswer,
    inputs=lambda row: {"question": lettered(row["question"], row["mc1_targets"]["choices"])},
    outputs=lambda row: {"answer": string.ascii_uppercase[row["mc1_targets"]["labels"].index(1)]},
    train_split="validation",
)

get_input_data_model = _TRUTHFULQA.get_input_data_model
get_output_data_model = _TRUTHFULQA.get_output_data_model
load_data = _TRUTHFULQA.load_data
iterable_dataset = _TRUTHFULQA.iterable_dataset
expected_file = _TRUTHFULQA.expected_file
