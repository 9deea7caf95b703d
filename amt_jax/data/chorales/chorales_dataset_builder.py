"""The ``chorales`` dataset: the Bach chorales of the music21 corpus (350 distinct), exported to MIDI,
cleaned to one voice per pitch and rendered offline with a General MIDI SoundFont.

Pieces are taken in a fixed order (SHA-1 of their corpus name), so ``n_pieces=N`` builds the
first N usable ones; each piece gets one program, cycling through :data:`PROGRAMS`, and its
split from its position ``i`` in that order: ``i % 10 == 0`` test, ``== 1`` validation, else
train, so all three splits hold a piece as soon as 3 are built and a piece keeps its split and
program whatever ``n_pieces`` is. Configs name the renderer (``tinysoundfont``, default, or
``fluidsynth``); one build per config and data directory (a new build replaces it).
"""

from __future__ import annotations

import hashlib
import os
import tempfile

import tensorflow_datasets as tfds

from amt_jax.data import render as render_lib
from amt_jax.data.builder import MIN_PIECES, TranscriptionBuilder
from amt_jax.data.examples import SPLITS, BadPiece, make_example, read_midi

from amt_jax.data.programs import PROGRAMS  # noqa: E402  (the programs pieces get in turn)


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
    from music21 import corpus

    try:
        score = corpus.parse(name)
        with tempfile.TemporaryDirectory(prefix="amt_jax_chorale_") as tmp:
            path = os.path.join(tmp, "piece.mid")
            score.write("midi", fp=path)
            return read_midi(path, name=name)
    except BadPiece:
        raise
    except Exception as exc:  # music21 raises many types on pieces it cannot export
        raise BadPiece(f"music21 could not export {name} ({type(exc).__name__}: {exc})") from None


class ChoralesConfig(tfds.core.BuilderConfig):
    """``renderer``: one of ``amt_jax.data.render.RENDERERS``."""

    def __init__(self, *, renderer: str, **kwargs):
        super().__init__(name=renderer, **kwargs)
        self.renderer = renderer


class Chorales(TranscriptionBuilder):
    """Bach chorales rendered with several General MIDI programs; audio, rolls and notes."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    BUILDER_CONFIGS = [
        ChoralesConfig(renderer="tinysoundfont", description="tinysoundfont with pretty_midi's TimGM6mb.sf2"),
        ChoralesConfig(renderer="fluidsynth", description="FluidSynth CLI (FluidR3_GM.sf2 when installed)"),
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

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download: the corpus ships with music21
        renderer = self.builder_config.renderer
        if renderer == "fluidsynth":
            render_lib.fluidsynth_program()  # fail before the slow export pass
        soundfont = self.soundfont or str(render_lib.default_soundfont(renderer))
        if not os.path.isfile(soundfont):
            raise FileNotFoundError(f"soundfont {soundfont} does not exist")
        names = chorale_names()
        wanted = len(names) if self.n_pieces is None else min(self.n_pieces, len(names))
        pieces = []
        for name in names:
            if len(pieces) == wanted:
                break
            try:
                notes = export_notes(name)
            except BadPiece as exc:
                self.skips.skip(name, str(exc))
                continue
            pieces.append((name.split("/")[-1], notes))
            self.progress(f"exported {len(pieces)}/{wanted} {name} ({len(notes)} notes, {notes.end_s:.1f} s)")
        if len(pieces) < MIN_PIECES:
            raise ValueError(
                f"chorales: only {len(pieces)} usable piece(s), need {MIN_PIECES}; skipped: {self.skips.summary()}"
            )
        by_split = {s: [] for s in SPLITS}
        for i, (piece_id, notes) in enumerate(pieces):
            by_split[split_of(i)].append((piece_id, notes, PROGRAMS[i % len(PROGRAMS)][0]))
        self.info.metadata.update(
            n_pieces=len(pieces), renderer=renderer, soundfont=os.path.basename(soundfont),
            programs={str(p): n for p, n in PROGRAMS}, sample_rate=render_lib.SAMPLE_RATE,
        )
        return {s: self._generate_examples(items, split=s, soundfont=soundfont) for s, items in by_split.items()}

    def _generate_examples(self, items, *, split: str, soundfont: str):
        for piece_id, notes, program in items:
            try:
                audio = render_lib.render(
                    notes, program=program, renderer=self.builder_config.renderer,
                    soundfont=soundfont, timeout_s=self.timeout_s,
                )
                example = make_example(piece_id=piece_id, audio=audio, notes=notes, program=program)
            except (BadPiece, render_lib.RenderError) as exc:
                self.skips.skip(piece_id, str(exc))
                continue
            self.counts[split] += 1
            self.progress(f"rendered {split} {piece_id} (program {program}, {audio.size / render_lib.SAMPLE_RATE:.1f} s)")
            yield piece_id, example
        self._check_split_not_empty(split)
