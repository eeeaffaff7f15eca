"""Metrics: state variables, reductions, accuracy, word-level F-scores, operational counters."""

import pytest

import synaprefect as sp
from synaprefect import metrics, rewards


class Answer(sp.DataModel):
    answer: str


class Thought(sp.DataModel):
    thinking: str
    answer: str


class Pair(sp.DataModel):
    title: str
    body: str


def answer(text):
    return Answer(answer=text)


# ---- base class and state --------------------------------------------------------------------


async def test_state_lives_in_one_non_trainable_variable():
    mean = metrics.Mean()
    assert mean.name == "mean" and mean.direction is None
    assert mean.variables == [mean.state]
    assert mean.state.name == "mean_state" and mean.state.trainable is False
    assert mean.state.value() == {"total": 0.0, "count": 0}
    await mean.update_state([1.0, 0.5])
    assert mean.state.value() == {"total": 1.5, "count": 2}


def test_metric_base_errors():
    with pytest.raises(ValueError, match="without '/'"):
        metrics.Mean(name="val/mean")

    class NoState(metrics.Metric):
        pass

    with pytest.raises(NotImplementedError, match="state_model"):
        NoState()
    with pytest.raises(ValueError, match="Invalid direction 'higher'"):
        metrics.Mean(direction="higher")


# ---- Mean, Sum, MeanMetricWrapper -------------------------------------------------------------


async def test_mean_result_reset_and_direction():
    mean = metrics.Mean(name="reward", direction="up")
    assert mean.result() == 0.0
    await mean.update_state([1.0, 0.0])
    await mean.update_state(0.5)
    assert mean.result() == pytest.approx(0.5)
    assert mean.direction == "up" and metrics.Mean.direction is None
    mean.reset_state()
    assert mean.result() == 0.0 and mean.state.value() == {"total": 0.0, "count": 0}
    with pytest.raises(ValueError, match="number or a list of numbers, got 'a'"):
        await mean.update_state(["a"])
    assert mean.state.value() == {"total": 0.0, "count": 0}


async def test_sum():
    total = metrics.Sum()
    await total.update_state([1, 0, 1])
    await total.update_state(2.5)
    assert total.result() == 4.5 and total.direction is None
    total.reset_state()
    assert total.result() == 0.0


async def test_mean_metric_wrapper_with_masks():
    metric = metrics.MeanMetricWrapper(rewards.exact_match, in_mask=["answer"])
    assert metric.name == "exact_match" and metric.direction == "up"
    await metric.update_state(Thought(thinking="a", answer="x"), Thought(thinking="b", answer="x"))
    await metric.update_state([answer("x"), answer("y")], [answer("x"), None])
    assert metric.result() == pytest.approx(2 / 3)
    unmasked = metrics.MeanMetricWrapper(rewards.exact_match)
    await unmasked.update_state(
        Thought(thinking="a", answer="x"), Thought(thinking="b", answer="x")
    )
    assert unmasked.result() == 0.0


def char_overlap(y_true, y_pred, scale=1.0):
    if y_pred is None:
        return 0.0
    return scale * len(set(y_true["answer"]) & set(y_pred["answer"]))


rewards.register_reward_function(char_overlap)


async def test_mean_metric_wrapper_sync_fn_kwargs_clone_and_config():
    metric = metrics.MeanMetricWrapper(char_overlap, name="overlap", scale=0.5)
    await metric.update_state([answer("abc"), answer("abc")], [answer("abx"), answer("zzz")])
    assert metric.result() == pytest.approx((1.0 + 0.0) / 2)
    clone = metric.clone()
    assert clone.result() == 0.0 and clone.fn is char_overlap and clone.name == "overlap"
    assert metric.result() == pytest.approx(0.5)
    config = metrics.serialize(metric)
    assert config["config"] == {
        "fn": f"{__name__}:char_overlap",
        "name": "overlap",
        "in_mask": None,
        "out_mask": None,
        "scale": 0.5,
    }
    again = metrics.deserialize(config)
    await again.update_state(answer("abc"), answer("abc"))
    assert again.result() == pytest.approx(1.5)


async def test_mean_metric_wrapper_errors():
    with pytest.raises(TypeError, match="needs a function"):
        metrics.MeanMetricWrapper(None)
    metric = metrics.MeanMetricWrapper(lambda y_true, y_pred: "high")
    assert metric.name == "mean_metric_wrapper"
    with pytest.raises(ValueError, match="must return a number"):
        await metric.update_state(answer("a"), answer("a"))
    with pytest.raises(NotImplementedError, match="register_reward_function"):
        metric.get_config()
    assert metric.clone().name == "mean_metric_wrapper"  # clone works without a config


# ---- Accuracy ---------------------------------------------------------------------------------


async def test_accuracy():
    accuracy = metrics.Accuracy(in_mask=["answer"])
    assert accuracy.name == "accuracy" and accuracy.direction == "up"
    await accuracy.update_state(
        [Thought(thinking="a", answer="x"), answer("y"), answer("z"), None],
        [Thought(thinking="b", answer="x"), None, answer("Z"), answer("w")],
    )
    assert accuracy.result() == pytest.approx(0.25)
    await accuracy.update_state(answer("q"), answer("q"))
    assert accuracy.result() == pytest.approx(2 / 5)
    assert accuracy.clone().result() == 0.0 and accuracy.result() == pytest.approx(0.4)
    accuracy.reset_state()
    assert accuracy.result() == 0.0


async def test_accuracy_input_errors():
    accuracy = metrics.Accuracy()
    with pytest.raises(ValueError, match="2 targets but 1 predictions"):
        await accuracy.update_state([answer("a"), answer("b")], [answer("a")])
    with pytest.raises(ValueError, match="two lists of samples"):
        await accuracy.update_state([answer("a")], answer("a"))
    with pytest.raises(TypeError, match="plain dict"):
        await accuracy.update_state({"answer": "a"}, answer("a"))


# ---- F-scores ---------------------------------------------------------------------------------
# Target:     title "The Quick fox" (3 tokens), body "a b c d" (4 tokens)
# Prediction: title "quick FOX jumps" (3 tokens, 2 shared), body "a b x" (3 tokens, 2 shared)
#   title: P = 2/3, R = 2/3, F1 = 2/3        body: P = 2/3, R = 1/2, F1 = 4/7
#   micro: P = 4/6, R = 4/7, F1 = 8/13       macro F1 = 13/21      weighted F1 = 30/49

GOLD = Pair(title="The Quick fox", body="a b c d")
PRED = Pair(title="quick FOX jumps", body="a b x")


@pytest.mark.parametrize(
    "average,expected", [("micro", 8 / 13), ("macro", 13 / 21), ("weighted", 30 / 49)]
)
async def test_f1_score_averages(average, expected):
    f1 = metrics.F1Score(average=average)
    await f1.update_state(GOLD, PRED)
    assert f1.result() == pytest.approx(expected)


async def test_f1_score_per_field():
    f1 = metrics.F1Score(average=None)
    await f1.update_state(GOLD, PRED)
    assert f1.result() == pytest.approx({"title": 2 / 3, "body": 4 / 7})
    await f1.update_state(GOLD, GOLD)
    assert f1.result() == pytest.approx({"title": (2 / 3 + 1) / 2, "body": (4 / 7 + 1) / 2})
    f1.reset_state()
    assert f1.result() == 0.0


@pytest.mark.parametrize(
    "cls,average,expected",
    [
        (metrics.Precision, "micro", 2 / 3),
        (metrics.Recall, "micro", 4 / 7),
        (metrics.Precision, "macro", 2 / 3),
        (metrics.Recall, "macro", 7 / 12),
        (metrics.Recall, "weighted", (3 * 2 / 3 + 4 * 1 / 2) / 7),
    ],
)
async def test_precision_and_recall(cls, average, expected):
    metric = cls(average=average)
    await metric.update_state(GOLD, PRED)
    assert metric.result() == pytest.approx(expected)
    assert metric.direction == "up"


async def test_fbeta_score_weights_recall():
    f2 = metrics.FBetaScore(beta=2.0, in_mask=["answer"])
    await f2.update_state(
        Thought(thinking="x", answer="the cat sat"), Thought(thinking="y", answer="the cat")
    )
    # P = 1, R = 2/3 -> 5 * P * R / (4 * P + R) = (10/3) / (14/3)
    assert f2.result() == pytest.approx(10 / 14)


async def test_f_scores_count_failed_predictions_as_zero_and_skip_missing_targets():
    f1 = metrics.F1Score(average="micro")
    await f1.update_state([GOLD, GOLD, None], [PRED, None, PRED])
    assert f1.result() == pytest.approx((8 / 13 + 0.0) / 2)
    per_field = metrics.Precision(average=None)
    await per_field.update_state([GOLD, GOLD], [PRED, None])
    assert per_field.result() == pytest.approx({"title": 1 / 3, "body": 1 / 3})


async def test_f_score_edge_cases():
    f1 = metrics.F1Score()
    await f1.update_state(answer(""), answer(""))  # both empty: they agree
    await f1.update_state(answer("cat"), Thought(thinking="cat", answer=""))  # empty answer
    await f1.update_state(answer("cat"), Pair(title="cat", body="cat"))  # no `answer`
    assert f1.result() == pytest.approx(1 / 3)


def test_f_score_config_and_errors():
    assert metrics.F1Score(average="macro", in_mask=["answer"]).get_config() == {
        "average": "macro",
        "name": "f1_score",
        "in_mask": ["answer"],
        "out_mask": None,
    }
    fbeta = metrics.FBetaScore(beta=0.5, average=None, name="f_half")
    again = metrics.deserialize(metrics.serialize(fbeta))
    assert type(again) is metrics.FBetaScore
    assert again.get_config() == {
        "beta": 0.5,
        "average": None,
        "name": "f_half",
        "in_mask": None,
        "out_mask": None,
    }
    assert again.state.value() == {"totals": {}, "counts": {}}
    with pytest.raises(ValueError, match="'micro', 'macro', 'weighted' or None"):
        metrics.F1Score(average="samples")
    with pytest.raises(ValueError, match="positive number"):
        metrics.FBetaScore(beta=0)


# ---- operational metrics ----------------------------------------------------------------------


class FakeModel:
    """Exposes per-phase counters like synaprefect's language models."""

    KEYS = (
        "calls",
        "failed_calls",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "cost",
        "latency_s",
        "cache_hits",
    )

    def __init__(self):
        self.reset()

    def reset(self):
        self.by_phase = {
            p: dict.fromkeys(self.KEYS, 0) for p in ("inference", "reward", "optimizer")
        }

    def record(self, phase="inference", failed=False, tokens=10, cost=0.01, latency=1.0):
        counters = self.by_phase[phase]
        counters["calls"] += 1
        counters["failed_calls"] += int(failed)
        counters["prompt_tokens"] += tokens // 2
        counters["completion_tokens"] += tokens - tokens // 2
        counters["total_tokens"] += tokens
        counters["cost"] += cost
        counters["latency_s"] += latency

    def counters(self, phase=None):
        if phase is not None:
            return dict(self.by_phase[phase])
        return {k: sum(c[k] for c in self.by_phase.values()) for k in self.KEYS}


async def test_operational_metrics_read_counters_since_the_baseline():
    lm, judge = FakeModel(), FakeModel()
    lm.record(tokens=100)  # before binding: not counted
    built = {
        "calls": metrics.Calls(),
        "failed": metrics.FailedCalls(),
        "error_rate": metrics.ErrorRate(),
        "tokens": metrics.TotalTokens(),
        "cost": metrics.Cost(),
        "latency": metrics.AvgLatency(),
    }
    for metric in built.values():
        metric.bind_models([lm, judge])
        assert metric.result() == 0.0
    lm.record(tokens=10, latency=1.0)
    lm.record(tokens=20, failed=True, latency=2.0, cost=0.03)
    judge.record(tokens=30, latency=3.0, cost=0.02)
    judge.record(phase="reward", tokens=1000)  # another phase: not counted
    assert built["calls"].result() == 3.0
    assert built["failed"].result() == 1.0
    assert built["error_rate"].result() == pytest.approx(1 / 3)
    assert built["tokens"].result() == 60.0
    assert built["cost"].result() == pytest.approx(0.06)
    assert built["latency"].result() == pytest.approx(2.0)
    for metric in built.values():
        await metric.update_state(answer("a"), answer("b"))  # a no-op
        metric.reset_state()
        assert metric.result() == 0.0
    lm.record(tokens=5, latency=4.0)
    assert built["tokens"].result() == 5.0 and built["latency"].result() == 4.0


async def test_operational_metric_phases_names_and_directions():
    lm = FakeModel()
    reward_tokens = metrics.TotalTokens(phase="reward")
    all_tokens = metrics.TotalTokens(phase=None)
    assert reward_tokens.name == "reward_total_tokens"
    assert all_tokens.name == "all_total_tokens"
    assert metrics.TotalTokens().name == "total_tokens"
    assert metrics.TotalTokens(phase="optimizer", name="opt").name == "opt"
    for metric in (reward_tokens, all_tokens):
        metric.bind_models([lm])
    lm.record(phase="reward", tokens=7)
    lm.record(phase="inference", tokens=3)
    assert reward_tokens.result() == 7.0 and all_tokens.result() == 10.0
    assert metrics.Calls.direction is None
    assert all(
        cls.direction == "down"
        for cls in (
            metrics.FailedCalls,
            metrics.ErrorRate,
            metrics.TotalTokens,
            metrics.Cost,
            metrics.AvgLatency,
        )
    )
    with pytest.raises(ValueError, match="Invalid phase 'training'"):
        metrics.Calls(phase="training")


async def test_operational_metrics_edge_cases():
    lm = FakeModel()
    rate, latency = metrics.ErrorRate(), metrics.AvgLatency()
    assert rate.result() == 0.0 and latency.result() == 0.0  # unbound
    for metric in (rate, latency):
        metric.bind_models([lm])
    assert rate.result() == 0.0 and latency.result() == 0.0  # bound, no call
    assert rate.state.value()["baselines"][0]["calls"] == 0.0
    lm.record(tokens=50)
    lm.record(tokens=50)
    tokens = metrics.TotalTokens()
    tokens.bind_models([lm])
    lm.reset()  # the model's own counters were reset below the baseline
    lm.record(tokens=8)
    assert tokens.result() == 8.0
    with pytest.raises(TypeError, match="counters"):
        tokens.bind_models([object()])
    clone = tokens.clone()
    assert clone.models == [] and clone.result() == 0.0 and clone.name == "total_tokens"


async def test_an_operational_metric_is_the_counter_it_names():
    class CacheHits(metrics.OperationalMetric):
        direction = "up"
        counter = "cache_hits"

    class TokensPerCall(metrics.OperationalMetric):
        counter = "total_tokens"
        per_call = True

    class Nothing(metrics.OperationalMetric):
        pass

    lm = FakeModel()
    hits, per_call, nothing = CacheHits(phase=None), TokensPerCall(), Nothing()
    for metric in (hits, per_call, nothing):
        metric.bind_models([lm])
    assert per_call.result() == 0.0  # no call yet: no division by zero
    lm.by_phase["reward"]["cache_hits"] += 2
    lm.record(tokens=10)
    lm.record(tokens=30)
    assert hits.name == "all_cache_hits" and hits.result() == 2.0
    assert per_call.result() == 20.0
    with pytest.raises(NotImplementedError, match="set `counter` or implement"):
        nothing.result()


# ---- registry and configs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,cls",
    [
        ("accuracy", metrics.Accuracy),
        ("f1_score", metrics.F1Score),
        ("F1Score", metrics.F1Score),
        ("f1score", metrics.F1Score),
        ("fbeta_score", metrics.FBetaScore),
        ("precision", metrics.Precision),
        ("recall", metrics.Recall),
        ("mean", metrics.Mean),
        ("sum", metrics.Sum),
        ("calls", metrics.Calls),
        ("ErrorRate", metrics.ErrorRate),
        ("avg_latency", metrics.AvgLatency),
        ("total_tokens", metrics.TotalTokens),
    ],
)
def test_get_by_name(name, cls):
    assert type(metrics.get(name)) is cls


def test_get_other_identifiers_and_errors():
    accuracy = metrics.Accuracy()
    assert metrics.get(accuracy) is accuracy and metrics.get(None) is None
    assert type(metrics.get(metrics.Recall)) is metrics.Recall
    wrapped = metrics.get(rewards.exact_match)
    assert isinstance(wrapped, metrics.MeanMetricWrapper) and wrapped.name == "exact_match"
    short = metrics.get({"class_name": "Accuracy", "config": {"in_mask": ["answer"]}})
    assert short.in_mask == ["answer"]
    with pytest.raises(ValueError, match="Unknown metric 'acc'.*accuracy.*f1_score"):
        metrics.get("acc")
    with pytest.raises(TypeError, match="Cannot interpret 1.5"):
        metrics.get(1.5)
    with pytest.raises(ValueError, match="not a Metric"):
        metrics.deserialize(rewards.serialize(rewards.ExactMatch()))


@pytest.mark.parametrize(
    "metric",
    [
        metrics.Accuracy(name="acc", in_mask=["answer"]),
        metrics.Mean(name="m", direction="up"),
        metrics.Sum(),
        metrics.Recall(average="weighted", out_mask=["thinking"]),
        metrics.Cost(phase="optimizer"),
        metrics.Calls(phase=None, name="every_call"),
    ],
)
def test_config_round_trips(metric):
    again = metrics.deserialize(metrics.serialize(metric))
    assert type(again) is type(metric) and again is not metric
    assert again.get_config() == metric.get_config()
    assert again.name == metric.name and again.direction == metric.direction
