"""Hyperparameter search over programs: keras-tuner's tuners, running synaprefect programs.

Importing this package does not import keras_tuner: creating a tuner (or an
``Objective``) does. Without TensorFlow, JAX or PyTorch, call ``disable_keras_backend()``
first so that keras-tuner imports without a Keras backend.

Example:
```python
import synaprefect
synaprefect.disable_keras_backend()

tuner = synaprefect.tuners.RandomSearch(
    build_program, objective=synaprefect.tuners.Objective("val_reward"), max_trials=5,
    directory="runs", project_name="my_search")
tuner.search(x_train, y_train, validation_data=(x_val, y_val), epochs=3, batch_size=4)
best_hp = tuner.get_best_hyperparameters(num_trials=1)[0]
```
"""

from synaprefect.tuners.classes import BayesianOptimization, GridSearch, Hyperband, RandomSearch
from synaprefect.tuners.keras_stub import disable_keras_backend
from synaprefect.tuners.objective import Objective, infer_direction
from synaprefect.tuners.results import best_hyperparameters_key, trials_table_key

# Workers of a work pool run tuning trials as they run shards: registers the "trial" kind
# of ``trainers.shards.run_request``.
import synaprefect.tuners.remote  # noqa: F401  isort: skip

__all__ = [
    "RandomSearch",
    "BayesianOptimization",
    "Hyperband",
    "GridSearch",
    "Objective",
    "infer_direction",
    "disable_keras_backend",
    "best_hyperparameters_key",
    "trials_table_key",
]
