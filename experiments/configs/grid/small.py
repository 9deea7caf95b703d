"""``small``: the trained variants on 2 CPU cores: B ∈ {1, 3, 5} × stack full / fundamental only ×
seeds 0, 1, 2 (18 runs). Basic Pitch's architecture (widths 8/32/32) on its 2 s windows, batch 8,
the class-balanced loss of the ``tiny`` train config (learns sparse rolls in few steps); 300 steps
for every B; thresholds chosen on 12 validation pieces (decoding at 8 onset thresholds costs more
than the forward pass).

Command (the README's "Reproducing the study" gives the measured time)::

    python -m amt_jax grid run small --workdir $GRID --data-dir $DATA [--shard I/N]
    python -m amt_jax grid report --workdir $GRID
"""

import dataclasses

from amt_jax import configs
from amt_jax.models.basic_pitch import BasicPitchConfig
from amt_jax.training import TrainConfig
from amt_jax.training.grid import GridConfig


def get_config() -> GridConfig:
    tiny = configs.load("train", "tiny", expected=TrainConfig)
    base = dataclasses.replace(tiny, model=BasicPitchConfig(), steps=300, warmup_steps=20, log_every=10,
                               checkpoint_every=50)
    return GridConfig("small", base, validation_pieces=12)
