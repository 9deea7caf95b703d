"""Probe tones per key: does a model detect an isolated steady tone on every one of its keys?

For every key of a model (its layout's keys, MIDI ``lowest_midi .. lowest_midi + P − 1``), every
timbre and every level, :func:`probe_tones` synthesises one model window (43,844 samples at
22,050 Hz, 172 frames) of a tone at the key's equal-tempered pitch held through the window, over a
white-noise floor, runs the windows through the model's own ``frontend`` and ``apply`` (batched,
jitted) and measures over the tone's frames (the window minus ``edge_frames`` = 15 at each end,
the frames whole-file inference keeps), per repetition:

- ``output``: the mean output at the tone's key;
- ``recall``: the fraction of frames whose output at the tone's key is ``>= model.frame_threshold``;
- ``false_positive``: the fraction of frames in which at least one other key is on;
- ``f1``: F1 over all keys' outputs, ``2·TP / (2·TP + FP + FN)`` with TP/FN the tone's frames
  with its key on/off and FP every (frame, key) on at a key that does not sound (octave errors
  count here and are also read apart in :meth:`ProbeTones.confusions`); the context chord's keys
  are neither hits nor false positives;
- ``f1_energy``, ``f1_argmax``: the same F1 of two non-learned baselines on the same windows and
  frontend (:func:`amt_jax.tones.scoring.baseline_outputs`): the fundamental-bin energy thresholded (its threshold
  chosen over all windows of the run to maximise its own mean F1, so the comparison favours it)
  and the loudest fundamental bin per frame (one key on per frame);

with t intervals over the repetitions (random harmonic phases, noise, sub-hop start offset), and
``rates[s, l, k, q]``: the fraction of frames in which model key ``q`` is on (mean over
repetitions; the diagonal is recall, the rest reads octave and neighbour errors).
:meth:`ProbeTones.key_f1` pools timbres and repetitions per key and context, with the
advantage over the better baseline; :meth:`ProbeTones.weakest` and :meth:`ProbeTones.flagged`
name the keys a model fails on.

Timbres: ``"1/k"`` and ``"1/k2"``: harmonics ``k = 1, 2, ...`` with ``k·f0 < sr/2``, amplitude
``k**-1`` or ``k**-2``, independent uniform phases; ``"missing:1/k"``, ``"missing:1/k2"``: the
same tone's harmonics 2..8 only (the missing fundamental; :meth:`ProbeTones.missing_fundamental`
reads whether the model answers at the absent fundamental's key or at its harmonics' keys, i.e.
octave and twelfth errors); ``"program:N"`` / ``"program:N@V"``: the note rendered with
General MIDI program N by :mod:`amt_jax.data.render` (tinysoundfont, TimGM6mb), velocity 100 or V,
held past the window, cut at a random start within the first hop. ``"<timbre>+chord"``: the same
tone on top of a C4–E4–G4 chord in the same timbre, each chord note at the tone's level (the
polyphonic context).

Levels are dBFS RMS re a full-scale sine (AES17): a tone at L dBFS has RMS ``10**(L/20)/√2``
over the window, so a full-scale sine is 0 dBFS. Nothing is clipped (random-phase tones at
−6 dBFS peak near 0.6–0.95). Noise is white Gaussian at ``noise_dbfs`` (standard deviation
``10**(N/20)/√2``), one realisation per (key, repetition) shared by all levels and timbres, so
level L has SNR ``L − N`` dB; without noise a frontend that normalises each window (Basic
Pitch's NormalizedLog) sees nearly the same input at every level.

Randomness: repetition r of key m draws from numpy Generators seeded by ``(seed, m, r, stream)``,
so a key's tones do not depend on which keys, timbres or levels are probed, and a run's first R
repetitions equal those of a run with R repetitions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import warnings

import numpy as np

from amt_jax import validate
from amt_jax.constants import HOP_LENGTH, SAMPLE_RATE, WINDOW_SAMPLES, midi_to_hz
from amt_jax import stats
from amt_jax.frontend.layout import harmonic_shift
from amt_jax.io import environment
from amt_jax.tones import scoring
from amt_jax.tones.synth import (
    CHORD_MIDI,
    CHORD_OVERLAP,
    CONTEXTS,
    ENVELOPES,
    F1_PASS,
    EDGE_FRAMES,
    LEVELS_DBFS,
    METRICS,
    MISSING_HARMONICS,
    NOISE_DBFS,
    context_keys,
    corpus_programs,
    timbre_context,
    mix,
    noise,
    parse_timbre,
    timbre_names,
    unit_tones,
)

# --------------------------------------------------------------------------- measurement


def scored_timbres(timbres, context: str) -> list[int]:
    """Indices of the complete tones' timbres of ``context`` among ``timbres`` (missing-fundamental
    tones left out): what per-key F1 and the energy baseline's threshold are computed over."""
    return [s for s, t in enumerate(timbres) if timbre_context(t)[1] == context and parse_timbre(t)[0] != "missing"]


@dataclasses.dataclass(frozen=True, eq=False)
class ProbeTones:
    """Probe-tone detection of one model (see the module docstring for the measures).

    Attributes:
      midi: ``[K]`` the probed keys (MIDI numbers, ascending).
      timbres: the S timbre names.
      levels_dbfs: ``[L]`` tone levels (dBFS RMS).
      samples: metric (:data:`METRICS`) → ``[S, L, K, R]`` per repetition (NaN where not probed).
      rates: ``[S, L, K, P]`` fraction of the tone's frames in which model key q is on (mean over
        repetitions); model key q is MIDI ``config["layout"]["lowest_midi"] + q``.
      valid: ``[S, K]`` False where a rendered tone was silent (not probed).
      config: JSON-able settings, the model's spec, identity, layout and threshold.
      environment: :func:`amt_jax.io.environment` of the run.
    """

    midi: np.ndarray
    timbres: tuple[str, ...]
    levels_dbfs: np.ndarray
    samples: dict[str, np.ndarray]
    rates: np.ndarray
    valid: np.ndarray
    config: dict
    environment: dict

    def summary(self, metric: str, *, confidence: float = 0.95) -> dict[str, np.ndarray]:
        """``mean, standard_error, ci_low, ci_high`` ``[S, L, K]`` of ``metric`` over the repetitions
        (t interval, R − 1 degrees of freedom; NaN where not probed)."""
        validate.one_of("metric", metric, METRICS)
        x = self.samples[metric]
        mean = x.mean(axis=-1)
        se = x.std(axis=-1, ddof=1) / np.sqrt(x.shape[-1])
        low, high = stats.t_interval(mean, se, x.shape[-1] - 1, confidence=confidence)
        return {"mean": mean, "standard_error": se, "ci_low": low, "ci_high": high}

    def detected_range(self, *, threshold: float = 0.5) -> dict[str, np.ndarray]:
        """Keys detected (mean recall >= ``threshold``, false positives ignored: read :meth:`key_f1`)
        per timbre and level: ``lowest``, ``highest`` (MIDI, −1 when none) and ``n_detected`` ``[S, L]``;
        ``n_probed`` ``[S]``. For a ``missing:`` timbre, recall is at the absent fundamental's key."""
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {threshold!r}")
        hit = np.nan_to_num(self.summary("recall")["mean"], nan=0.0) >= threshold  # [S, L, K]
        lowest = np.where(hit.any(-1), self.midi[np.argmax(hit, axis=-1)], -1)
        highest = np.where(hit.any(-1), self.midi[len(self.midi) - 1 - np.argmax(hit[..., ::-1], axis=-1)], -1)
        return {"lowest": lowest, "highest": highest, "n_detected": hit.sum(-1), "n_probed": self.valid.sum(-1)}

    def contexts(self) -> tuple[str, ...]:
        """The contexts probed (``"alone"``, ``"chord"``), in order, among the complete tones."""
        found = [timbre_context(t)[1] for t in self.timbres if parse_timbre(t)[0] != "missing"]
        return tuple(dict.fromkeys(found))

    def scored_timbres(self, context: str) -> list[int]:
        """Indices of the complete tones' timbres of ``context`` (missing-fundamental tones left out)."""
        return scored_timbres(self.timbres, context)

    def key_f1(self, context: str = "alone", *, confidence: float = 0.95) -> dict:
        """Per level and key, over the complete tones' timbres of ``context`` (missing-fundamental tones
        left out): ``f1``, ``f1_energy``, ``f1_argmax`` and ``advantage`` (the model's F1 minus the
        better of the two baselines' in each window: an oracle pick, so the comparison favours the
        baselines), each ``{mean, ci_low, ci_high}`` ``[L, K]``, and ``n`` ``[L, K]`` (timbres scored).

        Repetitions of a timbre differ only in phases, noise and start, so they are averaged first:
        with S' >= 2 timbres the interval is a t interval over the timbres' means (df = S' − 1, the
        timbres a random sample of timbres); with one timbre, over its repetitions (df = R − 1,
        conditional on that timbre). NaN where a key was not scored (a silent render; in the chord
        context, a key on the chord's partials: :attr:`config` ``chord_overlap_midi``)."""
        validate.one_of("context", context, self.contexts())
        chosen = self.scored_timbres(context)
        x = {m: self.samples[m][chosen] for m in ("f1", "f1_energy", "f1_argmax")}  # [S', L, K, R]
        x["advantage"] = x["f1"] - np.maximum(x["f1_energy"], x["f1_argmax"])
        out = {}
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # keys with no valid window: NaN
            for name, v in x.items():
                units = np.nanmean(v, axis=-1) if len(chosen) >= 2 else v[0]  # [S', L, K] or [L, K, R]
                axis = 0 if len(chosen) >= 2 else -1
                n = np.isfinite(units).sum(axis)
                mean = np.nanmean(units, axis=axis)
                se = np.nanstd(units, axis=axis, ddof=1) / np.sqrt(n)
                low, high = stats.t_interval(mean, se, np.maximum(n - 1, 1), confidence=confidence)
                ok = n >= 2
                out[name] = {"mean": mean, "ci_low": np.where(ok, low, np.nan), "ci_high": np.where(ok, high, np.nan)}
            out["n"] = np.isfinite(np.nanmean(x["f1"], axis=-1)).sum(0)
        out["interval_over"] = "timbres" if len(chosen) >= 2 else "repetitions"
        return out

    def flagged(self, context: str = "alone", *, confidence: float = 0.95) -> np.ndarray:
        """``[L, K]`` bool: keys whose F1 (:meth:`key_f1`) lies wholly below :data:`F1_PASS` = 0.5 (its
        interval's upper end; its mean when there is no interval). :meth:`below` counts the means."""
        f1 = self.key_f1(context, confidence=confidence)["f1"]
        upper = np.where(np.isfinite(f1["ci_high"]), f1["ci_high"], f1["mean"])
        return np.nan_to_num(upper, nan=np.inf) < F1_PASS

    def below(self, context: str = "alone") -> np.ndarray:
        """``[L, K]`` bool: keys whose mean F1 is below :data:`F1_PASS` (the point count beside :meth:`flagged`)."""
        return np.nan_to_num(self.key_f1(context)["f1"]["mean"], nan=np.inf) < F1_PASS

    def weakest(self, context: str = "alone", *, n: int = 5, confidence: float = 0.95) -> list[list[dict]]:
        """Per level, the ``n`` keys with the lowest mean F1 (:meth:`key_f1`), lowest first: each a dict
        of ``midi``, ``f1``/``f1_ci_low``/``f1_ci_high``, ``f1_energy``, ``f1_argmax``,
        ``advantage``/``advantage_ci_low``/``advantage_ci_high``, and the octave errors apart:
        ``octave_up_rate``/``octave_down_rate`` (:meth:`confusions`, mean over the context's timbres)."""
        validate.positive_int("n", n)
        f = self.key_f1(context, confidence=confidence)
        chosen = self.scored_timbres(context)
        conf = self.confusions()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # NaN off the model's keys
            octave = {k: np.nanmean(conf[k][chosen], axis=0) for k in ("octave_up_rate", "octave_down_rate")}
        out = []
        for l in range(len(self.levels_dbfs)):
            mean = f["f1"]["mean"][l]
            order = [k for k in np.argsort(np.nan_to_num(mean, nan=np.inf), kind="stable") if np.isfinite(mean[k])][:n]
            out.append([{"midi": int(self.midi[k]), "n": int(f["n"][l, k]), "f1": float(mean[k]), "f1_ci_low": float(f["f1"]["ci_low"][l, k]),
                         "f1_ci_high": float(f["f1"]["ci_high"][l, k]), "f1_energy": float(f["f1_energy"]["mean"][l, k]),
                         "f1_argmax": float(f["f1_argmax"]["mean"][l, k]), "advantage": float(f["advantage"]["mean"][l, k]),
                         "advantage_ci_low": float(f["advantage"]["ci_low"][l, k]),
                         "advantage_ci_high": float(f["advantage"]["ci_high"][l, k]),
                         **{name: float(v[l, k]) for name, v in octave.items()}} for k in order])
        return out

    def missing_fundamental(self, *, confidence: float = 0.95) -> dict[str, dict[str, np.ndarray]]:
        """Per ``"missing:…"`` timbre: does the model hear the absent fundamental?

        ``f0_recall`` ``[L, K]`` (mean over repetitions of the frame recall at the fundamental's key,
        which no partial reaches) with ``f0_ci_low/high``; ``harmonic_rates`` ``[L, K, 7]``: the rate
        at the keys of harmonics k = 2..8, MIDI ``m + round(12·log2 k)`` (NaN off the model's keys
        or above Nyquist); ``octave_rate`` = its k = 2 column (the octave error); ``keys_mean``:
        ``f0_recall``, ``octave_rate`` and the largest harmonic rate, each ``[L]``, mean over the
        probed keys (NaN-skipping). A model that needs the fundamental's bin answers at the
        harmonics' keys, not at the fundamental's."""
        low, n_pitches = self.config["layout"]["lowest_midi"], self.rates.shape[-1]
        harmonics = np.arange(2, MISSING_HARMONICS + 1)
        steps = np.array([harmonic_shift(int(k), 12) for k in harmonics])  # keys (semitones) above the fundamental
        recall = self.summary("recall", confidence=confidence)
        out = {}
        for s, timbre in enumerate(self.timbres):
            if parse_timbre(timbre)[0] != "missing":
                continue
            q = (self.midi - low)[:, None] + steps[None]  # [K, 7]
            ok = (q < n_pitches) & (midi_to_hz(self.midi)[:, None] * harmonics[None] < SAMPLE_RATE / 2)
            rates = np.where(ok, np.take_along_axis(self.rates[s], np.clip(q, 0, n_pitches - 1)[None], -1), np.nan)
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: keys not probed
                row = {"f0_recall": recall["mean"][s], "f0_ci_low": recall["ci_low"][s], "f0_ci_high": recall["ci_high"][s],
                       "harmonic_rates": rates, "octave_rate": rates[..., 0]}
                row["keys_mean"] = {"f0_recall": np.nanmean(row["f0_recall"], axis=-1),
                                    "octave_rate": np.nanmean(row["octave_rate"], axis=-1),
                                    "largest_harmonic_rate": np.nanmean(np.nanmax(rates, axis=-1), axis=-1)}
            out[timbre] = row
        return out

    def confusions(self) -> dict[str, np.ndarray]:
        """From :attr:`rates`, ``[S, L, K]`` each: ``top_other_midi`` / ``top_other_rate`` (the other
        key on most often; −1 / 0 when none is ever on, −1 / NaN where not probed),
        ``octave_up_rate`` / ``octave_down_rate`` (the keys ±12 semitones; NaN off the model's keys)."""
        low = self.config["layout"]["lowest_midi"]
        own, n_pitches = self.midi - low, self.rates.shape[-1]
        others = np.nan_to_num(self.rates, nan=-1.0)
        others[..., np.arange(len(own)), own] = -np.inf
        top = np.argmax(others, axis=-1)
        rate = np.take_along_axis(self.rates, top[..., None], -1)[..., 0]
        out = {"top_other_midi": np.where(rate > 0, top + low, -1), "top_other_rate": rate}
        for name, step in (("octave_up_rate", 12), ("octave_down_rate", -12)):
            q = own + step
            ok = (q >= 0) & (q < n_pitches)
            out[name] = np.where(ok, self.rates[..., np.arange(len(own)), np.clip(q, 0, n_pitches - 1)], np.nan)
        return out

def _check(model, timbres, levels_dbfs, n_repeats, seed, noise_dbfs, keys, edge_frames, batch_size):
    """Validated ``(timbres, levels [L], probed MIDI keys [K])``; ValueError naming the argument."""
    if getattr(model, "frontend", None) is None or getattr(model, "layout", None) is None:
        raise ValueError(f"model {getattr(model, 'spec', model)!r} reads no audio (no frontend or layout): "
                         "probe tones need an audio model")
    model.frontend_on(SAMPLE_RATE, HOP_LENGTH, "probe tones")
    model.require_keys("probe tones")
    timbres = tuple(timbres)
    if not timbres or len(set(timbres)) != len(timbres):
        raise ValueError(f"timbres must be a non-empty list of distinct names, got {list(timbres)!r}")
    for t in timbres:
        parse_timbre(t)
    levels = np.asarray(levels_dbfs, np.float64).reshape(-1)
    if not levels.size or not np.all(np.isfinite(levels)) or len(np.unique(levels)) != levels.size:
        raise ValueError(f"levels_dbfs must be distinct finite dBFS values, got {levels_dbfs!r}")
    for name, value, low in (("n_repeats", n_repeats, 2), ("seed", seed, 0), ("edge_frames", edge_frames, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if noise_dbfs is not None and not (isinstance(noise_dbfs, (int, float)) and np.isfinite(noise_dbfs)):
        raise ValueError(f"noise_dbfs must be a finite dBFS value or None, got {noise_dbfs!r}")
    validate.positive_int("batch_size", batch_size)
    lay = model.layout
    all_keys = lay.midi(np.arange(lay.n_pitches))
    midi = all_keys if keys is None else np.unique(np.asarray(keys).reshape(-1))
    if not midi.size or not np.all(np.isin(midi, all_keys)):
        raise ValueError(f"keys must be MIDI numbers of the model's keys ({all_keys[0]}..{all_keys[-1]}), got {keys!r}")
    return timbres, levels, midi.astype(np.int64)


def probe_tones(model, *, timbres=None, levels_dbfs=LEVELS_DBFS, n_repeats: int = 4, seed: int = 0,
                noise_dbfs: float | None = NOISE_DBFS, keys=None, edge_frames: int = EDGE_FRAMES,
                batch_size: int = 16, soundfont=None, progress=None) -> ProbeTones:
    """Probe tones on every key of ``model`` (a :class:`amt_jax.models.Model` with a
    frontend): S timbres × L levels × K keys × R repetitions windows of 43,844 samples.

    Args:
      timbres: names (``"1/k"``, ``"1/k2"``, ``"missing:1/k"``, ``"missing:1/k2"``, ``"program:N"``);
        default both envelopes and the corpus' programs (:func:`corpus_programs`), alone and on the
        chord, and both envelopes' missing-fundamental tones.
      levels_dbfs: tone levels, dBFS RMS re a full-scale sine.
      n_repeats: repetitions R >= 2 per (timbre, level, key): phases, noise and start offset.
      seed: base seed (>= 0) of every repetition's Generators.
      noise_dbfs: white-noise floor in dBFS RMS, or None for none.
      keys: MIDI numbers to probe (default: all the model's keys).
      edge_frames: frames skipped at each end of the window (default 15, as inference does).
      batch_size: windows per jitted call.
      soundfont: SoundFont of program timbres (default TimGM6mb from pretty_midi).
      progress: called with the number of windows done after each batch.
    """
    timbres = (timbre_names(programs=corpus_programs(), missing=tuple(ENVELOPES), contexts=CONTEXTS)
               if timbres is None else timbres)
    timbres, levels, midi = _check(model, timbres, levels_dbfs, n_repeats, seed, noise_dbfs, keys, edge_frames, batch_size)
    lay = model.layout
    shape = (len(timbres), len(levels), len(midi), n_repeats)
    samples = {m: np.full(shape, np.nan) for m in METRICS}
    rates = np.full((*shape, lay.n_pitches), np.nan)
    valid = np.ones((len(timbres), len(midi)), bool)
    frontend = model.frontend_on(SAMPLE_RATE, HOP_LENGTH, "probe tones")
    forward = scoring.forward(frontend, model.apply, model.output, float(model.frame_threshold), int(edge_frames), lay)
    batches = scoring.Batches(forward, model.params, batch_size, samples, rates, progress)
    for k, m in enumerate(midi):
        floor = noise(int(m), n_repeats=n_repeats, seed=seed, noise_dbfs=noise_dbfs)
        for s, timbre in enumerate(timbres):
            unit = unit_tones(int(m), timbre, n_repeats=n_repeats, seed=seed, soundfont=soundfont)
            if unit is None:
                valid[s, k] = False
                continue
            windows = mix(unit, floor, levels).reshape(-1, WINDOW_SAMPLES)
            where = [(s, l, k, r) for l in range(len(levels)) for r in range(n_repeats)]
            others = np.zeros(lay.n_pitches, bool)
            chord = np.asarray(context_keys(timbre), int) - lay.lowest_midi
            others[chord[(chord >= 0) & (chord < lay.n_pitches)]] = True
            others[int(m) - lay.lowest_midi] = False
            batches.add(windows, int(m) - lay.lowest_midi, others, where)
    batches.finish()
    energy_threshold = _finish(samples, rates, batches.energy, timbres, midi)
    config = {
        "model": model.spec, "model_identity": model.identity, "layout": lay.to_dict(), "output": model.output,
        "frame_threshold": float(model.frame_threshold), "timbres": list(timbres), "levels_dbfs": levels.tolist(),
        "noise_dbfs": noise_dbfs, "snr_db": None if noise_dbfs is None else (levels - noise_dbfs).tolist(),
        "n_repeats": int(n_repeats), "seed": int(seed), "keys_midi": midi.tolist(), "edge_frames": int(edge_frames),
        "n_samples": WINDOW_SAMPLES, "sample_rate": SAMPLE_RATE,
        "velocities": sorted({parse_timbre(t)[1][1] for t in timbres if parse_timbre(t)[0] == "program"}),
        "level_definition": "dBFS RMS re a full-scale sine (a tone at L dBFS has RMS 10**(L/20)/sqrt(2))",
        "soundfont": _soundfont_record(soundfont) if any(t.startswith("program:") for t in timbres) else None,
        "chord_midi": list(CHORD_MIDI) if any(context_keys(t) for t in timbres) else None,
        "chord_overlap_midi": list(CHORD_OVERLAP) if any(context_keys(t) for t in timbres) else None,
        "baselines": {"energy_threshold": {c: v for c, v in energy_threshold.items() if not c.endswith("_curve")},
                      "energy_f1_by_threshold": {c[: -len("_curve")]: v for c, v in energy_threshold.items()
                                                 if c.endswith("_curve")},
                      "thresholds": scoring.ENERGY_THRESHOLDS.tolist(),
                      "energy": "fundamental-bin energy of the model's frontend, scaled to [0, 1] per window, >= "
                                "energy_threshold (chosen per context over this run's complete tones to maximise "
                                "its own mean F1: in its favour)",
                      "argmax": "the key of the largest fundamental-bin energy, one per frame"},
        "f1_pass": F1_PASS,
    }
    return ProbeTones(midi, timbres, levels, samples, rates.mean(axis=3),
                      valid, config, environment())

def _finish(samples: dict, rates: np.ndarray, energy: np.ndarray, timbres, midi) -> dict:
    """In place: NaN for the chord context's keys on the chord's partials; the energy baseline's F1
    at its threshold, tuned per context on the complete tones. Returns the thresholds and, under
    ``<context>_curve``, the mean F1 at every candidate."""
    for s, timbre in enumerate(timbres):  # a key on the chord's partials interferes with it at random phase
        if context_keys(timbre):
            for metric in METRICS:
                samples[metric][s][:, np.isin(midi, CHORD_OVERLAP)] = np.nan
            rates[s][:, np.isin(midi, CHORD_OVERLAP)] = np.nan
    energy_threshold = {}
    for context in CONTEXTS:  # tuned per context, on the complete tones only
        chosen = scored_timbres(timbres, context)
        if not chosen:
            continue
        energy_threshold[context], curve = scoring.energy_threshold(energy[chosen])
        energy_threshold[context + "_curve"] = curve
        column = list(scoring.ENERGY_THRESHOLDS).index(energy_threshold[context])
        for s in chosen:
            samples["f1_energy"][s] = np.where(np.isfinite(samples["f1"][s]), energy[s][..., column], np.nan)
    return energy_threshold


def _soundfont_record(soundfont) -> dict:
    from amt_jax.data import render

    path = render.default_soundfont() if soundfont is None else soundfont
    with open(path, "rb") as f:
        return {"path": str(path), "sha256": hashlib.sha256(f.read()).hexdigest()[:16]}
