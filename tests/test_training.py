"""compile / fit / evaluate / predict semantics, with tracking off (plain asyncio).

The Prefect mapping is tested in test_training_prefect.py.
"""

import json

import numpy as np
import pytest
from helpers import KNOWLEDGE, ROWS, Answer, Query, capitals, capitals_program

import synaprefect as sp
from synaprefect.orchestration import tracking
from synaprefect.testing.skills import (
    classroom,
    instruction_writer,
    language_model_for,
    style_student,
)


def dataset(rows=ROWS):
    return capitals(len(rows))


@pytest.fixture(autouse=True)
def _no_tracking():
    with tracking(False):
        yield


@pytest.fixture
def student(simulated_lm):
    simulated_lm.set_responder(style_student(KNOWLEDGE))
    return simulated_lm


async def make_program(server, name="capitals", optimizer="random_few_shot", metrics=None):
    return await capitals_program(server, name=name, optimizer=optimizer, metrics=metrics)


async def test_random_few_shot_lifts_validation_reward(student):
    """In-context learning matters here: the student styles answers as its examples do."""
    sp.set_seed(7)
    program = await make_program(student)
    x, y = dataset()
    x_train, y_train, x_val, y_val = x[:28], y[:28], x[28:], y[28:]
    before = await program.evaluate(x_val, y_val)
    assert before["reward"] < 0.5
    history = await program.fit(
        x_train, y_train, validation_data=(x_val, y_val), epochs=3, batch_size=7, verbose=0
    )
    after = await program.evaluate(x_val, y_val)
    assert after["reward"] > 0.9
    assert history.history["val_reward"][-1] > 0.9
    assert len(history.history["reward"]) == 3 and history.epoch == [0, 1, 2]
    state = program.get_module("answerer").state
    assert state["examples"], "the trained prompt carries few-shot examples"
    assert all(e["reward"] == 1.0 for e in state["examples"])
    # The bookkeeping is the optimizer's; the variable holds what the program uses.
    assert not state["predictions"] and not state["candidates"] and not state["history"]
    slot = program.optimizer.slot(state)
    assert slot["history"] and slot["best_candidates"]
    # candidates differing only in their examples are kept apart (defect 4 fixed)
    assert len({json.dumps(c["examples"]) for c in slot["best_candidates"]}) > 1


async def test_omega_improves_a_task_where_instructions_matter(simulated_lm):
    sp.set_seed(3)
    simulated_lm.set_responder(
        classroom(style_student(KNOWLEDGE, natural_rate=0.2), instruction_writer())
    )
    lm = language_model_for(simulated_lm)
    omega = sp.optimizers.OMEGA(language_model=lm, merging_rate=0.5)
    program = await make_program(simulated_lm, optimizer=omega)
    x, y = dataset()
    before = await program.evaluate(x[30:], y[30:])
    history = await program.fit(
        x[:30], y[:30], validation_data=(x[30:], y[30:]), epochs=2, batch_size=10, verbose=0
    )
    assert before["reward"] < 0.5 <= 0.9 < history.history["val_reward"][-1]
    state = program.get_module("answerer").state
    assert "uppercase" in state["instructions"]
    assert omega.epochs == 2 and omega.iterations == 6  # the epoch counter is kept
    assert omega.slot(state)["history"][-1]["instructions"] == state["instructions"]
    assert program.language_models()[0].counters("optimizer")["calls"] > 0


async def test_two_fits_with_the_same_seed_are_identical(student):
    x, y = dataset(ROWS[:20])
    results = []
    for _ in range(2):
        sp.clear_session()
        sp.set_seed(11)
        program = await make_program(student)
        history = await program.fit(
            x, y, epochs=2, batch_size=4, validation_split=0.25, verbose=0, resume=False
        )
        results.append((history.history, program.get_state_tree()["trainable_variables"]))
    assert results[0] == results[1]
    assert program.replayed_steps == 0  # resume=False: the second fit called the model


async def test_validation_split_takes_the_tail_and_shuffle_reshuffles(student):
    seen = []

    def recorder(request):
        from synaprefect.testing.skills import parse_prompt

        seen.append(parse_prompt(request).inputs["query"])
        return style_student(KNOWLEDGE)(request)

    student.set_responder(recorder)
    program = await make_program(student)
    x, y = dataset(ROWS[:10])
    await program.fit(
        x, y, epochs=2, batch_size=8, validation_split=0.2, verbose=0, minibatch_size=2
    )
    train_queries = {r["query"] for r in ROWS[:8]}
    val_queries = {r["query"] for r in ROWS[8:10]}
    assert val_queries <= set(seen)  # validation = last 20%
    # training batches only ever contain the first 80%
    first_epoch = [q for q in seen if q in train_queries][:8]
    assert set(first_epoch) == train_queries

    orders = []
    for epoch in range(2):
        orders.append(list(program.optimizer.rng("shuffle", epoch).permutation(8)))
    assert orders[0] != orders[1]


async def test_fit_without_validation_data_scores_candidates_on_the_batch(student):
    program = await make_program(student)
    x, y = dataset(ROWS[:8])
    history = await program.fit(x, y, epochs=1, batch_size=4, validation_split=0.0, verbose=0)
    assert "reward" in history.history and "val_reward" not in history.history


async def test_frozen_module_is_untouched_by_the_optimizer(student):
    lm = language_model_for(student)
    x0 = sp.Input(data_model=Query)
    frozen = sp.Generator(data_model=Answer, language_model=lm, name="frozen", return_inputs=True)
    x1 = await frozen(x0)
    x2 = await sp.Generator(data_model=Answer, language_model=lm, name="trained")(
        x1.in_mask(mask=["query"])
    )
    program = sp.Program(inputs=x0, outputs=x2, name="two")
    program.get_module("frozen").trainable = False
    program.compile(reward=sp.rewards.ExactMatch(in_mask=["answer"]), optimizer="random_few_shot")
    before = frozen.state.value()
    x, y = dataset(ROWS[:8])
    await program.fit(x, y, epochs=1, batch_size=4, validation_split=0.25, verbose=0)
    assert frozen.state.value() == before
    slot = program.optimizer.slot(program.get_module("trained").state)
    assert slot["candidates"] != [] or slot["best_candidates"]
    assert frozen.state.path not in program.optimizer.state["slots"]


async def test_save_load_then_fit_continues_like_one_long_fit(student, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-simulated")  # keys are never saved
    x, y = dataset(ROWS[:16])
    sp.set_seed(5)
    long_program = await make_program(student)
    await long_program.fit(x, y, epochs=3, batch_size=4, validation_split=0.25, verbose=0)

    sp.clear_session()
    sp.set_seed(5)
    first = await make_program(student)
    await first.fit(x, y, epochs=2, batch_size=4, validation_split=0.25, verbose=0)
    first.save(tmp_path / "p.json")
    resumed = sp.Program.load(tmp_path / "p.json")
    assert resumed.optimizer.epochs == 2 and resumed.optimizer.iterations == 6
    await resumed.fit(
        x, y, epochs=3, initial_epoch=2, batch_size=4, validation_split=0.25, verbose=0
    )
    assert (
        resumed.get_state_tree()["trainable_variables"]
        == long_program.get_state_tree()["trainable_variables"]
    )


async def test_a_file_saved_with_bookkeeping_in_its_variables_still_resumes(
    student, tmp_path, monkeypatch
):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-simulated")  # keys are never saved
    # Before the optimizer kept its own slots, a trainable variable held its predictions,
    # candidates and history: such a file loads, and its fit continues the same way.
    x, y = dataset(ROWS[:16])
    sp.set_seed(5)
    first = await make_program(student)
    await first.fit(x, y, epochs=1, batch_size=4, validation_split=0.25, verbose=0)
    first.save(tmp_path / "new.json")
    document = json.loads((tmp_path / "new.json").read_text())
    optimizer_state = next(iter(document["variables"]["optimizer_variables"].values()))
    [state] = optimizer_state.values()
    for path, slot in state.pop("slots").items():
        module, name = path.split("/")
        document["variables"]["trainable_variables"][module][name].update(slot)
    (tmp_path / "old.json").write_text(json.dumps(document))

    continued = []
    for name in ("new.json", "old.json"):
        sp.set_seed(5)
        program = sp.Program.load(tmp_path / name)
        await program.fit(
            x, y, epochs=2, initial_epoch=1, batch_size=4, validation_split=0.25, verbose=0
        )
        continued.append(program.get_state_tree())
    assert continued[0] == continued[1]
    answerer = continued[1]["trainable_variables"]["answerer"]["state_answerer"]
    assert answerer["predictions"] == [] and answerer["best_candidates"] == []


async def test_predict_evaluate_and_single_call(student):
    program = await make_program(student, metrics=[sp.metrics.Accuracy(in_mask=["answer"])])
    x, y = dataset(ROWS[:5])
    outputs = await program.predict(x, batch_size=2)
    assert isinstance(outputs, np.ndarray) and outputs.dtype == object and len(outputs) == 5
    assert all(isinstance(o, sp.JsonDataModel) for o in outputs)
    scores = await program.evaluate(x, y, batch_size=2)
    assert set(scores) == {"reward", "accuracy"} and scores["reward"] == scores["accuracy"]
    single = await program(x[0])
    assert single["answer"].lower() == ROWS[0]["answer"].lower()


async def test_reward_weights_are_applied(student):
    program = await make_program(student)
    exact = sp.rewards.ExactMatch(in_mask=["answer"])
    always = sp.rewards.RewardFunctionWrapper(_always_one)
    program.compile(reward=[exact, always], reward_weights=[0.0, 0.5])
    scores = await program.evaluate(*dataset(ROWS[:4]))
    assert scores["reward"] == pytest.approx(0.5)


async def _always_one(y_true, y_pred):
    return 1.0


# bad inputs: clear errors before any LM call ---------------------------------------------


async def test_fit_before_compile(student):
    lm = language_model_for(student)
    x0 = sp.Input(data_model=Query)
    program = sp.Program(
        inputs=x0, outputs=await sp.Generator(data_model=Answer, language_model=lm)(x0)
    )
    with pytest.raises(ValueError, match=r"compile\(\) before fit"):
        await program.fit(*dataset(ROWS[:4]))
    assert student.stats().requests == 0


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda p, x, y: p.fit(x, y[:3]), "same length"),
        (lambda p, x, y: p.fit(x, y, validation_split=1.5), r"validation_split.*\[0, 1\)"),
        (lambda p, x, y: p.fit([{"query": 1}], y[:1]), "must be a DataModel"),
        (lambda p, x, y: p.fit([Answer(answer="a")] * 4, y), r"x\[0\].*field `query`"),
        (lambda p, x, y: p.fit(x, y, batch_size=0), "batch_size"),
        (lambda p, x, y: p.evaluate(x[0], y), "single"),
    ],
)
async def test_bad_inputs_fail_before_any_call(student, call, message):
    program = await make_program(student)
    x, y = dataset(ROWS[:4])
    with pytest.raises((ValueError, TypeError), match=message):
        await call(program, x, y)
    assert student.stats().requests == 0


async def test_multi_input_data_takes_keras_forms(student):
    class Context(sp.DataModel):
        context: str

    lm = language_model_for(student)
    question, context = sp.Input(data_model=Query), sp.Input(data_model=Context)
    answer = await sp.Generator(data_model=Answer, language_model=lm)(question & context)
    program = sp.Program(inputs=[question, context], outputs=answer, name="two_inputs")
    program.compile(reward=sp.rewards.ExactMatch(in_mask=["answer"]))
    x, y = dataset(ROWS[:4])
    contexts = np.array([Context(context="geography")] * 4, dtype=object)
    by_list = await program.evaluate([x, contexts], y, verbose=0)
    names = [m.name for m in program.modules if isinstance(m, sp.modules.InputModule)]
    by_dict = await program.evaluate(dict(zip(names, [x, contexts])), y, verbose=0)
    assert by_list == by_dict and 0.0 <= by_list["reward"] <= 1.0
    with pytest.raises(ValueError, match="same number of samples"):
        await program.evaluate([x, contexts[:3]], y, verbose=0)
