"""SQuAD: questions whose answer is a span of a Wikipedia paragraph.

Rows: ``<datasets dir>/squad/{train,validation}.jsonl``, from the Hugging Face dataset
``rajpurkar/squad`` (columns ``context``, ``question``, ``answers`` = ``{"text": [...],
"answer_start": [...]}``). The target is the first reference answer.

Example:
```python
import synaprefect as synalinks

(x_train, y_train), (x_test, y_test) = synalinks.datasets.squad.load_data()
```
"""

from synaprefect.data_models import DataModel, Field
from synaprefect.datasets.benchmark import Benchmark

__all__ = [
    "SQuADQuestion",
    "SQuADAnswer",
    "get_input_data_model",
    "get_output_data_model",
    "load_data",
    "iterable_dataset",
    "expected_file",
]


class SQuADQuestion(DataModel):
    question: str = Field(description="A paragraph, then a question about it")


class SQuADAnswer(DataModel):
    answer: str = Field(description="The answer, a short span copied from the paragraph")


_SQUAD = Benchmark(
    name="squad",
    source="rajpurkar/squad",
    config=None,
    columns=("context", "question", "answers"),
    input_model=SQuADQuestion,
    output_model=SQuADAnswer,
    inputs=lambda row: {"question": f"{row['context']}\n\nQuestion: {row['question']}"},
    outputs=lambda row: {"answer": row["answers"]["text"][0]},
    test_split="validation",
)

get_input_data_model = _SQUAD.get_input_data_model
get_output_data_model = _SQUAD.get_output_data_model
load_data = _SQUAD.load_data
iterable_dataset = _SQUAD.iterable_dataset
expected_file = _SQUAD.expected_file
