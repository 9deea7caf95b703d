"""``matched``: the ``small`` grid's cells (B ∈ {1, 3, 5} × stack full / fundamental only × seeds
0, 1, 2; 18 runs) with the two confounds of its contrasts removed, on 2 CPU cores:

- **capacity**: every variant's widths solved (``target_parameters="largest"``,
  :mod:`amt_jax.training.capacity`) to the largest count at Basic Pitch's widths, B = 5 with the
  full stack (21,774 trainable parameters; at their own widths the variants have 4,006–21,774).
  ``python -m amt_jax grid params matched`` prints the widths and counts (all within 0.2 % of
  21,774);
- **under-training**: each run trains until its validation frame F1 plateaus (``base.plateau``:
  scored on the grid's 12 validation pieces every 100 steps; stop once 5 evaluations in a row,
  500 steps, gain no more than 0.002 over the best before them), at most 3,000 steps (10× ``small``).
  The learning rate is constant after the warmup (``final_lr_fraction=1``), so where a run stops
  does not depend on the budget. Each run records its curve and why it stopped
  (``runs/<id>/stopped.json``, in ``eval.json`` and in ``grid report``'s steps column).

Otherwise ``small``'s recipe (the ``tiny`` train config's class-balanced loss, batch 8, 2 s windows).

Command (resumable across days: rerun the same command; finished runs are skipped, a killed run
resumes from its last checkpoint, 200 steps apart, and its validation curve)::

    python -m amt_jax grid run matched --workdir $GRID --data-dir $DATA [--shard I/N]
    python -m amt_jax grid report --workdir $GRID

Time (2 CPU cores, 2026-12-02, measured while other jobs shared them, so upper bounds): the
matched variants' training steps (batch 8) run at 0.40 (B = 1 full), 0.14 (B = 1 fund), 0.20
(B = 3 full), 0.16 (B = 3 fund), 0.24 (B = 5 full) and 0.13 (B = 5 fund) steps/s — the widened
fundamental-only models are the slow ones (150–174-channel heads) — and one plateau evaluation
(12 pieces, 355 s of audio) takes 10–13 s. A run that uses its whole budget thus takes 2–6.5 h,
and the 18 runs at most ≈ 3.5 days (27 h per seed); runs that stop on their plateau take less.
"""

import dataclasses

from amt_jax import configs
from amt_jax.training import PlateauStop, TrainConfig
from amt_jax.training.grid import GridConfig


def get_config() -> GridConfig:
    small = configs.load("grid", "small", expected=GridConfig)
    base = dataclasses.replace(small.base, steps=3000, final_lr_fraction=1.0, checkpoint_every=200, log_every=50,
                               plateau=PlateauStop(every=100, patience=5, min_delta=0.002))
    return dataclasses.replace(small, name="matched", base=base, target_parameters="largest")
