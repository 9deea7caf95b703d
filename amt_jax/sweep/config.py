"""Sweep configs: a :class:`SweepConfig` names the models, the data, the probes and their sizes.

Registered configs are files ``experiments/configs/sweep/<name>.py``, each defining
``get_config()``; :func:`load_config` loads one (or any ``.py`` file defining ``get_config()``)
through :mod:`amt_jax.configs`, which also applies ``FIELD=VALUE`` overrides.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from amt_jax import configs, validate
from amt_jax.constants import SEMITONES_PER_OCTAVE
from amt_jax.frontend.layout import octave_bands
from amt_jax.models import registry
from amt_jax.sweep.probes import FAMILIES, KINDS, OPT_IN_FAMILIES

OCTAVE_BANDS = octave_bands(9 * SEMITONES_PER_OCTAVE)  # semitone bands, 9 octaves from the lowest key


@dataclass(frozen=True)
class SweepConfig:
    """A grid of probe cells (see :mod:`amt_jax.sweep.probes` for what each family measures).

    Attributes:
      name: the config's name (recorded in results).
      models: model specs (:mod:`amt_jax.models.registry`); the first one also gets the example cell.
      data: ``"synthetic"`` (planted models) or ``"NAME:SPLIT"`` (e.g. ``"chorales:test"``).
      n_clips: clips (model windows) every cell is measured on.
      clips_per_piece: None: clips evenly spaced over the split's non-silent windows (as many
        pieces as that reaches); m: ``n_clips / m`` pieces evenly spaced over the split, m windows
        each (synthetic data: pieces of m alike clips). The piece-level intervals are over pieces.
      seed: root PRNG seed of the sweep.
      families: the probe families to run (default: all of :data:`amt_jax.sweep.probes.FAMILIES`;
        ``edge_keys`` (probe tones on every key) and ``cross_method`` (explanation methods on the same
        groups) run only when named).
      harmonics: numbers of harmonics h; each gets a harmonic cell and its size-matched control.
      bands: random-spectral bands as half-open ranges of semitones (0 = the lowest key), in bins
        of the model's layout (``FrequencyLayout.semitone_range``), clipped to the model's axis;
        bands wholly outside it are skipped.
      n_permutations: draws of the harmonic, control, random-spectral and microtonal-all cells.
      n_permutations_semitone: draws of the microtonal-one cell (spread over all semitones).
      n_noise_samples: noise inputs of the edge-case (noise response) cell.
      noise_distributions: ``"flat"`` (one distribution for every bin, the seed's definition) and/or
        ``"per_bin"`` (each bin its own: carries the clips' spectrum), one noise cell each.
      noise_lags: the noise kernel over time lags −L..L (Basic Pitch sees about ±9 frames).
      chunk_size: draws per jitted call.
      example: save one example (X, πX of a harmonic draw, outputs) for the first model.
      stratified: grouped families draw one group for all clips in turn (draw i targets group
        i mod n: the key of the reliance and factorial cells among every sounding key, the seed
        harmonic fundamental among the sounding keys' bins, the microtonal semitone), each cell's
        draws rounded up to a multiple of its n groups (printed). False (default): each clip draws
        its own key among those sounding in it, by their frames (reliance, factorial), so every
        clip contributes on every draw; fundamentals by their keys' frames; semitones uniformly.
      mc_fraction: adaptive stopping (None: off): importance cells draw past their minimum, a chunk
        at a time, until the Monte Carlo SE is at most this fraction of the piece-level SE (e.g.
        0.25), or ``max_permutations_factor`` × the minimum; a control cell then draws exactly as
        many draws as its target did (a family and its control stop together).
      max_permutations_factor: cap of adaptive stopping, as a multiple of the minimum draws.
      claimed_mc_fraction: what the config's docstring claims of its draws: their Monte Carlo SE is
        at most this fraction of the piece-level SE; ``python -m amt_jax plan --workdir PILOT
        --config NAME`` checks it against a pilot (None: no claim).
      reliance_variants: extra reliance cells at the largest h: ``"width1"`` (only each partial's
        centre bin moves, not its semitone) and ``"attenuate"`` (the partials set to the clip's
        floor instead of swapped).
      questions: ``((name, (kind, ...)), ...)``: rows of these kinds form one question (per model)
        for Benjamini–Hochberg in the summary; other kinds form a question each.
      control_models: ``((spec, (family, ...)), ...)``: models run on the listed families only, e.g.
        ``("random:basic-pitch", ("harmonic_reliance",))``: what a finding also shows on a model with
        random weights is architecture, not learning.
    """

    name: str
    models: tuple[str, ...]
    data: str = "synthetic"
    n_clips: int = 4
    clips_per_piece: int | None = None
    seed: int = 0
    families: tuple[str, ...] | None = None
    harmonics: tuple[int, ...] = (2, 3, 4, 6, 8)
    bands: tuple[tuple[int, int], ...] = OCTAVE_BANDS
    n_permutations: int = 64
    n_permutations_semitone: int = 256
    n_noise_samples: int = 256
    noise_distributions: tuple[str, ...] = ("flat",)
    noise_lags: int = 0
    chunk_size: int = 32
    example: bool = True
    stratified: bool = False
    mc_fraction: float | None = None
    max_permutations_factor: int = 8
    claimed_mc_fraction: float | None = None
    reliance_variants: tuple[str, ...] = ()
    questions: tuple[tuple[str, tuple[str, ...]], ...] = ()
    control_models: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def __post_init__(self):
        if self.families is None:
            object.__setattr__(self, "families", FAMILIES)
        if not self.models:
            raise ValueError("models must name at least one model, got ()")
        for m, families in self.control_models:
            registry.check(m)
            for f in families:
                validate.one_of("control_models families", f, FAMILIES + OPT_IN_FAMILIES)
        for m in self.models:
            registry.check(m)
            if not registry.perturbable(m):
                raise ValueError(f"models: {m!r} has no features to perturb")
        for name in ("n_clips", "n_permutations", "n_permutations_semitone", "n_noise_samples", "chunk_size"):
            validate.positive_int(name, getattr(self, name))
        if self.clips_per_piece is not None:
            validate.positive_int("clips_per_piece", self.clips_per_piece)
            if self.n_clips % self.clips_per_piece:
                raise ValueError(f"n_clips={self.n_clips} must be a multiple of clips_per_piece, got {self.clips_per_piece}")
        for f in self.families:
            validate.one_of("families", f, FAMILIES + OPT_IN_FAMILIES)
        for h in self.harmonics:
            validate.positive_int("harmonics", h)
        for band in self.bands:
            if not (len(band) == 2 and 0 <= band[0] < band[1]):
                raise ValueError(f"bands must be semitone ranges (lo, hi) with 0 <= lo < hi, got {band!r}")
        if self.data != "synthetic" and ":" not in self.data:
            raise ValueError(f"data must be 'synthetic' or 'NAME:SPLIT', got {self.data!r}")
        if not self.harmonics and ("harmonic" in self.families or self.example):
            raise ValueError("harmonics must hold at least one h when the harmonic family or the example is on, got ()")
        if "noise" in self.families and self.n_noise_samples < 2:
            raise ValueError(f"n_noise_samples must be >= 2 for the noise cell, got {self.n_noise_samples}")
        for d in self.noise_distributions:
            validate.one_of("noise_distributions", d, ("flat", "per_bin"))
        if isinstance(self.noise_lags, bool) or not isinstance(self.noise_lags, int) or self.noise_lags < 0:
            raise ValueError(f"noise_lags must be an int >= 0, got {self.noise_lags!r}")
        if self.mc_fraction is not None:
            validate.positive("mc_fraction", self.mc_fraction)
            if self.stratified:
                raise ValueError("mc_fraction (adaptive stopping adds a chunk of draws at a time) cannot keep stratified "
                                 "draws balanced: set stratified=False or mc_fraction=None, got stratified=True")
        validate.positive_int("max_permutations_factor", self.max_permutations_factor)
        for v in self.reliance_variants:
            validate.one_of("reliance_variants", v, ("width1", "attenuate"))
        if self.claimed_mc_fraction is not None:
            validate.positive("claimed_mc_fraction", self.claimed_mc_fraction)
        for question in self.questions:
            if not (len(question) == 2 and isinstance(question[0], str) and all(k in KINDS for k in question[1])):
                raise ValueError(f"questions must be (name, (kind, ...)) pairs of probe kinds {sorted(KINDS)}, got {question!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (tuples as lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


def registered_configs() -> tuple[str, ...]:
    """Names of the sweep configs in ``experiments/configs/sweep/`` (:func:`amt_jax.configs.registered`)."""
    return configs.registered("sweep")


def load_config(name: str, overrides: Sequence[str] = ()) -> SweepConfig:
    """A registered sweep config (``tiny``, ``demo``, ``study``, ``paper``; ``experiments/configs/sweep/``)
    or a ``.py`` file defining ``get_config()``, with ``overrides`` (``FIELD=VALUE``, e.g.
    ``n_permutations=48``) applied (:func:`amt_jax.configs.load`)."""
    return configs.load("sweep", name, overrides, expected=SweepConfig)


def parse_shard(text: str, name: str = "shard") -> tuple[int, int]:
    """``"I/N"`` → ``(I, N)`` with ``0 <= I < N``; ``name`` names it in the error (a command: ``--shard``)."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not int(match.group(1)) < int(match.group(2)):
        raise ValueError(f"{name} must be I/N with 0 <= I < N (e.g. 0/4), got {text!r}")
    return int(match.group(1)), int(match.group(2))
