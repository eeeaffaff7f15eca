"""Word-level F-scores per field: ``FBetaScore``, ``F1Score``, ``Precision``, ``Recall``.

Each leaf field of the target (see ``synaprefect.rewards.flatten_fields``) is compared
with the prediction's field at the same path, as bags of lower-cased whitespace tokens:

* ``precision = common / predicted tokens``, ``recall = common / target tokens``
  (``common`` counts shared tokens with multiplicity); two empty fields agree fully (1.0);
* ``F_beta = (1 + beta^2) * P * R / (beta^2 * P + R)`` (0 when ``P = R = 0``).

Scores are computed per sample, then averaged over samples. Within a sample, fields are
combined by ``average``: ``"micro"`` pools the token counts of every field, ``"macro"``
takes the unweighted mean of the field scores, ``"weighted"`` weights each field by its
number of target tokens, and ``None`` (the default, as in Synalinks) reports one score per
field: a float when the targets have one field (logged as e.g. ``f1_score``), else a dict
by field path (logged as ``f1_score_<field>``). (Synalinks returns an unnamed list of
per-field scores there, which logs and checkpoints cannot tell apart; a dict names them.)

Failed predictions are not hidden: a ``None`` prediction scores 0.0 for its sample (every
field), so failures lower the metric. (Synalinks skips them, which makes a program that
fails half the time look as good as one that never fails.) Samples without a target
(``y_true`` None) cannot be scored and are skipped. Fields only in the prediction are
ignored: use ``in_mask`` / ``out_mask`` to choose what is compared.
"""

from collections import Counter
from typing import Any

from synaprefect.data_models.data_model import DataModel
from synaprefect.data_models.json_data_model import JsonDataModel
from synaprefect.metrics.metric import MaskedMetric, register_builtin_metric
from synaprefect.metrics.reduction import MeanState, MeanStateMixin
from synaprefect.rewards.reward import flatten_fields

__all__ = ["FBetaScore", "F1Score", "Precision", "Recall", "AVERAGES", "FieldState"]

AVERAGES = ("micro", "macro", "weighted", None)


class FieldState(DataModel):
    totals: dict[str, float] = {}
    counts: dict[str, int] = {}


def _tokens(text: str) -> list[str]:
    return text.lower().split()


def _counts(true_text: str, pred_text: str) -> tuple[int, int, int]:
    """(shared tokens, predicted tokens, target tokens)."""
    true_tokens, pred_tokens = _tokens(true_text), _tokens(pred_text)
    common = sum((Counter(true_tokens) & Counter(pred_tokens)).values())
    return common, len(pred_tokens), len(true_tokens)


class _WordOverlapScore(MeanStateMixin, MaskedMetric):
    """Shared machinery; subclasses define ``_score(precision, recall)``."""

    direction = "up"

    def __init__(
        self,
        average: str | None = None,
        name: str | None = None,
        in_mask: list[str] | None = None,
        out_mask: list[str] | None = None,
    ):
        if average not in AVERAGES:
            raise ValueError(
                f"Invalid average {average!r}: expected 'micro', 'macro', 'weighted' or "
                "None (one score per field)."
            )
        self.average = average
        super().__init__(name=name, in_mask=in_mask, out_mask=out_mask)

    def _state_data_model(self) -> type[DataModel]:
        return FieldState if self.average is None else MeanState

    def _score(self, precision: float, recall: float) -> float:
        raise NotImplementedError

    def _from_counts(self, common: int, n_pred: int, n_true: int) -> float:
        if n_pred == 0 and n_true == 0:
            return 1.0
        precision = common / n_pred if n_pred else 0.0
        recall = common / n_true if n_true else 0.0
        return self._score(precision, recall)

    def _field_scores(
        self, y_true: JsonDataModel, y_pred: JsonDataModel | None
    ) -> tuple[dict[str, float], dict[str, tuple[int, int, int]]]:
        true_fields = flatten_fields(y_true.get_json())
        if y_pred is None:
            return dict.fromkeys(true_fields, 0.0), {}
        pred_fields = flatten_fields(y_pred.get_json())
        counts = {
            path: _counts(text, pred_fields.get(path, "")) for path, text in true_fields.items()
        }
        return {path: self._from_counts(*c) for path, c in counts.items()}, counts

    def _sample_score(self, y_true: JsonDataModel, y_pred: JsonDataModel | None) -> float:
        if y_pred is None:
            return 0.0
        scores, counts = self._field_scores(y_true, y_pred)
        if not scores:  # no target fields: agreement only if the prediction is empty too
            return 1.0 if not flatten_fields(y_pred.get_json()) else 0.0
        if self.average == "micro":
            common, n_pred, n_true = (sum(c[i] for c in counts.values()) for i in range(3))
            return self._from_counts(common, n_pred, n_true)
        if self.average == "weighted":
            weights = {path: c[2] for path, c in counts.items()}
            total = sum(weights.values())
            if total:
                return sum(scores[path] * weights[path] for path in scores) / total
        return sum(scores.values()) / len(scores)

    async def update_state(self, y_true: Any, y_pred: Any) -> None:
        """Score one sample, or two equal-length lists of samples."""
        samples = [(t, p) for t, p in self.prepare_samples(y_true, y_pred) if t is not None]
        if self.average is not None:
            self._add([self._sample_score(t, p) for t, p in samples])
            return
        totals = dict(self.state["totals"])
        counts = dict(self.state["counts"])
        for y_t, y_p in samples:
            for path, score in self._field_scores(y_t, y_p)[0].items():
                totals[path] = totals.get(path, 0.0) + score
                counts[path] = counts.get(path, 0) + 1
        self.state.assign({"totals": totals, "counts": counts})

    def result(self) -> float | dict[str, float]:
        if self.average is not None:
            return super().result()
        totals, counts = self.state["totals"], self.state["counts"]
        scores = {path: float(totals[path] / counts[path]) for path in totals if counts[path]}
        if len(scores) <= 1:  # one field (or none yet): a plain score, like Synalinks
            return next(iter(scores.values()), 0.0)
        return scores

    def get_config(self) -> dict:
        return {"average": self.average, **super().get_config()}


@register_builtin_metric
class FBetaScore(_WordOverlapScore):
    """Word-level F-beta score per field (see the module docstring for the details).

    Example:
    ```python
    f = synaprefect.metrics.FBetaScore(beta=2.0, in_mask=["answer"])
    await f.update_state(Answer(answer="the cat sat"), Answer(answer="the cat"))
    f.result()   # P = 1, R = 2/3 -> 5 * (2/3) / (4 + 2/3) = 0.714...
    ```
    """

    def __init__(
        self,
        beta: float = 1.0,
        average: str | None = None,
        name: str = "fbeta_score",
        in_mask: list[str] | None = None,
        out_mask: list[str] | None = None,
    ):
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta > 0:
            raise ValueError(f"`beta` must be a positive number, got {beta!r}.")
        self.beta = float(beta)
        super().__init__(average=average, name=name, in_mask=in_mask, out_mask=out_mask)

    def _score(self, precision: float, recall: float) -> float:
        if precision == 0.0 and recall == 0.0:
            return 0.0
        b2 = self.beta**2
        return (1 + b2) * precision * recall / (b2 * precision + recall)

    def get_config(self) -> dict:
        return {"beta": self.beta, **super().get_config()}


@register_builtin_metric
class F1Score(FBetaScore):
    """Word-level F1 score per field (``FBetaScore`` with ``beta=1``).

    Example:
    ```python
    f1 = synaprefect.metrics.F1Score(in_mask=["answer"])
    await f1.update_state(Answer(answer="the cat sat"), Answer(answer="a cat sat"))
    f1.result()   # P = R = 2/3 -> 0.666...
    ```
    """

    def __init__(
        self,
        average: str | None = None,
        name: str = "f1_score",
        in_mask: list[str] | None = None,
        out_mask: list[str] | None = None,
    ):
        super().__init__(beta=1.0, average=average, name=name, in_mask=in_mask, out_mask=out_mask)

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("beta")
        return config


@register_builtin_metric
class Precision(_WordOverlapScore):
    """Word-level precision per field: the share of predicted tokens found in the target.

    Example:
    ```python
    precision = synaprefect.metrics.Precision()
    await precision.update_state(Answer(answer="the cat"), Answer(answer="the dog"))
    precision.result()   # 0.5
    ```
    """

    def __init__(
        self,
        average: str | None = None,
        name: str = "precision",
        in_mask: list[str] | None = None,
        out_mask: list[str] | None = None,
    ):
        super().__init__(average=average, name=name, in_mask=in_mask, out_mask=out_mask)

    def _score(self, precision: float, recall: float) -> float:
        return precision


@register_builtin_metric
class Recall(_WordOverlapScore):
    """Word-level recall per field: the share of target tokens found in the prediction.

    Example:
    ```python
    recall = synaprefect.metrics.Recall()
    await recall.update_state(Answer(answer="the cat sat"), Answer(answer="the cat"))
    recall.result()   # 0.666...
    ```
    """

    def __init__(
        self,
        average: str | None = None,
        name: str = "recall",
        in_mask: list[str] | None = None,
        out_mask: list[str] | None = None,
    ):
        super().__init__(average=average, name=name, in_mask=in_mask, out_mask=out_mask)

    def _score(self, precision: float, recall: float) -> float:
        return recall
