"""A memory of the training samples a program keeps failing on.

OMEGA keeps one per trainable variable, in the variable's slot (plain JSON, so it is saved
with the program and survives a resumed fit), and shows the hardest entries to the
language model that writes new candidates. An entry counts the failures of one sample
(one program input); a success removes it, since the sample is no longer hard.
"""

from typing import Any

from synaprefect.utils.json_utils import stable_hash

__all__ = ["remember_outcomes", "hardest_examples"]

# Entries kept per variable: enough for several epochs of failures, small in the state.
_CAPACITY = 64


def remember_outcomes(memory: dict, outcomes: list[dict], failure_threshold: float) -> None:
    """Update ``memory`` (changed in place) with scored samples.

    ``outcomes`` holds ``{"inputs", "ground_truth", "predicted_output", "reward"}`` per
    sample; a reward below ``failure_threshold`` (or none) is a failure.

    Example:
    ```python
    memory = {}
    remember_outcomes(memory, [{"inputs": {"query": "q"}, "ground_truth": {"answer": "A"},
                                "predicted_output": {"answer": "a"}, "reward": 0.0}], 0.5)
    hardest_examples(memory, count=3, min_failures=1)  # the sample, failures=1
    ```
    """
    for outcome in outcomes:
        key = stable_hash(outcome["inputs"])[:16]
        reward = outcome.get("reward")
        if reward is not None and reward >= failure_threshold:
            memory.pop(key, None)
            continue
        entry = memory.setdefault(key, {"inputs": outcome["inputs"], "failures": 0})
        entry["failures"] += 1
        entry.update(
            ground_truth=outcome.get("ground_truth"),
            predicted_output=outcome.get("predicted_output"),
            reward=reward,
        )
    if len(memory) > _CAPACITY:
        # Forget the entries that failed least; among equals, the oldest.
        order = sorted(enumerate(memory), key=lambda item: (memory[item[1]]["failures"], item[0]))
        for _, key in order[: len(memory) - _CAPACITY]:
            del memory[key]


def hardest_examples(memory: dict, count: int, min_failures: int) -> list[dict[str, Any]]:
    """Up to ``count`` entries that failed at least ``min_failures`` times, most failed
    first (earliest remembered first among equals)."""
    entries = [e for e in memory.values() if e["failures"] >= min_failures]
    entries.sort(key=lambda e: -e["failures"])
    return [
        {
            "inputs": e["inputs"],
            "predicted_output": e.get("predicted_output"),
            "ground_truth": e.get("ground_truth"),
            "failures": e["failures"],
        }
        for e in entries[:count]
    ]
