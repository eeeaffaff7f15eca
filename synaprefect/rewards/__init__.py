"""Rewards: score one prediction against its target (maximised, usually in [0, 1]).

Example:
```python
reward = synaprefect.rewards.get("exact_match")
await reward(Answer(answer="Paris"), Answer(answer="Paris"))   # 1.0
```
"""

from synaprefect.rewards.cosine_similarity import CosineSimilarity, cosine_similarity
from synaprefect.rewards.exact_match import ExactMatch, exact_match
from synaprefect.rewards.lm_as_judge import LMAsJudge
from synaprefect.rewards.reward import (
    REDUCTIONS,
    Reward,
    apply_masks,
    deserialize,
    flatten_fields,
    get,
    reduce_rewards,
    serialize,
    validate_reduction,
)
from synaprefect.rewards.wrappers import (
    BatchReward,
    ProgramAsJudge,
    RewardFunctionWrapper,
    register_reward_function,
)

__all__ = [
    "Reward",
    "ExactMatch",
    "CosineSimilarity",
    "RewardFunctionWrapper",
    "ProgramAsJudge",
    "LMAsJudge",
    "BatchReward",
    "exact_match",
    "cosine_similarity",
    "REDUCTIONS",
    "reduce_rewards",
    "validate_reduction",
    "apply_masks",
    "flatten_fields",
    "register_reward_function",
    "get",
    "serialize",
    "deserialize",
]
