"""GSM8K: grade-school math word problems, each with a worked solution and a number.

Rows: ``<datasets dir>/gsm8k/{train,test}.jsonl``, from the Hugging Face dataset
``openai/gsm8k`` (config ``main``; columns ``question``, ``answer``). An upstream answer
is the worked solution, then ``#### <number>``: the text before the marker becomes
``thinking``, the number (thousands separators dropped) ``answer``.

Example:
```python
import synaprefect as synalinks

(x_train, y_train), (x_test, y_test) = synalinks.datasets.gsm8k.load_data()
inputs = synalinks.Input(data_model=synalinks.datasets.gsm8k.get_input_data_model())
```
"""

from synaprefect.data_models import DataModel, Field
from synaprefect.datasets.benchmark import Benchmark

__all__ = [
    "MathQuestion",
    "NumericalAnswerWithThinking",
    "get_input_data_model",
    "get_output_data_model",
    "load_data",
    "iterable_dataset",
    "expected_file",
]


class MathQuestion(DataModel):
    question: str = Field(description="A math word problem")


class NumericalAnswerWithThinking(DataModel):
    thinking: str = Field(description="The reasoning, step by step, that leads to the answer")
    answer: float = Field(description="The final answer, a number")


def _outputs(row: dict) -> dict:
    worked, marker, number = row["answer"].rpartition("####")
    if not marker:
        raise ValueError("the answer has no '#### <number>' line")
    return {"thinking": worked.strip(), "answer": float(number.strip().replace(",", ""))}


_GSM8K = Benchmark(
    name="gsm8k",
    source="openai/gsm8k",
    config="main",
    columns=("question", "answer"),
    input_model=MathQuestion,
    output_model=NumericalAnswerWithThinking,
    inputs=lambda row: {"question": row["question"]},
    outputs=_outputs,
)

get_input_data_model = _GSM8K.get_input_data_model
get_output_data_model = _GSM8K.get_output_data_model
load_data = _GSM8K.load_data
iterable_dataset = _GSM8K.iterable_dataset
expected_file = _GSM8K.expected_file
