"""One walk finds every model of a program: what it pays (``language_models``) and what
``--model`` replaces (``recipes.use_language_model``) are the same models."""

import synaprefect as sp
from synaprefect import recipes
from synaprefect.datasets import to_samples
from synaprefect.orchestration import tracking
from synaprefect.testing.skills import load_capitals

ROWS, _ = load_capitals()


class Query(sp.DataModel):
    query: str


class Answer(sp.DataModel):
    answer: str


async def test_a_loaded_program_pays_the_given_model_for_its_judge_too(
    tmp_path, simulated_lm_factory
):
    first, second = simulated_lm_factory(), simulated_lm_factory()
    saved_with = sp.LanguageModel(first.model, api_base=first.base_url, api_key="sk-x")
    program = await recipes.default_program(Query, Answer, saved_with, name="judged")
    program.compile(reward=sp.rewards.LMAsJudge(language_model=saved_with))
    program.save(tmp_path / "judged.json")
    first.stop()  # the saved program's models (generator and judge) are gone

    moved_to = sp.LanguageModel(second.model, api_base=second.base_url, api_key="sk-x")
    loaded = recipes.load_program(tmp_path / "judged.json", moved_to)
    assert loaded.language_models() == [moved_to]
    x, y = to_samples(ROWS[:2], loaded.inputs, loaded.outputs)
    with tracking(False):
        await loaded.evaluate(x, y, verbose=0)
    # Two answers and two verdicts, all from the model the job was given.
    assert moved_to.counters("reward")["calls"] == 2
    assert moved_to.counters("inference")["calls"] == 2
    assert second.stats().completed == 4
