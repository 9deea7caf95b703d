"""The ``chorales`` dataset: the Bach chorales of the music21 corpus (350 distinct), exported to MIDI,
cleaned to one voice per pitch and rendered offline with a General MIDI SoundFont.

Pieces are taken in a fixed order (SHA-1 of their corpus name), so ``n_pieces=N`` builds the
first N usable ones; each piece gets one program, cycling through :data:`PROGRAMS`, and its
split from its position ``i`` in that order: ``i % 10 == 0`` test, ``== 1`` validation, else
train, so all three splits hold a piece as soon as 3 are built and a piece keeps its split and
program whatever ``n_pieces`` is. Configs name the renderer (``tinysoundfont``, default, or
``fluidsynth``); one build per config and data directory (a new build replaces it).

Mistuned configs (tinysoundfont) render the same pieces, splits, programs and notes with the
pitch bend of :mod:`amt_jax.data.tuning`, each voice (soprano, alto, tenor, bass: the MIDI track
music21 writes per part) on its own channel:

- ``detune10``, ``detune25``, ``detune50``: each voice a fixed ``+D`` or ``-D`` cents, the sign
  drawn per voice from the piece's id (the same signs for every ``D``);
- ``vibrato``: each voice a sinusoidal vibrato, rate uniform in 5-6 Hz, peak deviation uniform
  in 20-50 cents, phase uniform, drawn per voice from the piece's id.

Their labels stay on the nearest (written) key: ``frames``, ``onsets`` and ``notes`` are the
in-tune config's. Their examples add ``tuning``: ``voice`` and ``cents`` (the fixed offset) per
note, and per voice ``voice_cents``, ``vibrato_rate_hz``, ``vibrato_depth_cents`` and
``vibrato_phase`` (radians at t = 0 s of the piece); voice ``v`` deviates by
``voice_cents[v] + vibrato_depth_cents[v] * sin(2π vibrato_rate_hz[v] t + vibrato_phase[v])``
cents at ``t`` seconds. A note sung by two voices in unison (merged into one note) is played by
the lower-numbered voice.

The ``solo`` config (tinysoundfont, in tune) renders each voice of the same pieces alone: one
example per (piece, voice), id ``<piece>/<voice>``, with the voice's F0 per frame (``f0``) and its
part's name (``instruments``); see :mod:`amt_jax.data.chorales.solo`.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import multiprocessing
import os
import tempfile
import warnings
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import tensorflow_datasets as tfds

from amt_jax.data import render as render_lib
from amt_jax.data.chorales import solo as solo_lib
from amt_jax.data import tuning as tuning_lib
from amt_jax.data.builder import MIN_PIECES, TranscriptionBuilder
from amt_jax.data.examples import SPLITS, BadPiece, make_example, read_voiced_midi

from amt_jax.data.programs import PROGRAMS  # noqa: E402  (the programs pieces get in turn)
from amt_jax.io import usable_cpus


def chorale_names() -> list[str]:
    """Distinct music21 corpus names of the Bach chorales (e.g. ``bach/bwv269``) in build order.

    The 371 Riemenschneider numbers point to 350 distinct files (some chorales appear twice).
    """
    from music21 import corpus

    names = set(corpus.chorales.Iterator(returnType="filename"))
    return sorted(names, key=lambda n: hashlib.sha1(n.encode()).hexdigest())


def split_of(position: int) -> str:
    """Split of the piece at ``position`` in build order."""
    return {0: "test", 1: "validation"}.get(position % 10, "train")


def export_notes(name: str):
    """Parse corpus piece ``name`` with music21, write it as MIDI and read its notes back."""
    return export_voiced(name)[0]


def export_voiced(name: str):
    """:func:`export_notes` and each note's voice (``int32 [n_notes]``: the part's index in the score)."""
    from music21 import corpus

    try:
        score = corpus.parse(name)
        with tempfile.TemporaryDirectory(prefix="amt_jax_chorale_") as tmp:
            path = os.path.join(tmp, "piece.mid")
            score.write("midi", fp=path)
            return read_voiced_midi(path, name=name)
    except BadPiece:
        raise
    except Exception as exc:  # music21 raises many types on pieces it cannot export
        raise BadPiece(f"music21 could not export {name} ({type(exc).__name__}: {exc})") from None


PARALLEL_EXPORT_MIN_PIECES = 16  # fewer pieces are exported in this process (a worker takes ~1 s to start)
MAX_EXPORT_WORKERS = 8


def export_workers(n_pieces: int) -> int:
    """Processes exporting ``n_pieces`` pieces: 0 (this process) below :data:`PARALLEL_EXPORT_MIN_PIECES`,
    else the CPUs this process may use, at most :data:`MAX_EXPORT_WORKERS` and ``n_pieces``."""
    if n_pieces < PARALLEL_EXPORT_MIN_PIECES:
        return 0
    cpus = usable_cpus()
    return min(cpus, MAX_EXPORT_WORKERS, n_pieces) if cpus > 1 else 0


def export(kind: str, name: str):
    """``(notes, voice)`` of corpus piece ``name``: ``kind`` ``"notes"`` (voice None), ``"voiced"``
    (:func:`export_voiced`) or ``"solo"`` (the parts of :func:`~amt_jax.data.chorales.solo.export_parts`,
    voice None); ``BadPiece`` when it cannot be exported."""
    if kind == "solo":
        return solo_lib.export_parts(name), None
    return export_voiced(name) if kind == "voiced" else (export_notes(name), None)


def _export_or_bad(kind: str, name: str):
    try:
        return export(kind, name)
    except BadPiece as exc:  # returned, not raised: the caller logs it and goes on
        return exc


def exported_in_order(kind: str, names, *, workers: int = 0, pool=None):
    """Yield ``(name, (notes, voice) or BadPiece)`` for ``names`` in their order, each exported by
    :func:`export`. ``workers`` > 0: that many spawned processes export ahead (at most ``2·workers``
    pieces in flight; the music21 export is pure Python, most of a chorale build's time); closing
    the generator stops them. When the workers cannot start or die (``BrokenProcessPool``), the
    rest is exported here, in order, with a warning. The outcome does not depend on ``workers``.
    ``pool``: an executor to use instead of spawning one (tests)."""
    if workers <= 0:
        for name in names:
            yield name, _export_or_bad(kind, name)
        return
    # spawn, not fork: the caller may hold JAX's or TensorFlow's threads
    pool = pool or ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    pending, upcoming = collections.deque(), iter(names)
    broken: list[BaseException] = []

    def submit_next() -> bool:
        """Submit the next name; False when none is left or the pool broke (the name stays ahead)."""
        nonlocal upcoming
        name = next(upcoming, None)
        if name is None:
            return False
        try:
            pending.append((name, pool.submit(_export_or_bad, kind, name)))
            return True
        except BrokenProcessPool as exc:
            upcoming = itertools.chain([name], upcoming)
            broken.append(exc)
            return False

    try:
        while len(pending) < 2 * workers and submit_next():
            pass
        while pending and not broken:
            name, future = pending[0]
            try:
                outcome = future.result()
            except BrokenProcessPool as exc:  # e.g. a __main__ spawn cannot re-import (a script on stdin)
                broken.append(exc)
                break
            pending.popleft()
            submit_next()
            yield name, outcome
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if broken:
        warnings.warn(f"chorales: export workers failed ({broken[0]}); exporting in this process", stacklevel=2)
    for name in [n for n, _ in pending] + list(upcoming):  # after a broken pool: the rest, in order, here
        yield name, _export_or_bad(kind, name)


class ChoralesConfig(tfds.core.BuilderConfig):
    """``renderer``: one of ``amt_jax.data.render.RENDERERS``; ``name``: the renderer's unless
    mistuned; ``detune_cents``: each voice's fixed offset magnitude; ``vibrato``: per-voice vibrato;
    ``solo``: each voice rendered alone (see the module doc)."""

    def __init__(self, *, renderer: str, name: str | None = None, detune_cents: float = 0.0, vibrato: bool = False,
                 solo: bool = False, **kwargs):
        super().__init__(name=name or renderer, **kwargs)
        self.renderer = renderer
        self.detune_cents = float(detune_cents)
        self.vibrato = bool(vibrato)
        self.solo = bool(solo)

    @property
    def tuned(self) -> bool:
        return self.detune_cents > 0 or self.vibrato

    def draw(self, piece_id: str, n_voices: int) -> tuning_lib.Tuning:
        """The tuning piece ``piece_id`` gets in this config."""
        return tuning_lib.draw(piece_id, n_voices, detune_cents=self.detune_cents, vibrato=self.vibrato)


def _detune(cents: int) -> ChoralesConfig:
    return ChoralesConfig(
        name=f"detune{cents}", renderer="tinysoundfont", detune_cents=cents,
        description=f"tinysoundfont, each voice detuned by +-{cents} cents (sign per voice, drawn from the piece id)",
    )


class Chorales(TranscriptionBuilder):
    """Bach chorales rendered with several General MIDI programs; audio, rolls and notes."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {"1.0.0": "First release.", "1.1.0": "Audio, frames and onsets stored as raw bytes (same values)."}
    BUILDER_CONFIGS = [
        ChoralesConfig(renderer="tinysoundfont", description="tinysoundfont with pretty_midi's TimGM6mb.sf2"),
        ChoralesConfig(renderer="fluidsynth", description="FluidSynth CLI (FluidR3_GM.sf2 when installed)"),
        *(_detune(c) for c in tuning_lib.DETUNE_CENTS),
        ChoralesConfig(
            name="vibrato", renderer="tinysoundfont", vibrato=True,
            description=(
                f"tinysoundfont, each voice with vibrato: rate {tuning_lib.VIBRATO_RATE_HZ[0]:g}-"
                f"{tuning_lib.VIBRATO_RATE_HZ[1]:g} Hz, peak deviation {tuning_lib.VIBRATO_DEPTH_CENTS[0]:g}-"
                f"{tuning_lib.VIBRATO_DEPTH_CENTS[1]:g} cents (per voice, drawn from the piece id)"
            ),
        ),
        ChoralesConfig(
            name="solo", renderer="tinysoundfont", solo=True,
            description="tinysoundfont, each voice rendered alone (one example per piece and voice, with its F0)",
        ),
    ]

    HOMEPAGE = "https://web.mit.edu/music21/"

    def __init__(
        self,
        *,
        soundfont: str | None = None,
        timeout_s: float = render_lib.TIMEOUT_S,
        **kwargs,
    ):
        """``soundfont``: overrides the config's default; ``timeout_s``: wall-clock bound per
        render; ``n_pieces`` and ``progress``: see :class:`TranscriptionBuilder`."""
        super().__init__(**kwargs)
        self.soundfont = soundfont
        self.timeout_s = timeout_s

    @property
    def RECORDED(self) -> bool:  # noqa: N802 (the base class's flag): solo examples carry F0 and voice names
        return self.builder_config.solo

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download: the corpus ships with music21
        renderer = self.builder_config.renderer
        if renderer == "fluidsynth":
            render_lib.fluidsynth_program()  # fail before the slow export pass
        soundfont = self.soundfont or str(render_lib.default_soundfont(renderer))
        if not os.path.isfile(soundfont):
            raise FileNotFoundError(f"soundfont {soundfont} does not exist")
        tuned = self.builder_config.tuned
        kind = "solo" if self.builder_config.solo else "voiced" if tuned else "notes"
        names = chorale_names()
        wanted = len(names) if self.n_pieces is None else min(self.n_pieces, len(names))
        pieces = []
        exports = exported_in_order(kind, names, workers=export_workers(wanted))
        try:
            for name, outcome in exports:
                if isinstance(outcome, BadPiece):
                    self.skips.skip(name, str(outcome))
                    continue
                notes, voice = outcome
                pieces.append((name.split("/")[-1], notes, voice))
                self.progress(f"exported {len(pieces)}/{wanted} {name} ({_describe(notes)})")
                if len(pieces) == wanted:
                    break
        finally:
            exports.close()  # stops the workers of pieces not needed
        if len(pieces) < MIN_PIECES:
            raise ValueError(
                f"chorales: only {len(pieces)} usable piece(s), need {MIN_PIECES}; skipped: {self.skips.summary()}"
            )
        by_split = {s: [] for s in SPLITS}
        for i, (piece_id, notes, voice) in enumerate(pieces):
            by_split[split_of(i)].append((piece_id, notes, voice, PROGRAMS[i % len(PROGRAMS)][0]))
        self.info.metadata.update(
            n_pieces=len(pieces), renderer=renderer, soundfont=os.path.basename(soundfont),
            programs={str(p): n for p, n in PROGRAMS}, sample_rate=render_lib.SAMPLE_RATE,
        )
        if tuned:
            self.info.metadata.update(tuning={
                "detune_cents": self.builder_config.detune_cents,
                "vibrato": self.builder_config.vibrato,
                "vibrato_rate_hz": list(tuning_lib.VIBRATO_RATE_HZ) if self.builder_config.vibrato else None,
                "vibrato_depth_cents": list(tuning_lib.VIBRATO_DEPTH_CENTS) if self.builder_config.vibrato else None,
                "bend_range_semitones": tuning_lib.BEND_RANGE_SEMITONES,
                "bend_block_samples": tuning_lib.BEND_BLOCK if self.builder_config.vibrato else None,
                "seed": "SHA-256 of the piece id (amt_jax.data.tuning.piece_rng)",
                "labels": "nearest key (the in-tune config's notes and rolls)",
            })
        return {s: self._generate_examples(items, split=s, soundfont=soundfont) for s, items in by_split.items()}

    def _generate_examples(self, items, *, split: str, soundfont: str):
        config = self.builder_config
        for piece_id, notes, voice, program in items:
            if config.solo:
                yield from self._solo_examples(piece_id, notes, program, split=split, soundfont=soundfont)
                continue
            try:
                tuning = None
                if config.tuned:
                    n_voices = int(voice.max()) + 1
                    if n_voices > tuning_lib.MAX_VOICES:
                        raise BadPiece(f"{piece_id}: {n_voices} voices, more than {tuning_lib.MAX_VOICES} MIDI channels")
                    tuning = config.draw(piece_id, n_voices)
                audio = render_lib.render(
                    notes, program=program, renderer=config.renderer,
                    soundfont=soundfont, timeout_s=self.timeout_s,
                    **({} if tuning is None else {"voice": voice, "tuning": tuning}),
                )
                example = make_example(
                    piece_id=piece_id, audio=audio, notes=notes, program=program,
                    **({} if tuning is None else {"voice": voice, "tuning": tuning}),
                )
            except (BadPiece, render_lib.RenderError) as exc:
                self.skips.skip(piece_id, str(exc))
                continue
            self.counts[split] += 1
            self.progress(f"rendered {split} {piece_id} (program {program}, {audio.size / render_lib.SAMPLE_RATE:.1f} s)")
            yield piece_id, example
        self._check_split_not_empty(split)

    def _solo_examples(self, piece_id: str, parts, program: int, *, split: str, soundfont: str):
        """One example per voice of the piece (a voice that cannot be rendered or labelled is skipped)."""
        for voice, (name, notes) in enumerate(parts):
            key = f"{piece_id}/{voice}"
            try:
                audio = render_lib.render(notes, program=program, renderer="tinysoundfont", soundfont=soundfont,
                                          timeout_s=self.timeout_s)
                example = solo_lib.solo_example(piece_id, voice, name, notes, audio, program)
            except (BadPiece, render_lib.RenderError) as exc:
                self.skips.skip(key, str(exc))
                continue
            self.counts[split] += 1
            self.progress(f"rendered {split} {key} {name} (program {program}, {audio.size / render_lib.SAMPLE_RATE:.1f} s)")
            yield key, example


def _describe(notes) -> str:
    """A progress line's summary of an exported piece (its notes, or its voices' for ``solo``)."""
    if isinstance(notes, tuple):
        return f"{len(notes)} voices, {sum(len(n) for _, n in notes)} notes, {max(n.end_s for _, n in notes):.1f} s"
    return f"{len(notes)} notes, {notes.end_s:.1f} s"
