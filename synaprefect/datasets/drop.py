"""DROP: questions that need discrete reasoning (counting, arithmetic, sorting) over a
paragraph.

Rows: ``<datasets dir>/drop/{train,validation}.jsonl``, from the Hugging Face dataset
``ucinlp/drop`` (columns ``passage``, ``question``, ``answers_spans`` = ``{"spans":
[...], "types": [...]}``). The target is the first reference span.

Example:
```python
import synaprefect as synalinks

(x_train, y_train), (x_test, y_test) = synalinks.datasets.drop.load_data()
```
"""

from synaprefect.data_models import DataModel, Field
from synaprefect.datasets.benchmark import Benchmark

__all__ = [
    "DROPQuestion",
    "DROPAnswer",
    "get_input_data_model",
    "get_output_data_model",
    "load_data",
    "iterable_dataset",
    "expected_file",
]


class DROPQuestion(DataModel):
    question: str = Field(description="A passage, then a question about it")


class DROPAnswer(DataModel):
    answer: str = Field(description="The answer: a number, a date or a phrase of the passage")


_DROP = Benchmark(
    name="drop",
    source="ucinlp/drop",
    config=None,
    columns=("passage", "question", "answers_spans"),
    input_model=DROPQuestion,
    output_model=DROPAnswer,
    inputs=lambda row: {"question": f"{row['passage']}\n\nQuestion: {row['question']}"},
    outputs=lambda row: {"answer": row["answers_spans"]["spans"][0]},
    test_split="validation",
)

get_input_data_model = _DROP.get_input_data_model
get_output_data_model = _DROP.get_output_data_model
load_data = _DROP.load_data
iterable_dataset = _DROP.iterable_dataset
expected_file = _DROP.expected_file
