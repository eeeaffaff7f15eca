"""Synalinks-style scripts for the training improvements: candidates ranked by a lower
confidence bound with a count per candidate, OMEGA's memory of hard examples, and the
``BudgetStopping`` callback. They run against the simulated LM."""

import numpy as np
import pytest

import synaprefect as synalinks
from synaprefect.orchestration import tracking
from synaprefect.testing.skills import (
    classroom,
    instruction_writer,
    language_model_for,
    load_capitals,
    parse_prompt,
    style_student,
)

ROWS, _ = load_capitals()
# The student knows the facts (title case) but not the expected style (uppercase).
KNOWLEDGE = {row["query"]: row["answer"].title() for row in ROWS}
# A question the student never gets right: its fact is not in KNOWLEDGE.
TRICK = {"query": "What is the capital of Atlantis?", "answer": "POSEIDONIA"}


class Query(synalinks.DataModel):
    query: str = synalinks.Field(description="The question")


class Answer(synalinks.DataModel):
    answer: str = synalinks.Field(description="The answer")


@pytest.fixture(autouse=True)
def _no_tracking():
    with tracking(False):
        yield


def arrays(rows):
    return (
        np.array([Query(query=r["query"]) for r in rows], dtype=object),
        np.array([Answer(answer=r["answer"]) for r in rows], dtype=object),
    )


async def capitals_program(lm, optimizer):
    inputs = synalinks.Input(data_model=Query)
    outputs = await synalinks.Generator(data_model=Answer, language_model=lm, name="answerer")(
        inputs
    )
    program = synalinks.Program(
        inputs=inputs,
        outputs=outputs,
        name="capitals",
        description="Answers questions about capitals",
    )
    program.compile(reward=synalinks.rewards.ExactMatch(in_mask=["answer"]), optimizer=optimizer)
    return program


# ---- candidates: lower confidence bound and evaluation count -------------------------------


async def test_a_candidate_that_keeps_scoring_ranks_above_a_lucky_one(simulated_lm):
    program = await capitals_program(
        language_model_for(simulated_lm), synalinks.optimizers.RandomFewShot()
    )
    optimizer = program.optimizer
    variables = program.trainable_variables
    optimizer.build(variables)
    variable = program.get_module("answerer").state

    def score(instructions, reward):
        variable.update({"instructions": instructions})
        optimizer.add_candidate(variables, reward)

    score("Lucky once.", 1.0)  # first in, so a plain mean would keep it on ties
    for _ in range(3):
        score("Always right.", 1.0)
    score("Lucky high.", 1.0)
    for _ in range(4):
        score("Usually right.", 0.9)  # a lower mean, but measured four times
    candidates = {c["instructions"]: c for c in optimizer.slot(variable)["candidates"]}
    assert candidates["Always right."]["nb_evaluations"] == 3
    assert candidates["Always right."]["reward"] == 1.0
    assert candidates["Usually right."]["reward"] == pytest.approx(0.9)
    assert candidates["Lucky once."]["nb_evaluations"] == 1

    optimizer.on_epoch_end(0, variables)
    ranked = [c["instructions"] for c in optimizer.slot(variable)["best_candidates"]]
    assert ranked == ["Always right.", "Usually right.", "Lucky once.", "Lucky high."]
    assert variable["instructions"] == "Always right."
    # The count is bookkeeping: the program's variable never carries it.
    assert "nb_evaluations" not in variable.value() and "reward" not in variable.value()


async def test_the_evaluation_count_survives_save_load_and_a_continued_fit(
    simulated_lm, tmp_path, monkeypatch
):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-simulated")  # saved programs hold no keys
    synalinks.set_seed(3)
    simulated_lm.set_responder(
        classroom(style_student(KNOWLEDGE, natural_rate=0.2), instruction_writer())
    )
    lm = language_model_for(simulated_lm)
    program = await capitals_program(lm, synalinks.optimizers.OMEGA(language_model=lm))
    x, y = arrays(ROWS[:30])
    await program.fit(
        x[:24], y[:24], validation_data=(x[24:], y[24:]), epochs=2, batch_size=8, verbose=0
    )
    variable = program.get_module("answerer").state
    best = program.optimizer.slot(variable)["best_candidates"]
    # The writer proposes the same uppercase instructions again and again: one candidate,
    # scored several times, not several copies.
    uppercase = [c for c in best if "uppercase" in (c["instructions"] or "")]
    assert len(uppercase) == 1 and uppercase[0]["nb_evaluations"] > 1
    assert all(c["nb_evaluations"] >= 1 for c in best)

    path = tmp_path / "capitals.json"
    program.save(str(path))
    loaded = synalinks.Program.load(str(path))
    loaded_variable = loaded.get_module("answerer").state
    assert loaded.optimizer.slot(loaded_variable)["best_candidates"] == best
    count = uppercase[0]["nb_evaluations"]

    await loaded.fit(
        x[:24],
        y[:24],
        validation_data=(x[24:], y[24:]),
        epochs=3,
        initial_epoch=2,
        batch_size=8,
        verbose=0,
    )
    again = [
        c
        for c in loaded.optimizer.slot(loaded_variable)["best_candidates"]
        if c["instructions"] == uppercase[0]["instructions"]
    ]
    assert len(again) == 1 and again[0]["nb_evaluations"] > count


# ---- OMEGA: memory of hard examples ---------------------------------------------------------


async def test_omega_remembers_an_example_that_keeps_failing(simulated_lm, tmp_path):
    synalinks.set_seed(5)
    writer_inputs = []
    teacher = instruction_writer()

    def recording_teacher(request):
        writer_inputs.append(parse_prompt(request).inputs)
        return teacher(request)

    simulated_lm.set_responder(
        classroom(style_student(KNOWLEDGE, natural_rate=0.2), recording_teacher)
    )
    lm = language_model_for(simulated_lm)
    omega = synalinks.optimizers.OMEGA(language_model=lm, nb_hard_examples=2, min_failures=2)
    program = await capitals_program(lm, omega)
    x, y = arrays(ROWS[:9] + [TRICK] + ROWS[30:34])
    await program.fit(
        x[:10], y[:10], validation_data=(x[10:], y[10:]), epochs=3, batch_size=5, verbose=0
    )

    assert len(writer_inputs) == 6  # one proposal per batch: 2 batches x 3 epochs
    # In the first epoch every sample has failed at most once: nothing is hard yet.
    assert [w["hard_examples"] for w in writer_inputs[:2]] == [[], []]
    # By the last epoch the trick question failed twice and every proposal shows it,
    # with the ground truth the writer needs.
    for inputs in writer_inputs[4:]:
        trick = [h for h in inputs["hard_examples"] if h["inputs"] == {"query": TRICK["query"]}]
        assert len(trick) == 1 and trick[0]["failures"] >= 2
        assert trick[0]["ground_truth"] == {"answer": TRICK["answer"]}
        assert trick[0]["predicted_output"] == {"answer": "UNKNOWN"}

    variable = program.get_module("answerer").state
    hardest = omega.hard_examples(variable)
    assert hardest[0]["inputs"] == {"query": TRICK["query"]} and hardest[0]["failures"] == 3
    # Samples the trained instructions fixed were forgotten.
    assert all(h["failures"] < 3 for h in hardest[1:])

    path = tmp_path / "omega.json"
    program.save(str(path))
    loaded = synalinks.Program.load(str(path))
    assert loaded.optimizer.hard_examples(loaded.get_module("answerer").state) == hardest
    assert loaded.optimizer.get_config()["min_failures"] == 2


async def test_counts_and_hard_examples_are_the_same_after_a_crash_and_resume(simulated_lm):
    simulated_lm.set_responder(
        classroom(style_student(KNOWLEDGE, natural_rate=0.2), instruction_writer())
    )
    x, y = arrays(ROWS[:9] + [TRICK] + ROWS[30:34])

    async def train(crash_at_iteration=None, resume=True):
        synalinks.clear_session()
        synalinks.set_seed(5)
        lm = language_model_for(simulated_lm)
        program = await capitals_program(lm, synalinks.optimizers.OMEGA(language_model=lm))
        if crash_at_iteration is not None:  # the machine is lost in the middle of epoch 2
            original = program._predict_and_score

            async def crash(bx, by, training):
                if training and program.optimizer.iterations == crash_at_iteration:
                    raise RuntimeError("machine lost")
                return await original(bx, by, training)

            program._predict_and_score = crash
        await program.fit(
            x[:10],
            y[:10],
            validation_data=(x[10:], y[10:]),
            epochs=3,
            batch_size=5,
            verbose=0,
            resume=resume,
        )
        return program

    with pytest.raises(RuntimeError, match="machine lost"):
        await train(crash_at_iteration=3)
    resumed = await train()
    assert resumed.replayed_steps > 0
    uninterrupted = await train(resume=False)

    def bookkeeping(program):
        slot = program.optimizer.slot(program.get_module("answerer").state)
        return slot["best_candidates"], slot["hard_examples"]

    best, memory = bookkeeping(resumed)
    assert any(c["nb_evaluations"] > 1 for c in best) and memory
    assert (best, memory) == bookkeeping(uninterrupted)


def test_omega_rejects_bad_hard_example_settings(simulated_lm):
    lm = language_model_for(simulated_lm)
    with pytest.raises(ValueError, match="nb_hard_examples"):
        synalinks.optimizers.OMEGA(language_model=lm, nb_hard_examples=-1)
    with pytest.raises(ValueError, match="min_failures"):
        synalinks.optimizers.OMEGA(language_model=lm, min_failures=0)


# ---- BudgetStopping -------------------------------------------------------------------------


async def test_budget_stopping_ends_the_fit_when_the_calls_are_spent(simulated_lm):
    simulated_lm.set_responder(style_student(KNOWLEDGE))
    program = await capitals_program(
        language_model_for(simulated_lm), synalinks.optimizers.RandomFewShot()
    )
    x, y = arrays(ROWS[:8])
    budget = synalinks.callbacks.BudgetStopping(max_calls=40)
    history = await program.fit(
        x, y, epochs=10, batch_size=4, validation_split=0.0, verbose=0, callbacks=[budget]
    )
    # Each batch makes 4 predictions + 4 candidate scores: 16 calls an epoch. The budget
    # runs out after the first batch of the third epoch, which still ends cleanly.
    assert simulated_lm.stats().requests == 40
    assert history.epoch == [0, 1, 2]
    assert program.optimizer.iterations == 5
    assert budget.reason.startswith("budget reached: 40 LM calls spent, limit 40")
    assert program.stop_reason == budget.reason


async def test_budget_stopping_on_time_stops_after_the_batch_in_flight(simulated_lm):
    simulated_lm.set_responder(style_student(KNOWLEDGE))
    program = await capitals_program(
        language_model_for(simulated_lm), synalinks.optimizers.RandomFewShot()
    )
    x, y = arrays(ROWS[:8])
    budget = synalinks.callbacks.BudgetStopping(max_time=1e-9)  # spent by any batch
    history = await program.fit(
        x, y, epochs=10, batch_size=4, validation_split=0.0, verbose=0, callbacks=[budget]
    )
    assert simulated_lm.stats().requests == 8 and history.epoch == [0]
    assert "seconds spent" in budget.reason and budget.spent()["calls"] == 8


def test_budget_stopping_needs_a_positive_limit():
    with pytest.raises(
        ValueError, match="at least one of max_cost, max_calls, max_tokens, max_time"
    ):
        synalinks.callbacks.BudgetStopping()
    with pytest.raises(ValueError, match="`max_time` must be a positive number"):
        synalinks.callbacks.BudgetStopping(max_time=0)
