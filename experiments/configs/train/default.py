"""``default``: Basic Pitch's architecture at B = 3 and its training recipe: Adam 1e-3, batch 16,
label smoothing 0.2, 500 epochs × 100 steps (50,000 steps), plain BCE on contour and note,
class-weighted BCE on onsets (0.95). For accelerators.

Command::

    python -m amt_jax train --config default --workdir $RUN --data-dir $DATA [--config.model.bins_per_semitone=5]
"""

from amt_jax.training import TrainConfig


def get_config() -> TrainConfig:
    return TrainConfig()
