"""HumanEval: write the body of a Python function from its signature and docstring.

Rows: ``<datasets dir>/humaneval/test.jsonl``, from the Hugging Face dataset
``openai/openai_humaneval`` (columns ``prompt``, ``canonical_solution``, ...). One split:
``load_data`` keeps its last ``validation_split`` for testing.

Example:
```python
import synaprefect as synalinks

(x_train, y_train), (x_test, y_test) = synalinks.datasets.humaneval.load_data()
```
"""

from synaprefect.data_models import DataModel, Field
from synaprefect.datasets.benchmark import SingleSplitBenchmark

__all__ = [
    "HumanEvalQuestion",
    "HumanEvalAnswer",
    "get_input_data_model",
    "get_output_data_model",
    "load_data",
    "iterable_dataset",
    "expected_file",
]


class HumanEvalQuestion(DataModel):
    prompt: str = Field(description="A Python function signature and its docstring")


class HumanEvalAnswer(DataModel):
    completion: str = Field(description="The function body, indented, that completes it")


_HUMANEVAL = SingleSplitBenchmark(
    name="humaneval",
    source="openai/openai_humaneval",
    config=None,
    columns=("prompt", "canonical_solution"),
    input_model=HumanEvalQuestion,
    output_model=HumanEvalAnswer,
    inputs=lambda row: {"prompt": row["prompt"]},
    outputs=lambda row: {"completion": row["canonical_solution"]},
    train_split="test",
)

get_input_data_model = _HUMANEVAL.get_input_data_model
get_output_data_model = _HUMANEVAL.get_output_data_model
load_data = _HUMANEVAL.load_data
iterable_dataset = _HUMANEVAL.iterable_dataset
expected_file = _HUMANEVAL.expected_file
