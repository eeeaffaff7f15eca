"""The end-to-end demo behind ``make demo``."""

import synaprefect as sp


class Query(sp.DataModel):
    query: str = sp.Field(description="The user question")


class Answer(sp.DataModel):
    answer: str = sp.Field(description="The answer")


async def run_demo(model: str | None = None) -> int:
    inputs = sp.Input(data_model=Query)
    outputs = await sp.Lambda(
        lambda x: {"answer": x["query"][::-1]}, data_model=Answer, name="reverser"
    )(inputs)
    program = sp.Program(inputs=inputs, outputs=inputs & outputs, name="demo")
    program.summary()
    result = await program(Query(query="synaprefect"))
    print("result:", result.get_json())
    return 0
