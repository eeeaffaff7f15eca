"""The training loop: compile, fit, evaluate, predict."""

from synaprefect.trainers.trainer import Trainer

__all__ = ["Trainer"]
