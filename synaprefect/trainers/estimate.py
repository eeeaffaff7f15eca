"""A dry-run count of the LM calls a fit or an evaluate will make, before paying for any."""

import math

from synaprefect.trainers import data as D

__all__ = ["estimate_calls", "format_estimate"]


def _calls_per_sample(program) -> int:
    """Modules that call a language model once per sample (an upper bound for branches,
    of which only the chosen ones run)."""
    return sum(
        1 for m in program._walk() if hasattr(m, "language_model") and hasattr(m, "format_messages")
    )


def _judge_calls(program) -> int:
    if not program.compiled:
        return 0
    return sum(1 for r in program._rewards.rewards if hasattr(r, "critique"))


def _optimizer_calls_per_step(program) -> int:
    optimizer = program.optimizer if program.compiled else None
    return 1 if optimizer is not None and optimizer.modules() else 0


def estimate_calls(
    program,
    x,
    kind: str = "fit",
    epochs: int = 1,
    batch_size: int = 1,
    validation_split: float = 0.1,
    validation_data=None,
    minibatch_size: int = 4,
    validation_freq: int = 1,
) -> dict[str, int]:
    """``{"inference": n, "optimizer": n, "reward": n, "total": n}``, no call made."""
    per_sample, judges = _calls_per_sample(program), _judge_calls(program)
    n = len(x)
    if kind == "evaluate":
        counts = {"inference": n * per_sample, "optimizer": 0, "reward": n * judges}
    elif kind == "fit":
        if validation_data is not None:
            n_train, n_val = n, len(validation_data[0])
        else:
            n_val = n - int(math.floor(n * (1 - validation_split))) if validation_split else 0
            n_train = n - n_val
        steps = len(D.batches(n_train, batch_size))
        # Candidates are scored on a validation minibatch, or on the batch itself.
        scored = steps * min(minibatch_size, n_val) if n_val else n_train
        validations = sum(1 for e in range(epochs) if (e + 1) % validation_freq == 0)
        counts = {
            "inference": epochs * n_train * per_sample + validations * n_val * per_sample,
            "optimizer": epochs
            * (scored * per_sample + steps * _optimizer_calls_per_step(program)),
            "reward": judges * (epochs * (n_train + scored) + validations * n_val),
        }
    else:
        raise ValueError(f"`kind` must be 'fit' or 'evaluate', got {kind!r}.")
    counts["total"] = sum(counts.values())
    return counts


def format_estimate(kind: str, counts: dict[str, int]) -> str:
    return (
        f"Estimated LM calls for {kind}: ~{counts['total']} (inference "
        f"{counts['inference']}, optimizer {counts['optimizer']}, reward "
        f"{counts['reward']}); cached answers cost nothing."
    )
