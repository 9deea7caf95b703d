"""Explanations to listen to: audio whose features are πX, for a draw of any family.

For a model and a window of audio ``y`` (22,050 Hz) with features ``X = frontend(y)`` and a draw's
``πX``, :func:`sonify_audio` resynthesises audio ``ŷ`` with ``frontend(ŷ) ≈ πX``, by the route of
the model's frontend (:mod:`amt_jax.frontend.inverse`):

=============  ==========================================  =====================================
model          frontend                                    route (its ``invert`` capability)
=============  ==========================================  =====================================
basic-pitch    nnAudio CQT2010v2 + NormalizedLog           gradient descent on the waveform
trained        librosa-compatible CQT + NormalizedLog      librosa icqt + Griffin–Lim (permutations)
planted, ...   none (synthetic features)                   oscillator bank of X and πX
=============  ==========================================  =====================================

and returns a :class:`Triple` — original ``y``, permuted ``ŷ`` and "what moved" ``ŷ − y`` — with the
acceptance numbers: the mean L1 distance of the model's output on the resynthesis to ``Y(πX)``,
against the distance of ``Y(X)`` to ``Y(πX)`` (a ratio below 1 means the audio carries the
permutation's effect on the model). :func:`write_triple` saves the three as 16-bit WAV files.
"""

from __future__ import annotations

import io
from typing import Any, NamedTuple

import jax
import numpy as np
from etils import epath

from amt_jax import io as amt_io
from amt_jax import validate
from amt_jax.constants import SAMPLE_RATE, midi_to_hz
from amt_jax.frontend import inverse
from amt_jax.frontend.layout import FrequencyLayout
from amt_jax.models import Model, registry

ROUTES = ("gradient", "librosa", "oscillators")
TRIPLE = ("original", "permuted", "moved")
FEATURE_HOP = 1024  # samples per frame when sonifying synthetic features (no time scale of their own)
FEATURE_DB_RANGE = 60.0  # dB spanned by features in [0, 1] when read as NormalizedLog


class Triple(NamedTuple):
    """``original``, ``permuted`` (resynthesised) and ``moved = permuted − original``, each float32
    ``[n_samples]`` at ``sr`` Hz."""

    original: np.ndarray
    permuted: np.ndarray
    moved: np.ndarray
    sr: int = SAMPLE_RATE


class Sonified(NamedTuple):
    """A sonified draw: the :class:`Triple`, the route taken (one of :data:`ROUTES`) and the
    acceptance numbers (:func:`acceptance`; empty for the oscillator route, whose audio the model
    never hears)."""

    triple: Triple
    route: str
    acceptance: dict[str, float]


def make_triple(original, permuted, *, sr: int = SAMPLE_RATE) -> Triple:
    """The :class:`Triple` of two equally long signals ``[n_samples]``."""
    original, permuted = np.asarray(original, np.float32), np.asarray(permuted, np.float32)
    validate.exact_rank("original", original, 1, "[n_samples]")
    if permuted.shape != original.shape:
        raise ValueError(f"permuted must have the shape of original {original.shape}, got {permuted.shape}")
    return Triple(original, permuted, permuted - original, int(sr))


def wav_bytes(audio, *, sr: int = SAMPLE_RATE, gain: float = 1.0) -> bytes:
    """``audio [n_samples]`` times ``gain`` as a mono 16-bit PCM WAV file (clipped to ±1)."""
    import soundfile

    audio = np.asarray(audio, np.float64)
    validate.exact_rank("audio", audio, 1, "[n_samples]")
    validate.finite("audio", audio)
    buf = io.BytesIO()
    soundfile.write(buf, np.clip(audio * gain, -1.0, 1.0), int(sr), subtype="PCM_16", format="WAV")
    return buf.getvalue()


def triple_gain(triple: Triple, *, peak: float = 0.99) -> float:
    """One gain for all three signals: the largest ≤ 1 keeping every peak at most ``peak``."""
    top = max(float(np.max(np.abs(a), initial=0.0)) for a in triple[:3])
    return 1.0 if top <= peak else peak / top


def write_triple(directory: epath.PathLike, name: str, triple: Triple) -> dict[str, epath.Path]:
    """``directory/<name>_{original,permuted,moved}.wav`` (one common gain), each written atomically."""
    directory = epath.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    gain = triple_gain(triple)
    paths = {}
    for part in TRIPLE:
        paths[part] = directory / f"{name}_{part}.wav"
        amt_io.atomic_write(paths[part], wav_bytes(getattr(triple, part), sr=triple.sr, gain=gain))
    return paths


def _output(model: Model, x) -> np.ndarray:
    return np.asarray(model.probabilities(model.params, x))


def acceptance(model: Model, audio, x_perm, resynthesised) -> dict[str, float]:
    """``l1_resynth``: mean |Y(frontend(ŷ)) − Y(πX)|; ``l1_original``: mean |Y(X) − Y(πX)|; their ``ratio``.

    Args:
      model: a model with a frontend; ``Y`` is its frame posteriorgram (``model.output``).
      audio: original audio ``[n_samples]``; ``x_perm``: the target features ``[F, T]``;
      resynthesised: the resynthesis ``[n_samples]``.
    """
    x = model.frontend(np.asarray(audio, np.float32)[None])
    xr = model.frontend(np.asarray(resynthesised, np.float32)[None])
    y, y_perm, y_resynth = _output(model, x), _output(model, np.asarray(x_perm)[None]), _output(model, xr)
    l1_resynth = float(np.mean(np.abs(y_resynth - y_perm)))
    l1_original = float(np.mean(np.abs(y - y_perm)))
    return {"l1_resynth": l1_resynth, "l1_original": l1_original,
            "ratio": l1_resynth / l1_original if l1_original > 0 else float("nan"),
            "feature_mse_original": float(np.mean((np.asarray(x)[0] - x_perm) ** 2)),
            "feature_mse_resynth": float(np.mean((np.asarray(xr)[0] - x_perm) ** 2))}


def route_of(model: Model) -> str:
    """The resynthesis route of ``model`` (:data:`ROUTES`): its ``invert`` capability's, oscillators
    for a model without audio."""
    if not model.reads_audio:
        return "oscillators"
    return model.require("invert", "sonification").route


def sonify_audio(model: Model, audio, *, idx=None, x_perm=None, n_steps: int = 600,
                 n_iter: int = 16, **gradient_options) -> Sonified:
    """Resynthesise one window ``audio [n_samples]`` (22,050 Hz) with features ``πX``.

    Give the permutation ``idx [F]`` (``πX = X[idx]``), or for the gradient route any target
    ``x_perm [F, T]`` (a non-permutation family's perturbation). ``n_steps``: most gradient steps;
    ``n_iter``: Griffin–Lim iterations of the librosa route; ``gradient_options``: further keyword
    arguments of :func:`~amt_jax.frontend.inverse.invert_basic_pitch` (``learning_rate``, ``tol``, ...).
    """
    route = route_of(model)
    if route == "oscillators":
        raise ValueError(f"model {model.spec!r} reads no audio; use sonify_features")
    audio = np.asarray(audio, np.float32)
    validate.exact_rank("audio", audio, 1, "[n_samples]")
    x = np.asarray(model.frontend(audio[None]))[0]
    if idx is not None:
        idx = inverse.check_permutation("idx", idx, x.shape[0])
        x_perm = x[idx]
    elif x_perm is None:
        raise ValueError("sonify_audio needs idx (a permutation) or x_perm (target features), got neither")
    elif model.invert.needs_permutation:
        raise ValueError(f"the {route} route of {model.spec!r} needs idx (a permutation), got only x_perm")
    x_perm = np.asarray(x_perm, np.float32)
    if x_perm.shape != x.shape:
        raise ValueError(f"x_perm must have the features' shape {list(x.shape)}, got {list(x_perm.shape)}")
    resynth = model.invert.fn(audio, x_perm=x_perm, idx=idx, n_steps=n_steps, n_iter=n_iter, **gradient_options)
    return Sonified(make_triple(audio, resynth), route, acceptance(model, audio, x_perm, resynth))


def sonify_draw(model: Model, audio, *, family, key: jax.Array, **kwargs) -> tuple[Sonified, Any]:
    """One draw of ``family`` (``sample(key)`` or ``perturb(key, x)``) on ``audio [n_samples]``,
    sonified by :func:`sonify_audio`; returns ``(sonified, group)``."""
    if hasattr(family, "sample"):
        idx, group = family.sample(key)
        return sonify_audio(model, audio, idx=np.asarray(idx), **kwargs), int(group)
    x = np.asarray(model.frontend(np.asarray(audio, np.float32)[None]))
    x_perm, group = family.perturb(key, x)
    return sonify_audio(model, audio, x_perm=np.asarray(x_perm)[0], **kwargs), int(group)


def bin_frequencies(layout: FrequencyLayout) -> np.ndarray:
    """Centre frequency in Hz of every bin of ``layout`` ``[F]`` (key p at MIDI ``lowest_midi + p``)."""
    bins = np.arange(layout.n_bins)
    return midi_to_hz(layout.lowest_midi + (bins - layout.center_offset) / layout.bins_per_semitone)


def sonify_features(x, x_perm, layout: FrequencyLayout, *, hop_length: int = FEATURE_HOP,
                    db_range: float = FEATURE_DB_RANGE, sr: int = SAMPLE_RATE) -> Sonified:
    """Features without audio (``x``, ``x_perm`` ``[F, T]`` in [0, 1]) through :func:`oscillator_bank
    <amt_jax.frontend.inverse.oscillator_bank>`: value v plays at ``10^((v − 1)·db_range / 20)``
    (0 is silent), frame t at sample ``t·hop_length``; bins at or above Nyquist are left out."""
    x, x_perm = np.asarray(x, np.float64), np.asarray(x_perm, np.float64)
    validate.exact_rank("x", x, 2, "[F, T]")
    if x_perm.shape != x.shape or x.shape[0] != layout.n_bins:
        raise ValueError(f"x and x_perm must both be [{layout.n_bins}, T], got {list(x.shape)} and {list(x_perm.shape)}")
    validate.positive("db_range", db_range)
    frequencies = bin_frequencies(layout)
    audible = (frequencies > 0) & (frequencies < sr / 2)

    def play(v):
        amplitude = np.where(v > 0, 10.0 ** ((np.clip(v, 0, 1) - 1) * db_range / 20), 0.0)[audible]
        return inverse.oscillator_bank(amplitude, frequencies[audible], sr=sr, hop_length=hop_length)

    original, permuted = play(x), play(x_perm)
    scale = 1.0 / max(float(np.max(np.abs(original), initial=0.0)), 1e-9)  # the original peaks at 1
    return Sonified(make_triple(original * scale, permuted * scale, sr=sr), "oscillators", {})


FEATURE_MATCH_ATOL = 1e-3  # the reloaded window's features must equal the cell's X to this (max abs)


def example_window(record: dict) -> np.ndarray:
    """The audio ``[n_samples]`` of a sweep example cell's clip (clip 0 of the cell's data),
    reloaded from the dataset recorded in ``record["inputs"]``; FileNotFoundError or ValueError
    when that data is not available."""
    from amt_jax import data as data_lib
    from amt_jax.transcription import inference

    data = record["inputs"]["data"]
    if data.get("data") in (None, "synthetic"):
        raise ValueError("the example's data is synthetic: there is no audio to reload")
    if not data.get("data_dir") or not data.get("windows"):
        raise ValueError(f"the example's record names no data directory or windows: {data!r}")
    piece, window = data["windows"][0]
    source = data_lib.load(*data_lib.parse_spec(data["data"]), data_dir=data["data_dir"])
    for i in range(len(source)):
        example = source[i]
        if example["id"] == piece:
            return inference.window_audio(example["audio"])[int(window)]
    raise ValueError(f"piece {piece!r} of the example is not in {data['data']} at {data['data_dir']}")


def sonify_example(record: dict, arrays: dict[str, np.ndarray], *, n_steps: int = 300,
                   n_iter: int = 8) -> tuple[Sonified | None, str]:
    """Sonify a sweep's example cell (``x``, ``x_perm``, ``idx`` in ``arrays``): ``(sonified, note)``;
    ``sonified`` is None (and ``note`` says why) when the clip's audio cannot be reloaded."""
    spec = record["cell"]["model"]
    model = registry.load(spec, seed=record.get("seed", 0))
    if not model.reads_audio:
        layout = FrequencyLayout.from_dict(record["result"])
        return (sonify_features(arrays["x"], arrays["x_perm"], layout),
                f"{spec} reads synthetic features: oscillator bank of X and πX ({FEATURE_HOP}-sample frames)")
    try:
        audio = example_window(record)
    except (ValueError, FileNotFoundError, OSError) as e:
        return None, f"audio of the example not available: {e}"
    x = np.asarray(model.frontend(audio[None]))[0]
    mismatch = float(np.max(np.abs(x - arrays["x"])))
    if mismatch > FEATURE_MATCH_ATOL:
        return None, f"reloaded audio does not give the example's features (max |ΔX| = {mismatch:.3g}): data changed?"
    sonified = sonify_audio(model, audio, idx=arrays["idx"], n_steps=n_steps, n_iter=n_iter)
    a = sonified.acceptance
    return sonified, (f"{sonified.route} route; mean |Y(resynth) − Y(πX)| = {a['l1_resynth']:.3g} vs "
                      f"|Y(X) − Y(πX)| = {a['l1_original']:.3g} (ratio {a['ratio']:.2f})")
