"""Synthetic probe tones: harmonic tones (1/k, 1/k² envelopes, random phases) and SoundFont-rendered
notes on one model window, at levels in dBFS over a white-noise floor — the audio that
:mod:`amt_jax.tones.probe` plays to a model.

Levels are dBFS RMS re a full-scale sine (AES17): a tone at L dBFS has RMS ``10**(L/20)/√2`` over
the window. Repetition r of key m draws from numpy Generators seeded by ``(seed, m, r, stream)``, so
a key's tones do not depend on which keys, timbres or levels are probed.
"""

from __future__ import annotations

import re

import numpy as np

from amt_jax import validate

from amt_jax.frontend.layout import harmonic_shift
from amt_jax.constants import HOP_LENGTH, OVERLAP_FRAMES, SAMPLE_RATE, WINDOW_SAMPLES, midi_to_hz

ENVELOPES = {"1/k": 1.0, "1/k2": 2.0}  # name -> power p of the amplitude k**-p of harmonic k
LEVELS_DBFS = (-40.0, -20.0, -6.0)
NOISE_DBFS = -60.0
EDGE_FRAMES = OVERLAP_FRAMES // 2  # 15: the frames whole-file inference cuts from each window end
VELOCITY = 100  # MIDI velocity of rendered tones
METRICS = ("output", "recall", "false_positive", "f1", "f1_energy", "f1_argmax")
F1_PASS = 0.5  # a key is flagged when its F1's interval lies wholly below this
_PHASES, _NOISE, _START, _CHORD, _CHORD_START = 0, 1, 2, 3, 4  # random streams of one (key, repetition);
# the chord's streams are seeded by its own notes, so every probed key sits on the same chord per repetition
SILENT_RMS = 1e-7  # a rendered tone quieter than this (RMS) counts as silence
PROGRAM_PREFIX = re.compile(r"program:([0-9]{1,3})(?:@([0-9]{1,3}))?")  # "program:N" or "program:N@VELOCITY"
CHORD_SUFFIX = "+chord"  # "<timbre>+chord": the tone on top of CHORD_MIDI in the same timbre
CHORD_MIDI = (60, 64, 67)  # C4 E4 G4: the middle-register context chord, each note at the tone's level
# keys whose fundamental lies on a partial (harmonics 1..8, nearest key) of a chord note: a probe tone
# there interferes with the chord at random phase, so the chord context does not score them
CHORD_OVERLAP = tuple(sorted({c + harmonic_shift(k, 12) for c in CHORD_MIDI for k in range(1, 9)}))
MISSING_PREFIX = "missing:"  # "missing:1/k": the envelope's tone without its fundamental
MISSING_HARMONICS = 8  # a missing-fundamental tone has harmonics 2..8 (those below Nyquist)


def corpus_programs() -> tuple[int, ...]:
    """The General MIDI programs of the ``chorales`` corpus (``amt_jax.data.chorales.PROGRAMS``)."""
    from amt_jax.data.chorales import PROGRAMS

    return tuple(p for p, _ in PROGRAMS)


def timbre_names(envelopes=tuple(ENVELOPES), programs=(), missing=(), *, velocities=(VELOCITY,),
                 contexts=("alone",)) -> tuple[str, ...]:
    """Timbre names: the envelopes, then ``"missing:<envelope>"`` per envelope of ``missing`` (harmonics
    2..8 only: the missing fundamental), then ``"program:N"`` per General MIDI program N and
    velocity (``"program:N@V"`` for a velocity V other than 100); with ``"chord"`` in ``contexts``,
    each envelope and program timbre again on top of the context chord (``"<timbre>+chord"``)."""
    for v in velocities:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= v <= 127:
            raise ValueError(f"velocities must be MIDI velocities in 1..127, got {v!r}")
    for c in contexts:
        validate.one_of("contexts", c, CONTEXTS)
    played = tuple(envelopes) + tuple(f"program:{int(p)}" + ("" if v == VELOCITY else f"@{int(v)}")
                                      for p in programs for v in velocities)
    names = (tuple(played if "alone" in contexts else ()) + tuple(f"{MISSING_PREFIX}{e}" for e in missing)
             + tuple(f"{t}{CHORD_SUFFIX}" for t in played if "chord" in contexts))
    for name in names:
        parse_timbre(name)
    return names


CONTEXTS = ("alone", "chord")


def timbre_context(name: str) -> tuple[str, str]:
    """``(timbre without its context, "alone" | "chord")``."""
    if isinstance(name, str) and name.endswith(CHORD_SUFFIX):
        return name[: -len(CHORD_SUFFIX)], "chord"
    return name, "alone"


def context_keys(name: str) -> tuple[int, ...]:
    """MIDI keys sounding besides the probe tone in timbre ``name``'s context (the chord's, or none)."""
    return CHORD_MIDI if timbre_context(name)[1] == "chord" else ()


def parse_timbre(name: str) -> tuple[str, float | tuple[int, int]]:
    """``("envelope", power)`` for ``"1/k"``/``"1/k2"``, ``("missing", power)`` for
    ``"missing:1/k"``/``"missing:1/k2"``, ``("program", (N, velocity))`` for ``"program:N"``
    (velocity 100) or ``"program:N@V"``; any of the envelope or program timbres may end in
    ``"+chord"`` (the context, :func:`timbre_context`)."""
    base, context = timbre_context(name) if isinstance(name, str) else (name, "alone")
    if isinstance(base, str) and base in ENVELOPES:
        return "envelope", ENVELOPES[base]
    if isinstance(base, str) and base.startswith(MISSING_PREFIX) and base[len(MISSING_PREFIX):] in ENVELOPES:
        if context == "chord":
            raise ValueError(f"timbre must not put a missing-fundamental tone on a chord, got {name!r}")
        return "missing", ENVELOPES[base[len(MISSING_PREFIX):]]
    match = PROGRAM_PREFIX.fullmatch(base) if isinstance(base, str) else None
    velocity = VELOCITY if match is None or match.group(2) is None else int(match.group(2))
    if match is None or int(match.group(1)) > 127 or not 1 <= velocity <= 127:
        raise ValueError(f"timbre must be one of {sorted(ENVELOPES)}, 'missing:' + one of them, or 'program:N' / "
                         f"'program:N@V' (N in 0..127, velocity V in 1..127), optionally + '{CHORD_SUFFIX}', got {name!r}")
    return "program", (int(match.group(1)), velocity)


# --------------------------------------------------------------------------- synthesis


def dbfs_to_rms(level_dbfs):
    """RMS of a signal at ``level_dbfs`` dBFS (re a full-scale sine): ``10**(L/20)/√2``."""
    return 10.0 ** (np.asarray(level_dbfs, np.float64) / 20.0) / np.sqrt(2.0)


def rms_dbfs(x, axis: int = -1):
    """Level in dBFS (RMS re a full-scale sine) of ``x`` along ``axis``: ``20·log10(√2·RMS)``."""
    x = np.asarray(x, np.float64)
    return 20.0 * np.log10(np.sqrt(2.0 * np.mean(x * x, axis=axis)))


def n_harmonics(midi: float, sample_rate: float = SAMPLE_RATE) -> int:
    """Harmonics of MIDI note ``midi`` below Nyquist: the largest K with ``K·f0 < sample_rate/2``."""
    return max(int(np.ceil(sample_rate / 2 / midi_to_hz(midi))) - 1, 0)


def harmonic_tone(midi: float, phases, *, power: float, n_samples: int = WINDOW_SAMPLES,
                  sample_rate: float = SAMPLE_RATE, lowest: int = 1) -> np.ndarray:
    """``Σ_k k**-power · sin(2π·k·f0·n/sample_rate + phases[..., k−1])``, k = ``lowest``..K (K = phases'
    last axis; ``lowest = 2`` drops the fundamental), f0 the equal-tempered frequency of ``midi``:
    phases ``[..., K]`` (radians) → float64 ``[..., n_samples]``, unnormalised. Horner's scheme in
    ``e^{iω n}`` (exact to ~K·1e-16)."""
    phases = np.asarray(phases, np.float64)
    validate.min_rank("phases", phases, 1, "[..., n_harmonics]")
    validate.positive_int("n_samples", n_samples)
    z = np.exp(2j * np.pi * (midi_to_hz(midi) / sample_rate) * np.arange(n_samples))
    k = np.arange(1, phases.shape[-1] + 1)
    validate.positive_int("lowest", lowest)
    coef = np.where(k >= lowest, k ** -float(power), 0.0) * np.exp(1j * phases)  # [..., K]
    acc = np.broadcast_to(coef[..., -1:], (*phases.shape[:-1], n_samples)).copy()
    for j in range(phases.shape[-1] - 2, -1, -1):
        acc *= z
        acc += coef[..., j : j + 1]
    return (acc * z).imag


def rng_for(seed: int, midi: int, rep: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, midi, rep, stream])


def render_note(midi: int, program: int, *, n_samples: int = WINDOW_SAMPLES, soundfont=None,
                velocity: int = VELOCITY) -> np.ndarray:
    """``midi`` rendered with General MIDI ``program`` at ``velocity`` (default 100), note on at
    sample 0 and held for ``n_samples + 256`` samples (22,050 Hz): float32 ``[n_samples + 256]``."""
    from amt_jax.data import labels, render

    n = n_samples + HOP_LENGTH
    notes = labels.make_notes([0.0], [n / SAMPLE_RATE], [int(midi)], [int(velocity)])
    audio = render.render(notes, program=int(program), soundfont=soundfont, tail_s=0.0)
    return np.pad(audio, (0, max(n - audio.size, 0)))[:n]


def unit_tones(midi: int, timbre: str, *, n_repeats: int, seed: int, n_samples: int = WINDOW_SAMPLES,
               soundfont=None) -> np.ndarray | None:
    """Repetitions ``[n_repeats, n_samples]`` float64 of one key's tone at RMS 1 (+3 dBFS), or None
    when a rendered tone is silent (or a missing-fundamental tone has no harmonic 2 below Nyquist).
    Repetition r's phases are the same for both envelopes and their missing-fundamental tones (paired);
    program timbres are rendered with ``soundfont`` (default TimGM6mb) at their velocity. A
    ``"+chord"`` timbre adds each note of :data:`CHORD_MIDI` in the same timbre, each at RMS 1 (at
    the tone's level once mixed), with its own random stream."""
    base, context = timbre_context(timbre)
    tones = _unit(midi, base, n_repeats=n_repeats, seed=seed, stream=(_PHASES, _START), n_samples=n_samples,
                  soundfont=soundfont)
    if tones is None or context == "alone":
        return tones
    for c in CHORD_MIDI:
        note = _unit(c, base, n_repeats=n_repeats, seed=seed, stream=(_CHORD, _CHORD_START), n_samples=n_samples,
                     soundfont=soundfont)
        if note is None:
            return None
        tones = tones + note
    return tones


def _unit(midi: int, timbre: str, *, n_repeats: int, seed: int, stream: tuple[int, int], n_samples: int,
          soundfont) -> np.ndarray | None:
    """One key's tone (no context) at RMS 1; ``stream``: the (phases, start offset) streams."""
    kind, value = parse_timbre(timbre)
    reps = range(n_repeats)
    if kind in ("envelope", "missing"):
        k = n_harmonics(midi)
        phases = np.stack([rng_for(seed, midi, r, stream[0]).uniform(0, 2 * np.pi, k) for r in reps])
        if kind == "missing":  # harmonics 2..8 with the complete tone's phases (paired)
            if k < 2:
                return None
            phases = phases[:, :MISSING_HARMONICS]
        tones = harmonic_tone(midi, phases, power=value, n_samples=n_samples, lowest=2 if kind == "missing" else 1)
    else:
        program, velocity = value
        audio = render_note(midi, program, n_samples=n_samples, soundfont=soundfont, velocity=velocity)
        starts = [int(rng_for(seed, midi, r, stream[1]).integers(0, HOP_LENGTH)) for r in reps]
        tones = np.stack([audio[s : s + n_samples] for s in starts]).astype(np.float64)
    rms = np.sqrt(np.mean(tones**2, axis=-1, keepdims=True))
    if np.any(rms < SILENT_RMS):
        return None
    return tones / rms


def noise(midi: int, *, n_repeats: int, seed: int, noise_dbfs: float | None,
          n_samples: int = WINDOW_SAMPLES) -> np.ndarray:
    """White Gaussian noise ``[n_repeats, n_samples]`` at ``noise_dbfs`` (zeros for None)."""
    if noise_dbfs is None:
        return np.zeros((n_repeats, n_samples))
    sd = dbfs_to_rms(noise_dbfs)
    return np.stack([sd * rng_for(seed, midi, r, _NOISE).standard_normal(n_samples) for r in range(n_repeats)])


def tone_windows(midi: int, timbre: str, *, levels_dbfs=LEVELS_DBFS, n_repeats: int, seed: int = 0,
                 noise_dbfs: float | None = NOISE_DBFS, n_samples: int = WINDOW_SAMPLES, soundfont=None) -> np.ndarray:
    """The probe windows of one key and timbre: float32 ``[L, n_repeats, n_samples]``, tone at each
    level (dBFS RMS) plus the noise. ValueError when the rendered tone is silent."""
    unit = unit_tones(midi, timbre, n_repeats=n_repeats, seed=seed, n_samples=n_samples, soundfont=soundfont)
    if unit is None:
        raise ValueError(f"timbre {timbre!r} renders silence at MIDI {midi}")
    return mix(unit, noise(midi, n_repeats=n_repeats, seed=seed, noise_dbfs=noise_dbfs, n_samples=n_samples),
                levels_dbfs)


def mix(unit: np.ndarray, floor: np.ndarray, levels_dbfs) -> np.ndarray:
    """``unit [R, n]`` at each level plus ``floor [R, n]`` → float32 ``[L, R, n]``."""
    return (dbfs_to_rms(levels_dbfs).reshape(-1, 1, 1) * unit[None] + floor[None]).astype(np.float32)


