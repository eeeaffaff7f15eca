"""IFEval: prompts with verifiable instructions ("answer in fewer than 50 words", ...).

Rows: ``<datasets dir>/ifeval/train.jsonl``, from the Hugging Face dataset
``google/IFEval`` (columns ``prompt``, ``instruction_id_list``, ``kwargs``). There are
no reference responses: the target's ``response`` holds the prompt itself, for a reward
that checks the instructions against it. One split: ``load_data`` keeps its last
``validation_split`` for testing.

Example:
```python
import synaprefect as synalinks

(x_train, y_train), (x_test, y_test) = synalinks.datasets.ifeval.load_data()
```
"""

from synaprefect.data_models import DataModel, Field
from synaprefect.datasets.benchmark import SingleSplitBenchmark

__all__ = [
    "IFEvalQuestion",
    "IFEvalAnswer",
    "get_input_data_model",
    "get_output_data_model",
    "load_data",
    "iterable_dataset",
    "expected_file",
]


class IFEvalQuestion(DataModel):
    prompt: str = Field(description="A request with instructions the response must follow")


class IFEvalAnswer(DataModel):
    response: str = Field(description="The response (the target holds the prompt itself)")


_IFEVAL = SingleSplitBenchmark(
    name="ifeval",
    source="google/IFEval",
    config=None,
    columns=("prompt",),
    input_model=IFEvalQuestion,
    output_model=IFEvalAnswer,
    inputs=lambda row: {"prompt": row["prompt"]},
    outputs=lambda row: {"response": row["prompt"]},
)

get_input_data_model = _IFEVAL.get_input_data_model
get_output_data_model = _IFEVAL.get_output_data_model
load_data = _IFEVAL.load_data
iterable_dataset = _IFEVAL.iterable_dataset
expected_file = _IFEVAL.expected_file
