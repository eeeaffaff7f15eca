"""BIG-Bench Hard, the ``boolean_expressions`` task: evaluate expressions such as
``not ( True ) and ( True )``.

Rows: ``<datasets dir>/bbh/test.jsonl``, from the Hugging Face dataset ``lukaemon/bbh``
(config ``boolean_expressions``; columns ``input``, ``target`` (``"True"`` or
``"False"``)). The task has one split: ``load_data`` keeps its last ``validation_split``
for testing.

Example:
```python
import synaprefect as synalinks

(x_train, y_train), (x_test, y_test) = synalinks.datasets.bbh.load_data()
```
"""

from synaprefect.data_models import DataModel, Field
from synaprefect.datasets.benchmark import SingleSplitBenchmark

__all__ = [
    "BBHBooleanQuestion",
    "BBHBooleanAnswer",
    "get_input_data_model",
    "get_output_data_model",
    "load_data",
    "iterable_dataset",
    "expected_file",
]


class BBHBooleanQuestion(DataModel):
    question: str = Field(description="A boolean expression")


class BBHBooleanAnswer(DataModel):
    answer: bool = Field(description="The value of the expression")


def _outputs(row: dict) -> dict:
    if row["target"] not in ("True", "False"):
        raise ValueError(f"target must be 'True' or 'False', got {row['target']!r}")
    return {"answer": row["target"] == "True"}


_BBH = SingleSplitBenchmark(
    name="bbh",
    source="lukaemon/bbh",
    config="boolean_expressions",
    columns=("input", "target"),
    input_model=BBHBooleanQuestion,
    output_model=BBHBooleanAnswer,
    inputs=lambda row: {"question": row["input"]},
    outputs=_outputs,
    train_split="test",
)

get_input_data_model = _BBH.get_input_data_model
get_output_data_model = _BBH.get_output_data_model
load_data = _BBH.load_data
iterable_dataset = _BBH.iterable_dataset
expected_file = _BBH.expected_file
