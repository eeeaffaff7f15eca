"""Metrics: accumulate scores over samples (``update_state``), report them (``result``).

Example:
```python
f1 = synaprefect.metrics.get("f1_score")
await f1.update_state(Answer(answer="the cat sat"), Answer(answer="a cat sat"))
f1.result()   # 0.666...
```
"""

from synaprefect.metrics.accuracy import Accuracy
from synaprefect.metrics.f_score import F1Score, FBetaScore, Precision, Recall
from synaprefect.metrics.metric import (
    DIRECTIONS,
    MaskedMetric,
    Metric,
    deserialize,
    get,
    serialize,
)
from synaprefect.metrics.operational import (
    AvgLatency,
    Calls,
    Cost,
    ErrorRate,
    FailedCalls,
    OperationalMetric,
    TotalTokens,
)
from synaprefect.metrics.reduction import Mean, MeanMetricWrapper, Sum

__all__ = [
    "Metric",
    "MaskedMetric",
    "DIRECTIONS",
    "Mean",
    "Sum",
    "MeanMetricWrapper",
    "Accuracy",
    "FBetaScore",
    "F1Score",
    "Precision",
    "Recall",
    "OperationalMetric",
    "Calls",
    "FailedCalls",
    "ErrorRate",
    "TotalTokens",
    "Cost",
    "AvgLatency",
    "get",
    "serialize",
    "deserialize",
]
