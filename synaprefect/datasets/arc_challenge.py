"""ARC-Challenge: the hard grade-school science questions of AI2's Reasoning Challenge.

Rows: ``<datasets dir>/arc_challenge/{train,test}.jsonl``, from the Hugging Face dataset
``allenai/ai2_arc`` (config ``ARC-Challenge``; columns ``question``, ``choices`` =
``{"text": [...], "label": [...]}``, ``answerKey``). The question lists its choices, one
``<label>) <text>`` per line; the answer is the label of the right one.

Example:
```python
import synaprefect as synalinks

(x_train, y_train), (x_test, y_test) = synalinks.datasets.arc_challenge.load_data()
```
"""

from synaprefect.data_models import DataModel, Field
from synaprefect.datasets.benchmark import Benchmark, lettered

__all__ = [
    "ARCQuestion",
    "ARCAnswer",
    "get_input_data_model",
    "get_output_data_model",
    "load_data",
    "iterable_dataset",
    "expected_file",
]


class ARCQuestion(DataModel):
    question: str = Field(description="A science question, then its choices, one per line")


class ARCAnswer(DataModel):
    answer: str = Field(description="The label of the right choice (a letter or a digit)")


def _inputs(row: dict) -> dict:
    labels = row["choices"]["label"]
    return {
        "question": lettered(row["question"], row["choices"]["text"], labels, count=len(labels))
    }


_ARC = Benchmark(
    name="arc_challenge",
    source="allenai/ai2_arc",
    config="ARC-Challenge",
    columns=("question", "choices", "answerKey"),
    input_model=ARCQuestion,
    output_model=ARCAnswer,
    inputs=_inputs,
    outputs=lambda row: {"answer": row["answerKey"]},
)

get_input_data_model = _ARC.get_input_data_model
get_output_data_model = _ARC.get_output_data_model
load_data = _ARC.load_data
iterable_dataset = _ARC.iterable_dataset
expected_file = _ARC.expected_file
