"""``pesto``: PESTO (Riou et al., ISMIR 2023), a self-supervised monophonic pitch estimator, in JAX.

The weights are pesto-pitch 2.0.1's ``mir-1k_g7.ckpt``, read from the installed package without
torch (:mod:`.checkpoint`; ``pip install --no-deps pesto-pitch==2.0.1``)::

    from amt_jax.models import registry
    m = registry.load("pesto")
    x = m.frontend(audio)           # audio [..., n] float32 at 16 kHz -> X [..., 251, T] dB, 10 ms frames
    y = m.apply(m.params, x)        # {"keys": [..., P=84, T], "pitch": [..., 384, T], "confidence": [..., T]}
    midi, conf = m.pitch_track(m.params, x)   # [..., T] MIDI (fractional), voicing confidence in [0, 1]

Probes read ``keys`` (``m.output``): each key's probability mass (:func:`key_mass`), so every probe
written for key outputs runs on PESTO, its drops measured on the probability mass at the key's
three output bins. ``logits`` are the matching log-odds, ``log m_p − log(1 − m_p)``, computed
from the pre-softmax outputs (:func:`key_log_odds`): the scale the factorial reads. The probes
feed it audio at the corpus's rate and frame step through ``frontend_at`` (22,050 Hz, 256-sample
hop: the VQT is defined at any rate and step).

Sample rates: ``sample_rate`` is 16,000 Hz (PESTO's default), but the VQT's kernels are built for
whatever rate is asked (``m.frontend_at(sample_rate, step_ms)``, as the original rebuilds them
when the rate changes): audio at 22,050 or 44,100 Hz needs no resampling, and the features (and
so the network) see the same bins. The frame step is ``step_ms`` (hop = round(step_ms·sr/1000)).

Axes. The input X is the VQT in dB, 251 bins at 3 per semitone; ``layout`` puts A0 (MIDI 21) on
bin 1 (``center_bins``: each key's three bins 3p..3p+2 are centred on it), keys A0..G#7 (MIDI
21..104, P = 84; the top key's semitone is cut to two bins). The encoder reads only bins 16..234
(MIDI 26..98⅔): keys outside reach the output only through the confidence head. The output
``pitch`` is a softmax over 384 bins, bin b = MIDI b/3 (0 .. 127⅔), so key MIDI m holds bins
3m−1, 3m, 3m+1: :func:`key_mass` sums them into the ``[..., P, T]`` per-key form probes read.

"On": a frame's key is on when its probability mass (:func:`key_mass`) is at least
``frame_threshold`` = 0.5, so at most one key per frame; whether the frame is voiced at all is
the separate ``confidence`` output (PESTO's own CLI reports it beside each pitch).

LRP (``m.lrp``, :mod:`.lrp`) explains each key's logit contrast (:func:`key_contrast`), the
linear read of the pre-softmax logits closest to ``logits``: the log-odds are not linear in them.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path

import jax
import jax.numpy as jnp

from amt_jax.frontend.layout import FrequencyLayout
from amt_jax.io import params_digest
from amt_jax.models.model import Model, Output, frame_wise, jit_intermediates, jit_outputs
from amt_jax.models.pesto import checkpoint, network, vqt
from amt_jax.models.pesto.keys import (BINS_PER_SEMITONE, N_OUTPUT_BINS, key_bins, key_contrast,  # noqa: F401  (the package's API)
                                     key_contrast_matrix, key_log_odds, key_mass)
from amt_jax.models.pesto.lrp import PestoLRP

SAMPLE_RATE = 16000
STEP_MS = 10.0
CHECKPOINT = "mir-1k_g7"
INSTALL = "pip install --no-deps pesto-pitch==2.0.1"
FRAME_THRESHOLD = 0.5
CASCADE = (("fc",), ("conv_3",), ("conv_2",), ("conv_1",), ("conv_0",), ("prefilt_1",), ("prefilt_0",), ("conv1",),
           ("layernorm",))  # the pitch output's layers from the top; the confidence head is left as it is


def checkpoint_path(name: str = CHECKPOINT) -> Path:
    """``pesto/weights/<name>.ckpt`` of the installed pesto-pitch (found without importing pesto,
    which imports torch). FileNotFoundError (one line) when the package or the file is missing."""
    spec = importlib.util.find_spec("pesto")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"PESTO's weights come from the pesto-pitch package, which is not installed ({INSTALL})")
    path = Path(list(spec.submodule_search_locations)[0]) / "weights" / f"{name}.ckpt"
    if not path.is_file():
        raise FileNotFoundError(f"PESTO checkpoint {path} is missing (reinstall: {INSTALL})")
    return path


@functools.lru_cache(maxsize=2)
def load_weights(path: str | None = None) -> tuple[dict, network.PestoNet, str]:
    """``(variables, module, sha256 of the file)`` of a PESTO checkpoint (default: the installed
    ``mir-1k_g7``). ValueError (one line) when the file holds no PESTO ``state_dict``."""
    path = Path(path) if path is not None else checkpoint_path()
    ckpt = checkpoint.read_checkpoint(path)
    sd = ckpt.get("state_dict") if isinstance(ckpt, dict) else None
    try:
        variables = network.variables_from_state_dict(sd)
        shift = float(sd["shift"])
    except (KeyError, TypeError) as err:
        raise ValueError(f"checkpoint {path} is not a PESTO checkpoint (no state_dict entry {err})") from None
    hcqt = ckpt.get("hcqt_params", {})
    if hcqt.get("n_bins", 251) != 251 or hcqt.get("gamma", 7) != 7 or hcqt.get("bins_per_semitone", 3) != 3:
        raise ValueError(f"checkpoint {path}: VQT parameters {hcqt} differ from the supported ones (251 bins, gamma 7, B 3)")
    module = network.PestoNet(shift_bins=round(shift * BINS_PER_SEMITONE))
    return jax.tree.map(jnp.asarray, variables), module, checkpoint.file_sha256(path)


def pesto_frontend(audio, *, sample_rate: int = SAMPLE_RATE, step_ms: float = STEP_MS) -> jax.Array:
    """PESTO's input features: ``audio [..., n] float32`` at ``sample_rate`` Hz -> ``X [..., 251, T]``
    VQT dB, frames every ``step_ms`` ms centred on samples ``t·hop`` (T = n // hop + 1)."""
    return vqt.vqt_db(audio, vqt.kernels(int(sample_rate), float(step_ms)))


def pesto_layout() -> FrequencyLayout:
    """X's axis: 251 bins at B = 3, A0 (MIDI 21) centred on bin 1, keys MIDI 21..104 (P = 84)."""
    return FrequencyLayout(n_bins=251, bins_per_semitone=BINS_PER_SEMITONE, center_offset=1, n_pitches=84)


def _frames(x):
    """``X [..., F, T] -> ([N, F], lead shape, T)``: every frame a row."""
    lead, t = x.shape[:-2], x.shape[-1]
    return jnp.swapaxes(x, -1, -2).reshape((-1, x.shape[-2])), lead, t


@functools.lru_cache(maxsize=None)
def _apply_fn(module: network.PestoNet, layout: FrequencyLayout):
    """``(apply, logits, intermediates)`` of ``module``: made once per module and layout, so PESTO and
    its random-weights control share them (a jitted program taking ``apply`` as a static argument
    compiles once for both)."""
    def apply(params, x):
        """``X [..., 251, T]`` dB -> ``{"keys": [..., P, T], "pitch": [..., 384, T], "confidence": [..., T]}``."""
        rows, lead, t = _frames(jnp.asarray(x, jnp.float32))
        out = module.apply(params, rows)
        pitch = jnp.swapaxes(out["pitch"].reshape(lead + (t, -1)), -1, -2)
        return {"keys": key_mass(pitch, layout), "pitch": pitch, "confidence": out["confidence"].reshape(lead + (t,))}

    def logits(params, x):
        """``X [..., 251, T]`` -> each key's log-odds ``[..., P, T]`` (:func:`key_log_odds`), the
        pre-activation of ``keys``."""
        rows, lead, t = _frames(jnp.asarray(x, jnp.float32))
        z = jnp.swapaxes(module.apply(params, rows)["logits"].reshape(lead + (t, -1)), -1, -2)
        return key_log_odds(z, layout)

    def intermediates(params, x, names):
        """``X [N, 251, T]`` -> ``{name: [N, T, D]}`` (D: a frame's activations, bins × channels flattened)."""
        unknown = [n for n in names if n not in network.LAYERS]
        if unknown:
            raise ValueError(f"names must be layers of PESTO {network.LAYERS}, got {unknown}")
        rows, lead, t = _frames(jnp.asarray(x, jnp.float32))
        _, acts = module.apply(params, rows, capture=True)
        return {n: acts[n].reshape(lead + (t, -1)) for n in names}

    # every frame on its own (network.py); jitted, so an eager call compiles once per input shape
    return (frame_wise(jit_outputs(apply, ("keys", "pitch", "confidence"))), frame_wise(jax.jit(logits)),
            jit_intermediates(intermediates))


def _init_fn(module: network.PestoNet):
    @jax.jit
    def init(key):
        """Fresh variables of the same architecture (torch's default initialisation)."""
        return module.init(key, jnp.zeros((1, module.n_bins), jnp.float32))

    return init


def load(match: re.Match, seed: int, load_spec) -> Model:
    """``pesto``: PESTO ``mir-1k_g7`` with apply, logits, intermediates, lrp, init and cascade."""
    variables, module, sha256 = load_weights()
    layout = pesto_layout()
    apply, logits, intermediates = _apply_fn(module, layout)
    identity = {"kind": "pesto", "checkpoint": CHECKPOINT, "checkpoint_sha256": sha256,
                "params_sha256": params_digest(variables), "shift_bins": module.shift_bins}
    return Model(
        spec=match.string, apply=apply, params=variables, layout=layout, identity=identity,
        outputs=(Output("keys", kind="key_mass"),
                 Output("pitch", kind="pitch_distribution", bins_per_semitone=BINS_PER_SEMITONE, confidence="confidence")),
        output="keys", frame_threshold=FRAME_THRESHOLD, sample_rate=SAMPLE_RATE,
        frontend=functools.partial(pesto_frontend, sample_rate=SAMPLE_RATE, step_ms=STEP_MS),
        frontend_at=lambda sample_rate, step_ms: functools.partial(pesto_frontend, sample_rate=sample_rate, step_ms=step_ms),
        logits=logits, intermediates=intermediates, layers=network.LAYERS, init=_init_fn(module), cascade=CASCADE,
        lrp=PestoLRP.of(module, layout), source=module,
    )
