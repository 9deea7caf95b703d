"""``tuning``: the study's resolution probes on a mistuned rendering of the same test pieces —
semitone pooling as a divergence (``pooling_one``, ``pooling_all``: L1 change of the output) and as
a cost (``pooling_all_f1``: the frame-F1 drop, with its sign), and the whole axis one bin flat or
sharp (``shift_down``, ``shift_up``: frame-F1 drop) — for Basic Pitch and the seed-0 runs of the
training grid in ``$AMT_JAX_GRID`` (nothing when unset). The data default is ``detune25``; another
rendering by override (``--config.data=chorales/detune50:test``, ``detune10``, ``vibrato``), and
the in-tune twin by ``--config.data=chorales:test`` (the same pieces, clips and sizes as the
``study`` config's resolution cells). The control of every F1 row is the same clips unchanged.

Commands (each rendering its own workdir)::

    python -m amt_jax data build chorales --config detune25 --data-dir $DATA
    AMT_JAX_GRID=$GRID python -m amt_jax sweep tuning --workdir $OUT/tuning_detune25 --data-dir $DATA
    AMT_JAX_GRID=$GRID python -m amt_jax sweep tuning --workdir $OUT/tuning_detune50 --data-dir $DATA \\
        --config.data=chorales/detune50:test
    AMT_JAX_GRID=$GRID python -m amt_jax sweep tuning --workdir $OUT/tuning_intune --data-dir $DATA \
        --config.data=chorales:test
"""

import dataclasses
import importlib.util
from pathlib import Path

from amt_jax.sweep import SweepConfig, load_config

_spec = importlib.util.spec_from_file_location("_trained", Path(__file__).with_name("_trained.py"))
_trained = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_trained)


def get_config() -> SweepConfig:
    """The ``study`` config's sizes (one source), its resolution family only, on ``detune25``."""
    return dataclasses.replace(
        load_config("study"),
        name="tuning",
        models=("basic-pitch",) + _trained.grid_models(seeds=(0,)),
        data="chorales/detune25:test",
        families=("resolution",),
        questions=(),
        control_models=(),
    )
