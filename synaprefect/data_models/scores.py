"""Discrete scales a language model picks a judgement from (``Score``, ``Rating``...).

Each is an ``Enum`` whose members are also numbers: as a field type, the JSON schema
lists the allowed values, and the value read back works in arithmetic.

Example:
```python
class Verdict(synaprefect.DataModel):
    correctness: synaprefect.Score
    clarity: synaprefect.Rating

synaprefect.Score.GOOD + 0.05  # 0.95
synaprefect.normalize_score(synaprefect.Rating.THREE, synaprefect.Rating)  # 0.5
```
"""

from enum import Enum
from typing import Any

__all__ = [
    "Score",
    "FineScore",
    "Rating",
    "Rating10",
    "Rating20",
    "get_score_type",
    "normalize_score",
]

_NUMBER_WORDS = (
    "ONE",
    "TWO",
    "THREE",
    "FOUR",
    "FIVE",
    "SIX",
    "SEVEN",
    "EIGHT",
    "NINE",
    "TEN",
    "ELEVEN",
    "TWELVE",
    "THIRTEEN",
    "FOURTEEN",
    "FIFTEEN",
    "SIXTEEN",
    "SEVENTEEN",
    "EIGHTEEN",
    "NINETEEN",
    "TWENTY",
)


class Score(float, Enum):
    """A confidence from 0.0 (``VERY_BAD``) to 1.0 (``VERY_GOOD``) in steps of 0.1."""

    VERY_BAD = 0.0
    POOR = 0.1
    BELOW_AVERAGE = 0.2
    LOW_AVERAGE = 0.3
    MEDIUM_LOW = 0.4
    MEDIUM = 0.5
    MEDIUM_HIGH = 0.6
    ABOVE_AVERAGE = 0.7
    HIGH_AVERAGE = 0.8
    GOOD = 0.9
    VERY_GOOD = 1.0


class FineScore(float, Enum):
    """``Score`` in steps of 0.05: every ``Score`` level (same name, same value) plus
    one level between each pair."""

    VERY_BAD = 0.0
    BAD = 0.05
    POOR = 0.1
    VERY_LOW = 0.15
    BELOW_AVERAGE = 0.2
    LOW = 0.25
    LOW_AVERAGE = 0.3
    SLIGHTLY_LOW = 0.35
    MEDIUM_LOW = 0.4
    SLIGHTLY_BELOW_MEDIUM = 0.45
    MEDIUM = 0.5
    SLIGHTLY_ABOVE_MEDIUM = 0.55
    MEDIUM_HIGH = 0.6
    SLIGHTLY_HIGH = 0.65
    ABOVE_AVERAGE = 0.7
    HIGH = 0.75
    HIGH_AVERAGE = 0.8
    VERY_HIGH = 0.85
    GOOD = 0.9
    EXCELLENT = 0.95
    VERY_GOOD = 1.0


def _rating(name: str, top: int, doc: str) -> type[Enum]:
    # mypy reads the functional Enum API only with a literal class name.
    members = {_NUMBER_WORDS[i - 1]: i for i in range(1, top + 1)}
    scale = Enum(name, members, type=int, module=__name__)  # type: ignore[misc]
    scale.__doc__ = doc
    return scale


Rating = _rating("Rating", 5, "A whole-number rating from 1 (``ONE``, worst) to 5 (``FIVE``).")
Rating10 = _rating("Rating10", 10, "A rating from 1 (``ONE``) to 10 (``TEN``).")
Rating20 = _rating("Rating20", 20, "A rating from 1 (``ONE``) to 20 (``TWENTY``).")

_SCALES = {scale.__name__: scale for scale in (Score, FineScore, Rating, Rating10, Rating20)}


def get_score_type(identifier: Any = None) -> type[Enum]:
    """A scale from itself or its name; ``None`` is ``Score``. Any ``Enum`` of ints or
    floats is a scale."""
    if identifier is None:
        return Score
    scale = _SCALES.get(identifier) if isinstance(identifier, str) else identifier
    if (
        isinstance(scale, type)
        and issubclass(scale, Enum)
        and len(scale)
        and all(isinstance(m.value, (int, float)) and not isinstance(m.value, bool) for m in scale)
    ):
        return scale
    raise ValueError(
        f"Unknown score type {identifier!r}: expected one of {sorted(_SCALES)} or an Enum "
        "whose members are ints or floats."
    )


def normalize_score(value: Any, score_type: Any = None) -> float:
    """``value`` on ``score_type``'s scale mapped to 0.0 (its lowest level) .. 1.0 (its
    highest), clamped."""
    values = [float(member.value) for member in get_score_type(score_type)]
    low, high = min(values), max(values)
    if high == low:
        return 1.0
    return min(1.0, max(0.0, (float(value) - low) / (high - low)))
