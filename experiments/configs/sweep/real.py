"""``real``: the study's probes on real recordings — pretrained Basic Pitch on the ``real`` split
(five recordings from the libsoni 1.1.0 sdist: a Bach10 quartet, a Dagstuhl ChoirSet SATB take, a
Weber aria excerpt, a Schubert Winterreise excerpt, a single piano note; ``python -m amt_jax data
build real``), and PESTO (monophonic: on the polyphonic recordings it is read as each key's share
of its one pitch distribution), two windows per recording, clustered by recording — with the reliance (sham comb,
width-1 and attenuation variants), logit-scale factorial, resolution (pooling, ±1-bin shift),
register (octave-band random-spectral) and noise probes, and each model's architecture with random
weights on the reliance, factorial and random-spectral probes. The settings are the ``study``
config's, so each number reads beside the rendered chorales' (README: "Rendered chorales vs real
recordings").

Command::

    python -m amt_jax data build real --data-dir $DATA
    python -m amt_jax sweep real --workdir $OUT --data-dir $DATA

Five recordings make wide intervals: the crossed interval's piece part has 4 degrees of freedom.
MAESTRO (the ``paper`` config with ``AMT_JAX_PAPER_DATA=maestro:test``) gives 177 real piano
performances for anyone who has it.
"""

import dataclasses

from amt_jax.sweep import SweepConfig, load_config


def get_config() -> SweepConfig:
    """The ``study`` config's probes and sizes (one source), on the real split's windows."""
    return dataclasses.replace(
        load_config("study"),
        name="real",
        models=("basic-pitch", "pesto"),
        data="real:test",
        families=("harmonic_reliance", "factorial", "resolution", "random_spectral", "noise"),
        n_clips=10,
        clips_per_piece=2,
        questions=(("harmonic reliance", ("harmonic_swap",)),),
        control_models=(("random:basic-pitch", ("harmonic_reliance", "factorial", "random_spectral")),
                        ("random:pesto", ("harmonic_reliance", "factorial", "random_spectral"))),
    )
