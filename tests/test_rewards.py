"""Rewards: masks, reductions, registry, configs, judges and batch rewards."""

import logging
import math

import pytest

import synaprefect as sp
from synaprefect import rewards
from synaprefect.metrics import Mean
from synaprefect.rewards.wrappers import resolve_function


class Answer(sp.DataModel):
    answer: str


class Thought(sp.DataModel):
    thinking: str
    answer: str


class Score(sp.DataModel):
    reward: float | None = None


def thought(thinking, answer):
    return Thought(thinking=thinking, answer=answer)


# ---- ExactMatch and masks -------------------------------------------------------------------


async def test_exact_match_scores_one_sample():
    reward = rewards.ExactMatch()
    assert reward.name == "exact_match" and reward.direction == "up"
    assert await reward(Answer(answer="Paris"), Answer(answer="Paris")) == 1.0
    assert await reward(Answer(answer="Paris"), Answer(answer="paris")) == 0.0
    assert await reward(Answer(answer="Paris"), None) == 0.0
    assert await reward(None, None) == 0.0
    json_value = sp.JsonDataModel(json={"answer": "Paris"}, schema=Answer.get_schema())
    assert await reward(json_value, Answer(answer="Paris")) == 1.0


async def test_in_mask_ignores_other_fields():
    y_true, y_pred = thought("a", "Paris"), thought("completely different", "Paris")
    assert await rewards.ExactMatch()(y_true, y_pred) == 0.0
    assert await rewards.ExactMatch(in_mask=["answer"])(y_true, y_pred) == 1.0
    assert await rewards.ExactMatch(in_mask=["answer"])(y_true, thought("a", "Rome")) == 0.0


async def test_out_mask_and_patterns():
    y_true, y_pred = thought("a", "Paris"), thought("b", "Paris")
    assert await rewards.ExactMatch(out_mask=["thinking"])(y_true, y_pred) == 1.0
    assert await rewards.ExactMatch(in_mask_pattern="^ans")(y_true, y_pred) == 1.0
    assert await rewards.ExactMatch(out_mask_pattern="think")(y_true, y_pred) == 1.0
    # in-mask first, then out-mask: nothing is left on either side, so both are {}.
    both = rewards.ExactMatch(in_mask=["answer"], out_mask=["answer"])
    assert await both(y_true, thought("b", "Rome")) == 1.0


async def test_masks_change_the_schema_too():
    value = rewards.apply_masks(thought("a", "b").to_json_data_model(), in_mask=["answer"])
    assert value.get_json() == {"answer": "b"}
    assert list(value.get_schema()["properties"]) == ["answer"]


def test_masks_of_one_shared_schema_are_kept_apart():
    # Samples share their class's schema object: each mask gets its own masked schema,
    # and none of them changes the shared one.
    shared = Thought.get_schema()
    first, second = thought("a", "b").to_json_data_model(), thought("c", "d").to_json_data_model()
    assert first.get_schema() is second.get_schema()
    kept = rewards.apply_masks(first, in_mask=["answer"])
    dropped = rewards.apply_masks(second, out_mask=["answer"])
    patterned = rewards.apply_masks(second, in_mask_pattern="^think")
    assert list(kept.get_schema()["properties"]) == ["answer"]
    assert list(dropped.get_schema()["properties"]) == ["thinking"]
    assert list(patterned.get_schema()["properties"]) == ["thinking"]
    assert (kept.get_json(), dropped.get_json()) == ({"answer": "b"}, {"thinking": "c"})
    assert rewards.apply_masks(second, in_mask=["answer"]).get_schema() is kept.get_schema()
    assert first.get_schema() == shared and Thought.get_schema() == shared
    for bad in ("answer", [["answer"]]):
        with pytest.raises(ValueError, match="`in_mask` must be a list of field names"):
            rewards.apply_masks(first, in_mask=bad)


async def test_plain_dicts_and_other_values_are_refused():
    reward = rewards.ExactMatch()
    with pytest.raises(TypeError, match="plain dict"):
        await reward({"answer": "a"}, Answer(answer="a"))
    with pytest.raises(TypeError, match="y_pred.*got str"):
        await reward(Answer(answer="a"), "a")


def test_invalid_masks_and_names():
    with pytest.raises(ValueError, match="list of field names"):
        rewards.ExactMatch(in_mask="answer")
    with pytest.raises(ValueError, match="regular expression"):
        rewards.ExactMatch(in_mask_pattern=["answer"])
    with pytest.raises(ValueError, match="without '/'"):
        rewards.ExactMatch(name="a/b")


async def test_exact_match_function():
    assert await rewards.exact_match(Answer(answer="x"), Answer(answer="x")) == 1.0
    assert await rewards.exact_match(Answer(answer="x"), Answer(answer="y")) == 0.0
    assert await rewards.exact_match(None, Answer(answer="x")) == 0.0


# ---- base class ------------------------------------------------------------------------------


async def test_custom_reward_and_its_errors():
    class Length(rewards.Reward):
        async def call(self, y_true, y_pred):
            return len(y_pred["answer"]) if y_pred is not None else "nothing"

    reward = Length()
    assert reward.name == "length"
    assert await reward(None, Answer(answer="abc")) == 3.0
    with pytest.raises(ValueError, match="must return a number, got str"):
        await reward(None, None)

    class Forgot(rewards.Reward):
        pass

    with pytest.raises(NotImplementedError, match="async def call"):
        await Forgot()(None, None)


async def test_compute_batch_and_reduce():
    reward = rewards.ExactMatch(reduction="sum")
    values = await reward.compute_batch(
        [Answer(answer="a"), Answer(answer="b"), Answer(answer="c")],
        [Answer(answer="a"), None, Answer(answer="c")],
    )
    assert values == [1.0, 0.0, 1.0]
    assert reward.reduce(values) == 2.0
    with pytest.raises(ValueError, match="2 targets but 1 predictions"):
        await reward.compute_batch([None, None], [None])


# ---- reductions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reduction,expected",
    [("sum", 1.5), ("mean", 0.5), ("min", 0.0), ("max", 1.0), ("none", 0.5), (None, 0.5)],
)
def test_reduce_rewards(reduction, expected):
    assert rewards.reduce_rewards([1.0, 0.0, 0.5], reduction) == pytest.approx(expected)


def test_reduce_empty_and_invalid():
    for reduction in rewards.REDUCTIONS:
        assert rewards.reduce_rewards([], reduction) == 0.0
    with pytest.raises(ValueError, match="'sum', 'mean', 'min', 'max', 'none' or None"):
        rewards.reduce_rewards([1.0], "average")
    with pytest.raises(ValueError, match="Invalid reduction 'avg'"):
        rewards.ExactMatch(reduction="avg")


# ---- registry and configs ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["exact_match", "exactmatch", "ExactMatch", "EXACT_MATCH"])
def test_get_by_name(name):
    reward = rewards.get(name)
    assert isinstance(reward, rewards.ExactMatch) and reward.name == "exact_match"


def test_get_other_identifiers():
    instance = rewards.ExactMatch(in_mask=["answer"])
    assert rewards.get(instance) is instance
    assert rewards.get(None) is None
    assert isinstance(rewards.get(rewards.ExactMatch), rewards.ExactMatch)
    from_dict = rewards.get(rewards.serialize(instance))
    assert isinstance(from_dict, rewards.ExactMatch) and from_dict.in_mask == ["answer"]
    short = rewards.get({"class_name": "ExactMatch", "config": {"out_mask": ["thinking"]}})
    assert short.out_mask == ["thinking"]

    def my_reward(y_true, y_pred):
        return 0.25

    wrapped = rewards.get(my_reward)
    assert isinstance(wrapped, rewards.RewardFunctionWrapper) and wrapped.name == "my_reward"


def test_get_errors():
    with pytest.raises(ValueError, match="Unknown reward 'exact'.*cosine_similarity.*exact_match"):
        rewards.get("exact")
    with pytest.raises(TypeError, match="Cannot interpret 3"):
        rewards.get(3)
    with pytest.raises(ValueError, match="Cosine.*embedding model"):
        rewards.get("cosine_similarity")
    with pytest.raises(TypeError, match="takes a Reward"):
        rewards.serialize("exact_match")


def test_exact_match_config_round_trip():
    reward = rewards.ExactMatch(
        name="em", reduction="max", in_mask=["answer"], out_mask_pattern="x"
    )
    config = rewards.serialize(reward)
    assert config["class_name"] == "ExactMatch"
    assert config["config"] == {
        "name": "em",
        "reduction": "max",
        "in_mask": ["answer"],
        "out_mask": None,
        "in_mask_pattern": None,
        "out_mask_pattern": "x",
    }
    again = rewards.deserialize(config)
    assert type(again) is rewards.ExactMatch and again.get_config() == reward.get_config()


def test_deserialize_refuses_non_rewards():
    with pytest.raises(ValueError, match="not a Reward"):
        rewards.deserialize(sp.saving.serialize_object(Mean()))


# ---- CosineSimilarity ----------------------------------------------------------------------------

VECTORS = {
    "paris": [1.0, 0.0],
    "PARIS!": [3.0, 0.0],  # same direction, other norm
    "rome": [0.0, 1.0],  # orthogonal
    "anti": [-2.0, 0.0],  # opposite
    "zero": [0.0, 0.0],
}


class FakeEmbedder:
    """Looks vectors up in a table; counts its calls."""

    def __init__(self, vectors=None):
        self.vectors = vectors or VECTORS
        self.calls = []

    async def embed(self, texts):
        self.calls.append(list(texts))
        return [self.vectors[text] for text in texts]


@sp.saving.register_synaprefect_serializable(package="tests")
class SavableEmbedder(FakeEmbedder):
    def __init__(self, scale=1.0):
        super().__init__({k: [scale * x for x in v] for k, v in VECTORS.items()})
        self.scale = scale

    def get_config(self):
        return {"scale": self.scale}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class Pair(sp.DataModel):
    first: str
    second: str


async def test_cosine_similarity_values():
    embedder = FakeEmbedder()
    reward = rewards.CosineSimilarity(embedding_model=embedder)
    assert reward.name == "cosine_similarity"
    assert await reward(Answer(answer="paris"), Answer(answer="PARIS!")) == pytest.approx(1.0)
    assert await reward(Answer(answer="paris"), Answer(answer="rome")) == pytest.approx(0.5)
    assert await reward(Answer(answer="paris"), Answer(answer="anti")) == pytest.approx(0.0)
    assert await reward(Answer(answer="paris"), Answer(answer="zero")) == pytest.approx(0.5)
    # One batched embedding call per sample: the target's fields, then the prediction's.
    assert embedder.calls[0] == ["paris", "PARIS!"]
    # Two fields: dots 1 and 0 -> mean 0.5 -> (0.5 + 1) / 2.
    two = await reward(Pair(first="paris", second="paris"), Pair(first="paris", second="rome"))
    assert two == pytest.approx(0.75)


async def test_cosine_similarity_none_masks_and_missing_fields():
    embedder = FakeEmbedder()
    reward = rewards.CosineSimilarity(embedding_model=embedder, in_mask=["answer"])
    assert await reward(Answer(answer="paris"), None) == 0.0
    assert embedder.calls == []
    y_true, y_pred = thought("rome", "paris"), thought("anti", "paris")
    assert await reward(y_true, y_pred) == pytest.approx(1.0)
    # A target field missing from the prediction counts as the worst similarity (-1).
    unmasked = rewards.CosineSimilarity(embedding_model=embedder)
    assert await unmasked(Pair(first="paris", second="rome"), Answer(answer="paris")) == 0.0


async def test_cosine_similarity_errors():
    with pytest.raises(ValueError, match="needs an embedding model"):
        rewards.CosineSimilarity()
    with pytest.raises(TypeError, match="embed"):
        rewards.CosineSimilarity(embedding_model=object())
    with pytest.raises(ValueError, match="axis"):
        rewards.CosineSimilarity(embedding_model=FakeEmbedder(), axis=1)

    class Short(FakeEmbedder):
        async def embed(self, texts):
            return [[1.0, 0.0]]

    reward = rewards.CosineSimilarity(embedding_model=Short())
    with pytest.raises(ValueError, match="1 vectors for 2 texts"):
        await reward(Answer(answer="paris"), Answer(answer="rome"))


async def test_cosine_similarity_config_round_trips_without_the_model():
    reward = rewards.CosineSimilarity(
        embedding_model=FakeEmbedder(), in_mask=["answer"], reduction="min", name="cos"
    )
    config = rewards.serialize(reward)
    assert config["config"]["embedding_model"] is None
    with pytest.raises(ValueError, match="pass it again"):
        rewards.deserialize(config)
    again = rewards.deserialize(config, embedding_model=FakeEmbedder())
    assert isinstance(again, rewards.CosineSimilarity)
    assert again.get_config() == reward.get_config()
    assert await again(Answer(answer="paris"), Answer(answer="rome")) == pytest.approx(0.5)


async def test_cosine_similarity_config_with_a_serializable_model():
    reward = rewards.CosineSimilarity(embedding_model=SavableEmbedder(scale=2.0))
    config = rewards.serialize(reward)
    assert config["config"]["embedding_model"]["config"] == {"scale": 2.0}
    again = rewards.deserialize(config)
    assert isinstance(again.embedding_model, SavableEmbedder)
    assert again.embedding_model.scale == 2.0
    assert await again(Answer(answer="paris"), Answer(answer="anti")) == pytest.approx(0.0)


# ---- RewardFunctionWrapper ----------------------------------------------------------------------


def same_length(y_true, y_pred, bonus=0.0):
    if y_true is None or y_pred is None:
        return 0.0
    return float(len(y_true["answer"]) == len(y_pred["answer"])) + bonus


async def async_overlap(y_true, y_pred):
    return len(set(y_true["answer"]) & set(y_pred["answer"])) / len(set(y_true["answer"]))


rewards.register_reward_function(same_length)
rewards.register_reward_function(async_overlap, name="tests.async_overlap")


async def test_function_wrapper_sync_async_and_kwargs():
    sync = rewards.RewardFunctionWrapper(same_length, bonus=0.5)
    assert sync.name == "same_length"
    assert await sync(Answer(answer="abc"), Answer(answer="xyz")) == 1.5
    assert await sync(Answer(answer="abc"), None) == 0.0
    assert await sync(Answer(answer="abc"), Answer(answer="xy")) == 0.5
    overlap = rewards.RewardFunctionWrapper(async_overlap, name="overlap", in_mask=["answer"])
    assert await overlap(thought("zzz", "abcd"), thought("yyy", "abxy")) == 0.5


async def test_function_wrapper_errors():
    with pytest.raises(TypeError, match="needs a function"):
        rewards.RewardFunctionWrapper("same_length")
    bad = rewards.RewardFunctionWrapper(lambda y_true, y_pred: None)
    assert bad.name == "reward_function_wrapper"
    with pytest.raises(ValueError, match="must return a number, got NoneType"):
        await bad(None, None)
    nan = rewards.RewardFunctionWrapper(lambda y_true, y_pred: math.nan)
    with pytest.raises(ValueError, match="not a finite number"):
        await nan(None, None)


def test_function_wrapper_config_round_trips_registered_functions():
    wrapper = rewards.RewardFunctionWrapper(same_length, reduction="max", bonus=0.25)
    config = rewards.serialize(wrapper)
    assert config["config"]["fn"] == f"{__name__}:same_length"
    assert config["config"]["bonus"] == 0.25
    again = rewards.deserialize(config)
    assert again.fn is same_length and again.fn_kwargs == {"bonus": 0.25}
    assert again.reduction == "max"
    named = rewards.RewardFunctionWrapper(async_overlap)
    assert named.get_config()["fn"] == "tests.async_overlap"
    assert rewards.deserialize(rewards.serialize(named)).fn is async_overlap


def test_function_wrapper_config_of_synaprefect_functions():
    wrapper = rewards.RewardFunctionWrapper(rewards.exact_match)
    config = wrapper.get_config()
    assert config["fn"] == "synaprefect.rewards.exact_match:exact_match"
    assert rewards.RewardFunctionWrapper.from_config(config).fn is rewards.exact_match


def test_function_wrapper_refuses_unsaveable_functions():
    def local_reward(y_true, y_pred):
        return 1.0

    for fn in (local_reward, lambda y_true, y_pred: 1.0):
        with pytest.raises(NotImplementedError, match="register_reward_function"):
            rewards.RewardFunctionWrapper(fn).get_config()
    with pytest.raises(NotImplementedError, match="not JSON values"):
        rewards.RewardFunctionWrapper(same_length, bonus=object()).get_config()
    with pytest.raises(ValueError, match="explicit `name=`"):
        rewards.register_reward_function(lambda a, b: 1.0)


def test_loading_never_imports_arbitrary_modules():
    config = {"fn": "os:system", "name": "evil"}
    with pytest.raises(ValueError, match="Unknown reward function 'os:system'"):
        rewards.RewardFunctionWrapper.from_config(config)
    with pytest.raises(ValueError, match="Unknown reward function"):
        resolve_function("synaprefect.rewards.exact_match:nope")


# ---- ProgramAsJudge ------------------------------------------------------------------------------


async def make_judge_program(name="judge"):
    x_true = sp.Input(data_model=Answer, optional=True)
    x_pred = sp.Input(data_model=Answer, optional=True)
    score = await sp.Lambda(
        lambda x: {"reward": 1.0 if x["answer"] == x["answer_1"] else 0.25},
        data_model=Score,
        name="score",
    )(x_true & x_pred)
    return sp.Program(inputs=[x_true, x_pred], outputs=score, name=name)


async def test_program_as_judge(caplog):
    judge = rewards.ProgramAsJudge(await make_judge_program(), in_mask=["answer"])
    assert judge.name == "program_as_judge"
    assert await judge(thought("a", "Paris"), thought("b", "Paris")) == 1.0
    assert await judge(Answer(answer="Paris"), Answer(answer="Rome")) == 0.25
    with caplog.at_level(logging.WARNING, logger="synaprefect.rewards"):
        assert await judge(Answer(answer="Paris"), None) == 0.0
    assert "returned None" in caplog.text


async def test_program_as_judge_reward_field_problems(caplog):
    x_true = sp.Input(data_model=Answer)
    x_pred = sp.Input(data_model=Answer)
    no_reward = await sp.Lambda(lambda x: {"answer": "?"}, data_model=Answer)(x_true & x_pred)
    judge = rewards.ProgramAsJudge(sp.Program(inputs=[x_true, x_pred], outputs=no_reward))
    with pytest.raises(ValueError, match="no `reward` field"):
        await judge(Answer(answer="a"), Answer(answer="b"))

    x_true = sp.Input(data_model=Answer)
    x_pred = sp.Input(data_model=Answer)
    empty = await sp.Lambda(lambda x: {"reward": None}, data_model=Score)(x_true & x_pred)
    judge = rewards.ProgramAsJudge(sp.Program(inputs=[x_true, x_pred], outputs=empty))
    with caplog.at_level(logging.WARNING, logger="synaprefect.rewards"):
        assert await judge(Answer(answer="a"), Answer(answer="b")) == 0.0
    assert "gave no reward" in caplog.text
    with pytest.raises(TypeError, match="needs a synaprefect Program"):
        rewards.ProgramAsJudge(lambda pair: 1.0)


@sp.saving.register_synaprefect_serializable(package="tests")
class LengthJudge(sp.Module):
    """Rewards predictions as long as the target."""

    def __init__(self, partial: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.partial = partial

    async def call(self, inputs, training=False):
        if inputs is None:
            return None
        same = len(inputs["answer"]) == len(inputs["answer_1"])
        return sp.JsonDataModel(
            schema=Score.get_schema(), json={"reward": 1.0 if same else self.partial}
        )

    async def compute_output_spec(self, inputs, training=False):
        return Score.to_symbolic_data_model()

    def get_config(self):
        return {"partial": self.partial, "name": self.name}


async def test_program_as_judge_config_round_trip():
    x_true = sp.Input(data_model=Answer)
    x_pred = sp.Input(data_model=Answer, optional=True)
    score = await LengthJudge(partial=0.1, name="length_judge")(x_true & x_pred)
    program = sp.Program(inputs=[x_true, x_pred], outputs=score, name="judge_program")
    judge = rewards.ProgramAsJudge(program, reduction="max", name="judge")
    config = rewards.serialize(judge)
    assert config["config"]["program"]["name"] == "judge_program"
    again = rewards.deserialize(config)
    assert isinstance(again, rewards.ProgramAsJudge) and again.program is not program
    assert again.program.name == "judge_program" and again.reduction == "max"
    assert await again(Answer(answer="abc"), Answer(answer="xyz")) == 1.0
    assert await again(Answer(answer="abc"), Answer(answer="xy")) == pytest.approx(0.1)


async def test_program_as_judge_with_a_lambda_cannot_be_saved():
    judge = rewards.ProgramAsJudge(await make_judge_program())
    with pytest.raises(NotImplementedError, match="never serialised"):
        judge.get_config()


# ---- BatchReward -------------------------------------------------------------------------------


class RelativeLength(rewards.BatchReward):
    """Each prediction's length relative to the longest one of the batch."""

    def __init__(self, result=None, **kwargs):
        super().__init__(**kwargs)
        self.forced = result
        self.seen = []

    async def call_batch(self, list_y_true, list_y_pred):
        self.seen.append([p.get_json() if p is not None else None for p in list_y_pred])
        if self.forced is not None:
            return self.forced
        lengths = [len(p["answer"]) if p is not None else 0 for p in list_y_pred]
        longest = max(lengths) or 1
        return [length / longest for length in lengths]


async def test_batch_reward_scores_a_batch_at_once():
    reward = RelativeLength(in_mask=["answer"])
    values = await reward.compute_batch(
        [None, None, None], [thought("t", "ab"), thought("t", "abcd"), None]
    )
    assert values == [0.5, 1.0, 0.0]
    assert reward.seen == [[{"answer": "ab"}, {"answer": "abcd"}, None]]
    assert await reward(None, Answer(answer="abc")) == 1.0  # a batch of one


async def test_batch_reward_validates_its_results():
    pairs = ([None, None], [Answer(answer="a"), Answer(answer="b")])
    with pytest.raises(ValueError, match=r"one number per sample \(2\), got 1"):
        await RelativeLength(result=[1.0]).compute_batch(*pairs)
    with pytest.raises(ValueError, match=r"sample 1.*must return a number, got str"):
        await RelativeLength(result=[1.0, "high"]).compute_batch(*pairs)
    with pytest.raises(ValueError, match="got dict"):
        await RelativeLength(result={"a": 1.0}).compute_batch(*pairs)
    with pytest.raises(ValueError, match="2 targets but 1 predictions"):
        await RelativeLength().compute_batch([None, None], [None])

    class Unfinished(rewards.BatchReward):
        pass

    with pytest.raises(NotImplementedError, match="call_batch"):
        await Unfinished()(None, None)


# ---- helpers -------------------------------------------------------------------------------------


def test_flatten_fields():
    value = {
        "answer": "Paris",
        "tags": ["a", "b"],
        "n": 3,
        "ok": True,
        "none": None,
        "details": {"city": "Rome", "items": [{"x": 1}, {"x": 2}]},
    }
    assert rewards.flatten_fields(value) == {
        "answer": "Paris",
        "tags": "a b",
        "n": "3",
        "ok": "true",
        "none": "",
        "details.city": "Rome",
        "details.items.0.x": "1",
        "details.items.1.x": "2",
    }


async def test_lm_as_judge_against_the_simulated_lm(simulated_lm):
    from synaprefect.language_models import phase_scope
    from synaprefect.testing.skills import language_model_for, parse_prompt

    seen = []

    def judge(request):
        inputs = parse_prompt(request).inputs
        seen.append(inputs)
        return {
            "critique": "ok",
            "reward": 1.0 if inputs.get("answer") == inputs.get("gold_answer") else 0.0,
        }

    simulated_lm.set_responder(judge)
    lm = language_model_for(simulated_lm)
    reward = sp.rewards.LMAsJudge(language_model=lm, in_mask=["answer"])
    with phase_scope("reward"):
        assert await reward(Answer(answer="Paris"), Answer(answer="Paris")) == 1.0
        assert await reward(Answer(answer="Paris"), Answer(answer="Rome")) == 0.0
        assert await reward(Answer(answer="Paris"), None) == 0.0
    assert seen[0] == {"gold_answer": "Paris", "answer": "Paris"}
    assert simulated_lm.stats().requests == 2
    assert lm.counters("reward")["calls"] == 2
    restored = sp.rewards.get(sp.rewards.serialize(reward))
    assert isinstance(restored, sp.rewards.LMAsJudge)
    assert "api_key" not in str(sp.rewards.serialize(reward))
