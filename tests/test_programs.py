"""Modules and programs in their three styles, without any language model."""

import asyncio

import pytest

import synaprefect as sp


class Query(sp.DataModel):
    query: str


class Answer(sp.DataModel):
    answer: str


class Hints(sp.Trainable):
    hints: list[str] = []


def shout(x):
    return {"answer": x["query"].upper()}


class Hinted(sp.Module):
    """Answers with its hints; owns one trainable variable."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.state = self.add_variable(data_model=Hints, name=f"state_{self.name}")

    async def call(self, inputs, training=False):
        if inputs is None:
            return None
        self.seen_training = training
        hints = ",".join(self.state.get("hints"))
        return sp.JsonDataModel(schema=Answer.get_schema(), json={"answer": hints})

    async def compute_output_spec(self, inputs, training=False):
        return Answer.to_symbolic_data_model()


async def functional_program():
    x0 = sp.Input(data_model=Query)
    x1 = await sp.Lambda(shout, data_model=Answer, name="shout")(x0)
    x2 = await Hinted(name="hinted")(x0)
    return sp.Program(inputs=x0, outputs=x1 + x2, name="functional")


async def test_functional_program_runs():
    program = await functional_program()
    result = await program(Query(query="hi"))
    assert result.get_json() == {"answer": "HI", "answer_1": ""}
    assert [m.name for m in program.modules] == ["input_module", "shout", "hinted", "concat"]
    assert program.get_module("hinted").name == "hinted"
    assert program.get_module(index=1).name == "shout"


async def test_independent_branches_run_concurrently():
    running = {"now": 0, "most": 0}

    async def slow(x):
        running["now"] += 1
        running["most"] = max(running["most"], running["now"])
        await asyncio.sleep(0.05)
        running["now"] -= 1
        return {"answer": "done"}

    x0 = sp.Input(data_model=Query)
    a = await sp.Lambda(slow, data_model=Answer, name="a")(x0)
    b = await sp.Lambda(slow, data_model=Answer, name="b")(x0)
    program = sp.Program(inputs=x0, outputs=[a, b])
    results = await program(Query(query="q"))
    assert [r["answer"] for r in results] == ["done", "done"]
    assert running["most"] == 2  # both branches were running at the same time


async def test_sequential_with_and_without_input():
    built = sp.Sequential([sp.Input(data_model=Query), sp.Identity(name="i1")])
    assert built.built and (await built(Query(query="x"))).get_json() == {"query": "x"}

    lazy = sp.Sequential([sp.Identity(name="i2"), sp.Identity(name="i3")])
    assert not lazy.built
    assert (await lazy(Query(query="y"))).get_json() == {"query": "y"}
    assert lazy.built and [m.name for m in lazy.modules] == ["i2", "i3"]
    lazy.pop()
    assert [m.name for m in lazy.modules] == ["i2"]


def test_sequential_needs_no_description():
    assert sp.Sequential([sp.Identity()]).description == ""


def test_sequential_rejects_duplicates_and_second_input():
    program = sp.Sequential([sp.Input(data_model=Query), sp.Identity(name="same")])
    with pytest.raises(ValueError, match="already in this Sequential"):
        program.add(sp.Identity(name="same"))
    with pytest.raises(ValueError, match="one Input"):
        program.add(sp.Input(data_model=Query))


async def test_subclassed_program():
    class Twice(sp.Program):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.first = sp.Identity(name="first")
            self.second = Hinted(name="second")

        async def call(self, inputs, training=False):
            return await self.second(await self.first(inputs))

    program = Twice(name="twice")
    result = await program(Query(query="x"))
    assert result.get_json() == {"answer": ""}
    assert [m.name for m in program.modules] == ["first", "second"]
    assert len(program.trainable_variables) == 1


async def test_mixed_style_program():
    class Mixed(sp.Program):
        async def build(self, inputs):
            outputs = await sp.Lambda(shout, data_model=Answer, name="shout")(inputs)
            super().__init__(inputs=inputs, outputs=outputs, name="mixed")

    program = Mixed()
    result = await program(Query(query="abc"))
    assert result.get_json() == {"answer": "ABC"} and program.name == "mixed"


async def test_branch_idiom_with_or():
    def route(kind):
        async def maybe(x):
            return {"answer": kind} if x["query"] == kind else None

        return maybe

    x0 = sp.Input(data_model=Query)
    a = await sp.Lambda(route("a"), data_model=Answer, name="ra")(x0)
    b = await sp.Lambda(route("b"), data_model=Answer, name="rb")(x0)
    program = sp.Program(inputs=x0, outputs=a | b)
    assert (await program(Query(query="b"))).get_json() == {"answer": "b"}
    assert (await program(Query(query="z"))) is None


async def test_training_argument_propagates_and_trainable_freezes():
    hinted = Hinted(name="h")
    program = sp.Sequential([sp.Input(data_model=Query), hinted])
    await program(Query(query="x"), training=True)
    assert hinted.seen_training is True
    await program(Query(query="x"))
    assert hinted.seen_training is False

    assert len(program.trainable_variables) == 1
    program.modules[0].trainable = False
    assert program.modules[0].trainable_variables == []
    assert program.trainable_variables == []
    assert len(program.non_trainable_variables) == 1


def test_variable_path_and_trainability_rule():
    hinted = Hinted(name="hinted_module")
    assert hinted.state.path == "hinted_module/state_hinted_module"
    plain = sp.Identity(name="plain")

    class NotTrainable(sp.DataModel):
        note: str = ""

    variable = plain.add_variable(data_model=NotTrainable, name="note")
    assert variable.trainable is False  # no Trainable fields, so never optimised


def test_summary_lists_modules_and_counts():
    program = asyncio.run(functional_program())
    lines = []
    program.summary(print_fn=lines.append, show_trainable=True)
    text = "\n".join(lines)
    assert 'Program: "functional"' in text
    assert "hinted (Hinted)" in text and "answer: string" in text
    assert "Total variables: 1" in text and "Trainable variables: 1" in text


# actionable errors ---------------------------------------------------------------------


async def test_positional_non_data_model_is_refused():
    with pytest.raises(ValueError, match=r"positional argument of type str.*keyword"):
        await sp.Identity()("plain text")


def test_program_output_must_be_symbolic():
    x0 = sp.Input(data_model=Query)
    with pytest.raises(ValueError, match=r"must be symbolic data models.*got str"):
        sp.Program(inputs=x0, outputs="nope")


def test_forgotten_await_is_explained():
    x0 = sp.Input(data_model=Query)
    coroutine = sp.Identity()(x0)
    with pytest.raises(ValueError, match="forget `await`"):
        sp.Program(inputs=x0, outputs=coroutine)


async def test_duplicate_module_names_are_refused():
    x0 = sp.Input(data_model=Query)
    a = await sp.Identity(name="dup")(x0)
    b = await sp.Identity(name="dup")(a)
    with pytest.raises(ValueError, match=r"unique.*\['dup'\]"):
        sp.Program(inputs=x0, outputs=b)


async def test_program_input_is_validated():
    program = await functional_program()
    bad = sp.JsonDataModel(schema=Query.get_schema(), json={"query": 3})
    with pytest.raises(ValueError, match=r"input_module.*field `query`"):
        await program(bad)


def test_unknown_module_argument():
    with pytest.raises(ValueError, match="unexpected keyword arguments"):
        sp.Identity(nmae="typo")


def test_forgot_super_init():
    class Broken(sp.Module):
        def __init__(self):
            self.inner = sp.Identity()

    with pytest.raises(RuntimeError, match="super"):
        Broken()
