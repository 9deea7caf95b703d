"""``full``: the trained variants on accelerators: Basic Pitch's recipe (the ``default`` train
config: batch 16, 50,000 steps) for B ∈ {1, 3, 5} × stack full / fundamental only × 5 seeds.

Command (one job per shard)::

    python -m amt_jax grid run full --workdir $GRID --data-dir $DATA --shard $I/$N
"""

from amt_jax import configs
from amt_jax.training import TrainConfig
from amt_jax.training.grid import GridConfig


def get_config() -> GridConfig:
    return GridConfig("full", configs.load("train", "default", expected=TrainConfig), seeds=(0, 1, 2, 3, 4))
