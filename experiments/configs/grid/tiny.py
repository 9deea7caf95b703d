"""``tiny``: the tests' grid, seconds per run: B ∈ {1, 3} × both stacks × seed 0, each run 4 steps
of a narrow model on 32-frame windows.

Command::

    python -m amt_jax grid run tiny --workdir $GRID --data-dir $DATA
"""

from amt_jax.constants import HOP_LENGTH
from amt_jax.models.basic_pitch import BasicPitchConfig
from amt_jax.training import TrainConfig
from amt_jax.training.grid import GridConfig


def get_config() -> GridConfig:
    base = TrainConfig(
        model=BasicPitchConfig(bins_per_semitone=1, n_filters_contour=4, n_filters_notes=4, n_filters_onsets=4),
        window_samples=31 * HOP_LENGTH, batch_size=4, steps=4, learning_rate=1e-2, warmup_steps=1,
        positive_weights=(0.5, 0.5, 0.95), log_every=1, checkpoint_every=2, eval_batch_size=8,
    )
    return GridConfig("tiny", base, bins_per_semitone=(1, 3), seeds=(0,))
