"""``converged``: the ``full`` grid (Basic Pitch's recipe, the ``default`` train config: batch 16,
Adam 1e-3, 2 s windows; B ∈ {1, 3, 5} × stack full / fundamental only × seeds 0–4; 30 runs)
capacity-matched and trained to convergence, for accelerators:

- every variant's widths solved to the largest count at Basic Pitch's widths (B = 5, full stack:
  21,774 trainable parameters; ``python -m amt_jax grid params converged`` prints them);
- each run stops once its validation frame F1 (all validation pieces, every 1,000 steps) has not
  gained more than 0.001 over its best for 10 evaluations in a row (10,000 steps), else at a
  budget of 150,000 steps (3× the recipe's 50,000); the learning rate is constant after the
  500-step warmup, so the stopping point does not depend on the budget. Basic Pitch's own
  ``train.py`` (basic-pitch 0.4.0) also trains at a constant Adam 1e-3 and stops early, on the
  validation loss with a patience of 25 epochs of 100 steps; this criterion reads frame F1, the
  number the grid reports, and waits 10,000 steps.

Command (one job per shard; resumable)::

    python -m amt_jax grid run converged --workdir $GRID --data-dir $DATA --shard $I/$N
    python -m amt_jax grid report --workdir $GRID

How long (estimated, not run). Measured here (2 CPU cores shared with other jobs, 2026-12-02): the
``tiny`` train config runs 1.57 steps/s at 5.8 GFLOP per step (XLA's cost analysis of the
compiled step), i.e. ≈ 9 GFLOP/s; a step of this grid's variants (batch 16, matched widths) costs
33 (B = 1), 64 (B = 3) and 103 (B = 5) GFLOP, 404 GFLOP for one step of each of the six
variants. At the full 150,000-step budget that is 61 PFLOP per seed, 303 PFLOP for the 30 runs:

- on 2 CPU cores at the tiny config's rate, 6–20 days per run and about a year for the grid
  (measured steps/s of the matched variants at batch 8 put the widened fundamental-only
  variants ~2× slower still): not for CPUs;
- on an accelerator, if the step were compute-bound at a sustained 10 TFLOP/s (an assumption;
  these convolutions have few channels), 3–10 ms per step, ≈ 8 h for the whole grid; if it is
  bound by per-step overhead at ~30 ms (also an assumption), ≈ 75 min per run, ≈ 1.6 days for
  the 30 runs on one device. Runs that stop on their plateau take less (the recipe's 50,000
  steps: a third).
"""

import dataclasses

from amt_jax import configs
from amt_jax.training import PlateauStop, TrainConfig
from amt_jax.training.grid import GridConfig


def get_config() -> GridConfig:
    full = configs.load("grid", "full", expected=GridConfig)
    base = dataclasses.replace(full.base, steps=150_000, final_lr_fraction=1.0,
                               plateau=PlateauStop(every=1000, patience=10, min_delta=0.001))
    return dataclasses.replace(full, name="converged", base=base, target_parameters="largest")
